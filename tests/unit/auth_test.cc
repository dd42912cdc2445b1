// Authentication on a host-like server (handshake + token store + auth
// interceptor + EchoService), driven through the plugin client.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}

namespace {

constexpr const char *kApiKey = "0123456789abcdef-api-key";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    cp_token_store_options to;
    cp_token_store_options_init(&to);
    to.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
    ASSERT_EQ(0, cp_auth_create(&auth_));
  }

  void TearDown() override {
    for (cp_plugin_client *pc : clients_) {
      cp_plugin_client_destroy(pc);
    }
    cp_client_destroy(raw_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_handshake_service_destroy(hs_);
    cp_auth_destroy(auth_);
    cp_token_store_destroy(tokens_);
    echo_stats_destroy(stats_);
  }

  void Start() {
    cp_plugin_info echo;
    cp_plugin_info_from_desc(&echo, &cp_cplugintest__v1__echo_service__plugin);
    cp_handshake_service_options ho;
    cp_handshake_service_options_init(&ho);
    ho.tokens = tokens_;
    ho.plugins = &echo;
    ho.plugin_count = 1;
    ASSERT_EQ(0, cp_handshake_service_create(&hs_, &ho));
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, cp_handshake_service_register(hs_, server_));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    ASSERT_EQ(0, cp_auth_open_host_methods(auth_));
    ASSERT_EQ(0, cp_auth_register(auth_, server_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&raw_, target_.c_str(), nullptr));
  }

  // A connected plugin client; self_id asks for an identity.
  cp_plugin_client *Connect(const char *self_id) {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    o.endpoint = target_.c_str();
    o.self_id = self_id;
    const char *want[] = {"echo"};
    o.requested_plugins = want;
    o.requested_plugin_count = 1;
    cp_plugin_client *pc = nullptr;
    EXPECT_EQ(0, cp_plugin_client_create(&pc, &o));
    cp_status st;
    EXPECT_EQ(0, cp_plugin_client_connect(pc, &st)) << st.message;
    clients_.push_back(pc);
    return pc;
  }

  cp_client *Dispense(cp_plugin_client *pc) {
    cp_client *c = nullptr;
    EXPECT_EQ(0, cp_plugin_client_dispense(
                     pc, &cp_cplugintest__v1__echo_service__plugin, &c));
    return c;
  }

  // Echo with explicit metadata on the raw (unauthenticated) client.
  cp_status Echo(cp_client *c, const cp_metadata *md, size_t n,
                 std::string *identity = nullptr) {
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md;
    o.metadata_count = n;
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, &o, &st);
    if (resp != nullptr) {
      if (identity != nullptr) {
        *identity = resp->identity;
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  // Starts Count and reads to the end; returns the final status.
  cp_status Count(cp_client *c, const cp_metadata *md, size_t n) {
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md;
    o.metadata_count = n;
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = 2;
    cp_client_stream *s = nullptr;
    cp_status st;
    if (cp_cplugintest__v1__echo_service__count__start(c, &req, &o, &s, &st) !=
        0) {
      return st;
    }
    Cplugintest__V1__CountResponse *msg = nullptr;
    while (cp_cplugintest__v1__echo_service__count__next(s, &msg, &st) == 0) {
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    cp_client_stream_destroy(s);
    return st;
  }

  echo_stats *stats_ = nullptr;
  cp_token_store *tokens_ = nullptr;
  cp_auth *auth_ = nullptr;
  cp_handshake_service *hs_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *raw_ = nullptr;
  std::string target_;
  std::vector<cp_plugin_client *> clients_;
};

TEST_F(AuthTest, RuntimeTokenAuthenticatesUnaryAndStreamingCalls) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  Start();
  cp_plugin_client *pc = Connect("plugin-a");
  const char *id = cp_plugin_client_runtime_id(pc);
  ASSERT_NE(nullptr, id);
  std::string identity;
  cp_status st = Echo(Dispense(pc), nullptr, 0, &identity);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(std::string(id), identity);
  EXPECT_EQ(CP_STATUS_OK, Count(Dispense(pc), nullptr, 0).code);
}

TEST_F(AuthTest, MissingWrongAndRevokedCredentialsAreUnauthenticated) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  Start();
  cp_plugin_client *pc = Connect("plugin-a");
  std::string id = cp_plugin_client_runtime_id(pc);
  std::string bearer =
      std::string("Bearer ") + cp_plugin_client_runtime_token(pc);

  cp_status st = Echo(raw_, nullptr, 0);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ("authentication required", st.message);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Count(raw_, nullptr, 0).code);

  // A runtime ID alone, or with a wrong token, or an unknown ID with a
  // well-formed token: all the same answer.
  cp_metadata only_id[] = {{"x-plugin-runtime-id", id.c_str()}};
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, only_id, 1).code);
  std::string wrong = bearer;
  wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
  cp_metadata bad_token[] = {{"x-plugin-runtime-id", id.c_str()},
                             {"authorization", wrong.c_str()}};
  cp_status a = Echo(raw_, bad_token, 2);
  cp_metadata unknown_id[] = {
      {"x-plugin-runtime-id", "plugin-a-0123456789abcdef"},
      {"authorization", bearer.c_str()}};
  cp_status b = Echo(raw_, unknown_id, 2);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, a.code);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, b.code);
  EXPECT_STREQ(a.message, b.message);  // does not reveal whether the ID exists
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Count(raw_, bad_token, 2).code);

  cp_metadata good[] = {{"x-plugin-runtime-id", id.c_str()},
                        {"authorization", bearer.c_str()}};
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, good, 2).code);
  ASSERT_EQ(0, cp_token_store_revoke(tokens_, id.c_str()));
  cp_status revoked = Echo(raw_, good, 2);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, revoked.code);
  EXPECT_STREQ(a.message, revoked.message);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Count(raw_, good, 2).code);
  EXPECT_EQ(1, echo_stats_get(stats_, ECHO_CALLS));
  EXPECT_EQ(0, echo_stats_get(stats_, COUNT_CALLS));
}

TEST_F(AuthTest, AnotherPluginsTokenCannotBeBorrowed) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  Start();
  cp_plugin_client *a = Connect("plugin-a");
  cp_plugin_client *b = Connect("plugin-b");
  std::string bearer_b =
      std::string("Bearer ") + cp_plugin_client_runtime_token(b);
  cp_metadata spoof[] = {
      {"x-plugin-runtime-id", cp_plugin_client_runtime_id(a)},
      {"authorization", bearer_b.c_str()}};
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, spoof, 2).code);
}

TEST_F(AuthTest, HandshakeAndHealthStayOpen) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  Start();
  // Connect performs the handshake without credentials.
  cp_plugin_client *pc = Connect(nullptr);
  EXPECT_EQ(nullptr, cp_plugin_client_runtime_id(pc));
  // Without an identity, the protected method is refused.
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(Dispense(pc), nullptr, 0).code);
}

// OPTIONAL: valid credentials set the identity, wrong ones fail the call,
// none let it through without an identity. Handshake has this rule among
// the host methods, so an API key presented there is seen.
TEST_F(AuthTest, OptionalRuleAuthenticatesWhenCredentialsArePresent) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  ASSERT_EQ(0, cp_auth_add_api_key(auth_, kApiKey, "ci-robot"));
  ASSERT_EQ(0, cp_auth_set_rule(auth_, "/cplugintest.v1.EchoService/",
                                CP_AUTH_OPTIONAL));
  Start();
  std::string identity = "unset";
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, nullptr, 0, &identity).code);
  EXPECT_EQ("", identity);
  cp_metadata good[] = {{"x-api-key", kApiKey}};
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, good, 1, &identity).code);
  EXPECT_EQ("ci-robot", identity);
  cp_metadata bad[] = {{"x-api-key", "0123456789abcdef-api-kez"}};
  cp_status st = Echo(raw_, bad, 1);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ("authentication failed", st.message);

  // The handshake: a wrong key fails it, a good one passes.
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = target_.c_str();
  o.self_id = "robot";
  const char *want[] = {"echo"};
  o.requested_plugins = want;
  o.requested_plugin_count = 1;
  o.api_key = "0123456789abcdef-api-kez";
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  o.api_key = kApiKey;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  ASSERT_EQ(0, cp_plugin_client_connect(pc, &st)) << st.message;
  char principal[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(0, cp_token_store_principal(
                   tokens_, cp_plugin_client_runtime_id(pc), principal));
  EXPECT_STREQ("api-key:ci-robot", principal);
  // Later calls carry the runtime token, not the key.
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("hi");
  req.metadata_key = const_cast<char *>("x-api-key");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(
                   Dispense(pc), &req, &resp, nullptr, &st))
      << st.message;
  EXPECT_STREQ(cp_plugin_client_runtime_id(pc), resp->identity);
  EXPECT_STREQ("", resp->metadata_value);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
}

TEST_F(AuthTest, ApiKeys) {
  ASSERT_EQ(0, cp_auth_add_api_key(auth_, kApiKey, "ci-robot"));
  ASSERT_EQ(0, cp_auth_add_api_key(auth_, "another-key-0123456789", "ops"));
  EXPECT_EQ(CP_EINVAL, cp_auth_add_api_key(auth_, "short", "x"));
  Start();
  cp_metadata good[] = {{"x-api-key", kApiKey}};
  std::string identity;
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, good, 1, &identity).code);
  EXPECT_EQ("ci-robot", identity);
  cp_metadata second[] = {{"x-api-key", "another-key-0123456789"}};
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, second, 1, &identity).code);
  EXPECT_EQ("ops", identity);
  cp_metadata bad[] = {{"x-api-key", "0123456789abcdef-api-kez"}};
  cp_status st = Echo(raw_, bad, 1);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ("authentication failed", st.message);
  cp_metadata prefix[] = {{"x-api-key", "0123456789abcdef"}};
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, prefix, 1).code);
  EXPECT_EQ(CP_STATUS_OK, Count(raw_, good, 1).code);
}

struct Calls {
  std::atomic<int> n{0};
};

cp_auth_result TenantHeader(cp_call *call, void *user) {
  static_cast<Calls *>(user)->n++;
  cp_str v;
  if (!cp_call_metadata(call, "x-tenant", &v)) {
    return CP_AUTH_ABSENT;
  }
  if (std::string(v.ptr, v.len) != "acme") {
    return CP_AUTH_DENIED;
  }
  cp_call_set_identity(call, "tenant", "acme");
  cp_call_add_claim(call, "plan", "gold");
  return CP_AUTH_OK;
}

TEST_F(AuthTest, CompositionFirstProviderThatAuthenticatesWins) {
  Calls calls;
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  ASSERT_EQ(0, cp_auth_add_validator(auth_, "tenant", TenantHeader, &calls));
  ASSERT_EQ(0, cp_auth_add_api_key(auth_, kApiKey, "robot"));
  Start();
  // A bad runtime token does not stop a later provider from authenticating.
  cp_metadata md[] = {{"x-plugin-runtime-id", "x-0123456789abcdef"},
                      {"authorization", "Bearer nope"},
                      {"x-tenant", "acme"}};
  std::string identity;
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, md, 3, &identity).code);
  EXPECT_EQ("acme", identity);
  EXPECT_EQ(1, echo_stats_get(stats_, ECHO_CALLS));  // the handler ran once

  // The first success stops the chain: the API-key provider is not reached.
  cp_metadata both[] = {{"x-tenant", "acme"}, {"x-api-key", kApiKey}};
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, both, 2, &identity).code);
  EXPECT_EQ("acme", identity);
  EXPECT_EQ(2, echo_stats_get(stats_, ECHO_CALLS));

  cp_metadata api_only[] = {{"x-api-key", kApiKey}};
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, api_only, 1, &identity).code);
  EXPECT_EQ("robot", identity);

  cp_metadata wrong_tenant[] = {{"x-tenant", "evil"}};
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, wrong_tenant, 1).code);
  EXPECT_EQ(3, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(AuthTest, PerMethodRules) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  ASSERT_EQ(0, cp_auth_set_rule(auth_, "/cplugintest.v1.EchoService/Echo",
                                CP_AUTH_OPEN));
  EXPECT_EQ(CP_EINVAL, cp_auth_set_rule(auth_, "no-slash", CP_AUTH_OPEN));
  Start();
  EXPECT_EQ(CP_STATUS_OK, Echo(raw_, nullptr, 0).code);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Count(raw_, nullptr, 0).code);
}

TEST_F(AuthTest, ServicePrefixRuleAndOpenDefault) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  cp_auth_set_default(auth_, CP_AUTH_OPEN);
  ASSERT_EQ(0, cp_auth_set_rule(auth_, "/cplugintest.v1.EchoService/",
                                CP_AUTH_REQUIRED));
  ASSERT_EQ(0, cp_auth_set_rule(auth_, "/cplugintest.v1.EchoService/Count",
                                CP_AUTH_OPEN));
  Start();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, nullptr, 0).code);
  EXPECT_EQ(CP_STATUS_OK, Count(raw_, nullptr, 0).code);
}

// --- plugin client
// ------------------------------------------------------------

TEST_F(AuthTest, PluginClientReportsAMissingPluginByName) {
  Start();
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = target_.c_str();
  const char *want[] = {"echo", "kv"};
  o.requested_plugins = want;
  o.requested_plugin_count = 2;
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code);
  EXPECT_STREQ("requested plugin \"kv\" not available on server", st.message);
  cp_client *c = nullptr;
  EXPECT_EQ(CP_ESTATE, cp_plugin_client_dispense(
                           pc, &cp_cplugintest__v1__echo_service__plugin, &c));
}

TEST_F(AuthTest, PluginClientSurfacesServerRefusals) {
  Start();
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = target_.c_str();
  o.magic_cookie_key = "OTHER";
  o.magic_cookie_value = "x";
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);

  cp_plugin_client_options_init(&o);
  o.endpoint = target_.c_str();
  o.app_version = 7;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code);
  EXPECT_STREQ("version mismatch: client=7, server=1", st.message);
}

TEST_F(AuthTest, PluginClientCloseIsIdempotentAndFinal) {
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
  Start();
  cp_plugin_client *pc = Connect("p");
  cp_client *c = Dispense(pc);
  ASSERT_EQ(CP_STATUS_OK, Echo(c, nullptr, 0).code);
  EXPECT_EQ(1, cp_plugin_client_app_version(pc));
  EXPECT_STREQ("1.0.0", cp_plugin_client_plugin_version(pc, "echo"));
  cp_status st;
  EXPECT_EQ(CP_ESTATE, cp_plugin_client_connect(pc, &st));
  cp_plugin_client_close(pc);
  cp_plugin_client_close(pc);
  EXPECT_EQ(CP_STATUS_CANCELLED, Echo(c, nullptr, 0).code);
  cp_client *again = nullptr;
  EXPECT_EQ(CP_ECLOSED,
            cp_plugin_client_dispense(
                pc, &cp_cplugintest__v1__echo_service__plugin, &again));
  EXPECT_EQ(CP_ECLOSED, cp_plugin_client_connect(pc, &st));
  // A plugin the server never announced cannot be dispensed.
  cp_plugin_desc other = cp_cplugintest__v1__echo_service__plugin;
  other.name = "other";
  cp_plugin_client *pc2 = Connect("q");
  EXPECT_EQ(CP_ENOTFOUND, cp_plugin_client_dispense(pc2, &other, &again));
  other = cp_cplugintest__v1__echo_service__plugin;
  other.service_path = "/x.Y/";
  EXPECT_EQ(CP_ENOTFOUND, cp_plugin_client_dispense(pc2, &other, &again));
}

TEST(PluginClientOptions, BadOptions) {
  cp_plugin_client *pc = nullptr;
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  EXPECT_EQ(CP_EINVAL, cp_plugin_client_create(&pc, &o));  // no endpoint
  o.endpoint = "127.0.0.1:1";
  o.requested_plugin_count = 1;
  EXPECT_EQ(CP_EINVAL, cp_plugin_client_create(&pc, &o));
  o.requested_plugin_count = 0;
  o.app_version = -1;
  EXPECT_EQ(CP_EINVAL, cp_plugin_client_create(&pc, &o));
  o.app_version = 0;
  o.handshake_timeout_ms = 300;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));  // nothing listens
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  cp_plugin_client_destroy(pc);
  cp_plugin_client_destroy(nullptr);
}

}  // namespace
