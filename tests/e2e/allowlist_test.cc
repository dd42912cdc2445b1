// Allow-lists on authenticated identity, through a whole host (cp_host):
// the handshake records what authenticated it (an API key here; mTLS in
// tls_test.cc), the registry's allow-lists key on that principal, and a
// self_id is only ever a claim.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "handshake_call.h"
#include "plugin/v1/registry.cplugin.h"
}

namespace {

constexpr const char *kLoggerKey = "logger-secret-0123456789";
constexpr const char *kCacheKey = "cache-secret-0123456789";

class AllowListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_host_options_init(&opts_);
    opts_.tokens.sweep_interval_ms = 0;
    opts_.rate_limits = false; /* not what is tested here */
    opts_.metrics_address = nullptr;
    opts_.registry.require_allow_list = true;
  }

  void TearDown() override {
    for (cp_plugin_client *pc : clients_) {
      cp_plugin_client_destroy(pc);
    }
    cp_client_destroy(raw_);
    cp_host_destroy(host_);
  }

  void Start() {
    ASSERT_EQ(0, cp_host_create(&host_, &opts_));
    cp_auth *auth = cp_host_auth(host_);
    ASSERT_EQ(0, cp_auth_add_api_key(auth, kLoggerKey, "logger"));
    ASSERT_EQ(0, cp_auth_add_api_key(auth, kCacheKey, "cache"));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&raw_, target_.c_str(), nullptr));
  }

  cp_registry *Registry() { return cp_host_registry(host_); }

  // Handshakes as `self_id`, presenting `api_key` (nullptr: anonymous).
  // Returns the connected client, or nullptr with *st set.
  cp_plugin_client *Connect(const char *self_id, const char *api_key,
                            cp_status *st) {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    o.endpoint = target_.c_str();
    o.self_id = self_id;
    o.api_key = api_key;
    cp_plugin_client *pc = nullptr;
    EXPECT_EQ(0, cp_plugin_client_create(&pc, &o));
    clients_.push_back(pc);
    return cp_plugin_client_connect(pc, st) == 0 ? pc : nullptr;
  }

  cp_plugin_client *MustConnect(const char *self_id, const char *api_key) {
    cp_status st;
    cp_plugin_client *pc = Connect(self_id, api_key, &st);
    EXPECT_NE(nullptr, pc) << st.message;
    return pc;
  }

  static cp_status Register(cp_plugin_client *pc, const char *type) {
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type);
    req.version = const_cast<char *>("1.0.0");
    req.endpoint_path = const_cast<char *>("/svc.v1.Svc/");
    Connectplugin__V1__RegisterServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__register_service__call(
        cp_plugin_client_channel(pc), &req, &resp, nullptr, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  std::string Principal(cp_plugin_client *pc) {
    char out[CP_PRINCIPAL_MAX + 1];
    int rc = cp_token_store_principal(cp_host_tokens(host_),
                                      cp_plugin_client_runtime_id(pc), out);
    return rc == 0 ? std::string(out)
                   : "<" + std::string(cp_err_name(rc)) + ">";
  }

  // A raw Handshake with self_id and the given request metadata.
  cp_status RawHandshake(const char *self_id, const cp_metadata *md, size_t n,
                         std::string *runtime_id) {
    char id[CP_RUNTIME_ID_MAX + 1] = "";
    cp_status st = test_handshake(raw_, self_id, md, n, id, sizeof id);
    *runtime_id = id;
    return st;
  }

  cp_host_options opts_;
  cp_host *host_ = nullptr;
  cp_client *raw_ = nullptr;
  std::string target_;
  std::vector<cp_plugin_client *> clients_;
};

// The reported hole: an entry keyed by a self_id was granted to whoever
// claimed that self_id. Now the entry names the logger's API key, and an
// impostor that claims "logger" without it gets nothing.
TEST_F(AllowListTest, ClaimingAnotherPluginsSelfIdGrantsNothing) {
  Start();
  const char *logger_types[] = {"logger"};
  ASSERT_EQ(0,
            cp_registry_allow(Registry(), "api-key:logger", logger_types, 1));
  // The old form, a bare self_id, is refused rather than silently kept.
  EXPECT_EQ(CP_EINVAL,
            cp_registry_allow(Registry(), "logger", logger_types, 1));
  // So is a self_id key, unless the operator opted into trusting claims.
  EXPECT_EQ(CP_EDENIED,
            cp_registry_allow(Registry(), "self_id:logger", logger_types, 1));

  cp_plugin_client *logger = MustConnect("logger", kLoggerKey);
  cp_plugin_client *impostor = MustConnect("logger", nullptr);
  ASSERT_NE(nullptr, logger);
  ASSERT_NE(nullptr, impostor);
  EXPECT_EQ("api-key:logger", Principal(logger));
  EXPECT_EQ("", Principal(impostor));

  cp_status st = Register(impostor, "logger");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << st.message;
  st = Register(logger, "logger");
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;

  // An impostor holding another plugin's key is that plugin's principal,
  // with that plugin's list: the cache key does not open "logger".
  cp_plugin_client *cache_as_logger = MustConnect("logger", kCacheKey);
  ASSERT_NE(nullptr, cache_as_logger);
  st = Register(cache_as_logger, "logger");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << st.message;
  EXPECT_EQ("plugin " +
                std::string(cp_plugin_client_runtime_id(cache_as_logger)) +
                " not authorized to register service type logger: no "
                "allow-list entry for api-key:cache",
            st.message);
}

TEST_F(AllowListTest, ApiKeyHandshakeGetsItsKeysAllowList) {
  Start();
  const char *logger_types[] = {"logger", "audit"};
  const char *cache_types[] = {"cache"};
  ASSERT_EQ(0,
            cp_registry_allow(Registry(), "api-key:logger", logger_types, 2));
  ASSERT_EQ(0, cp_registry_allow(Registry(), "api-key:cache", cache_types, 1));

  // The self_id does not matter: the key does.
  cp_plugin_client *a = MustConnect("whatever-name", kLoggerKey);
  cp_plugin_client *b = MustConnect("cache", kCacheKey);
  ASSERT_NE(nullptr, a);
  ASSERT_NE(nullptr, b);
  EXPECT_EQ(CP_STATUS_OK, Register(a, "logger").code);
  EXPECT_EQ(CP_STATUS_OK, Register(a, "audit").code);
  cp_status st = Register(a, "cache");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  EXPECT_EQ("plugin " + std::string(cp_plugin_client_runtime_id(a)) +
                " not authorized to register service type cache",
            st.message);
  EXPECT_EQ(CP_STATUS_OK, Register(b, "cache").code);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(b, "logger").code);

  // A runtime-ID entry is more specific than the principal's.
  const char *extra[] = {"cache"};
  ASSERT_EQ(0, cp_registry_allow(Registry(), cp_plugin_client_runtime_id(a),
                                 extra, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(a, "cache").code);

  // Revocation forgets the principal with the identity.
  std::string id = cp_plugin_client_runtime_id(b);
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_), id.c_str()));
  char out[CP_PRINCIPAL_MAX + 1];
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_principal(cp_host_tokens(host_), id.c_str(), out));
}

TEST_F(AllowListTest, AnonymousHandshakeRegistersNothingWhenListsAreRequired) {
  Start();
  const char *any[] = {"*"};
  ASSERT_EQ(0, cp_registry_allow(Registry(), "api-key:logger", any, 1));
  cp_plugin_client *anon = MustConnect("logger", nullptr);
  ASSERT_NE(nullptr, anon);
  for (const char *type : {"logger", "cache", "anything"}) {
    cp_status st = Register(anon, type);
    EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << type;
    EXPECT_EQ("plugin " + std::string(cp_plugin_client_runtime_id(anon)) +
                  " not authorized to register service type " + type +
                  ": its handshake was not authenticated (no API key or "
                  "client certificate) and this registry requires an "
                  "allow-list entry",
              st.message);
  }
  // A runtime's token is not a principal: handshaking again with it gives
  // an anonymous identity, not the authenticated runtime's principal.
  cp_plugin_client *logger = MustConnect("logger", kLoggerKey);
  ASSERT_NE(nullptr, logger);
  std::string bearer =
      std::string("Bearer ") + cp_plugin_client_runtime_token(logger);
  cp_metadata md[] = {{CP_MD_RUNTIME_ID, cp_plugin_client_runtime_id(logger)},
                      {CP_MD_AUTHORIZATION, bearer.c_str()}};
  std::string child;
  cp_status st = RawHandshake("child", md, 2, &child);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  char out[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(
      0, cp_token_store_principal(cp_host_tokens(host_), child.c_str(), out));
  EXPECT_STREQ("", out);
}

// A plugin whose identity expired or was revoked may handshake again with
// its stale runtime token still attached: it gets a fresh anonymous
// identity, not UNAUTHENTICATED (a runtime token grants nothing here).
TEST_F(AllowListTest, AStaleRuntimeTokenOnHandshakeCountsAsNone) {
  Start();
  cp_plugin_client *old = MustConnect("logger", nullptr);
  ASSERT_NE(nullptr, old);
  std::string id = cp_plugin_client_runtime_id(old);
  std::string bearer =
      std::string("Bearer ") + cp_plugin_client_runtime_token(old);
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_), id.c_str()));
  cp_metadata md[] = {{CP_MD_RUNTIME_ID, id.c_str()},
                      {CP_MD_AUTHORIZATION, bearer.c_str()}};
  std::string fresh;
  cp_status st = RawHandshake("logger", md, 2, &fresh);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_NE(id, fresh);
  char out[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(
      0, cp_token_store_principal(cp_host_tokens(host_), fresh.c_str(), out));
  EXPECT_STREQ("", out);
}

TEST_F(AllowListTest, WrongApiKeyFailsTheHandshake) {
  Start();
  cp_status st;
  EXPECT_EQ(nullptr, Connect("logger", "not-the-key-0123456789", &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ("authentication failed", st.message);
}

TEST_F(AllowListTest, HandshakeCanRequireAPrincipal) {
  opts_.handshake.require_principal = true;
  Start();
  cp_status st;
  EXPECT_EQ(nullptr, Connect("logger", nullptr, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ(
      "runtime identities are issued only to authenticated handshakes: "
      "present an API key (x-api-key) or a client certificate",
      st.message);
  // Without self_id no identity is asked for: the handshake itself is open.
  EXPECT_NE(nullptr, MustConnect(nullptr, nullptr));
  cp_plugin_client *logger = MustConnect("logger", kLoggerKey);
  ASSERT_NE(nullptr, logger);
  EXPECT_EQ("api-key:logger", Principal(logger));
}

// The development default still lets an anonymous runtime register, and an
// operator may opt into self_id keys, knowing they are claims.
TEST_F(AllowListTest, SelfIdKeysAreAnExplicitOptIn) {
  opts_.registry.require_allow_list = false;
  opts_.registry.allow_self_id_keys = true;
  Start();
  cp_plugin_client *anon = MustConnect("free", nullptr);
  ASSERT_NE(nullptr, anon);
  EXPECT_EQ(CP_STATUS_OK, Register(anon, "anything").code);

  const char *logger_types[] = {"logger"};
  ASSERT_EQ(0,
            cp_registry_allow(Registry(), "self_id:Logger", logger_types, 1));
  cp_plugin_client *claims = MustConnect("LOGGER", nullptr);
  ASSERT_NE(nullptr, claims);
  EXPECT_EQ(CP_STATUS_OK, Register(claims, "logger").code);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(claims, "cache").code);
  // The principal's entry wins over the self_id's.
  const char *cache_types[] = {"cache"};
  ASSERT_EQ(0, cp_registry_allow(Registry(), "api-key:logger", cache_types, 1));
  cp_plugin_client *keyed = MustConnect("logger", kLoggerKey);
  ASSERT_NE(nullptr, keyed);
  EXPECT_EQ(CP_STATUS_OK, Register(keyed, "cache").code);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(keyed, "logger").code);
}

TEST_F(AllowListTest, KeysAreValidated) {
  Start();
  const char *any[] = {"*"};
  cp_registry *reg = Registry();
  EXPECT_EQ(0, cp_registry_allow(reg, "mtls:CN with spaces", any, 1));
  EXPECT_EQ(0, cp_registry_allow(reg, "kv-0123456789abcdef", any, 1));
  EXPECT_EQ(0, cp_registry_allow(reg, "spiffe:spiffe://x/y", any, 1));
  for (const char *bad :
       {"", "kv", ":x", "api-key:", "runtime-token:kv-0123456789abcdef",
        "api-key:a\nb", "kv-0123456789ABCDEG", "self_id:", "self_id:1x"}) {
    EXPECT_EQ(CP_EINVAL, cp_registry_allow(reg, bad, any, 1)) << bad;
  }
  EXPECT_EQ(CP_EINVAL,
            cp_registry_allow(reg, ("api-key:" + std::string(300, 'k')).c_str(),
                              any, 1));
}

}  // namespace
