// The capability broker through a real host on loopback: upstream's two
// broker tests as behaviour specs (a grant, then Log through it reaches the
// logger; an unknown capability is NOT_FOUND), then every refusal (wrong
// token, type, runtime, expired, revoked, malformed, cap reached,
// min_version, no runtime token), both call forms, the handshake's list,
// the metrics, and a slow capability that does not hold up another.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"
// protoc-c names a member of its KVService descriptor `delete`, a C++
// keyword; renaming the token for this file changes no layout.
#define delete delete_
#include "kv/v1/kv.cplugin.h"
#include "kv_store.h"
#undef delete
#include "plugin/v1/broker.cplugin.h"
#include "plugin/v1/handshake.cplugin.h"
}
#include "wait.h"

namespace {

// Every line the host logs.
struct LogLines {
  std::mutex mu;
  std::vector<std::string> lines;
  static void Sink(const char *line, size_t len, void *user) {
    auto *l = static_cast<LogLines *>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->lines.emplace_back(line, len);
  }
  bool Has(const std::string &a, const std::string &b = "") {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto &l : lines) {
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

// A capability whose Get blocks until released (the KV service's shape).
struct Slow {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
};

cp_status_code SlowGet(cp_call *, const Kv__V1__GetRequest *,
                       Kv__V1__GetResponse *, void *user) {
  auto *s = static_cast<Slow *>(user);
  std::unique_lock<std::mutex> lock(s->mu);
  s->entered = true;
  s->cv.notify_all();
  s->cv.wait(lock, [&] { return s->released; });
  return CP_STATUS_OK;
}

int RegisterSlow(cp_server *server, void *user) {
  cp_kv__v1__kvservice__handlers h;
  memset(&h, 0, sizeof h);
  h.on_get = SlowGet;
  return cp_kv__v1__kvservice__register(server, &h, user);
}

struct Identity {
  std::string id, token;
};

struct Grant {
  cp_status status;
  std::string id, token, endpoint, type, version;
};

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_log_set_sink(LogLines::Sink, &log_);
    cp_manual_clock_init(&clock_, 1000000000000LL);
  }

  void TearDown() override {
    for (cp_client *c : {client_}) {
      cp_client_destroy(c);
    }
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
    cp_log_set_sink(nullptr, nullptr);
  }

  void Start(size_t per_runtime = 16) {
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    o.broker.clock = &clock_.clock;
    o.broker.max_grants_per_runtime = per_runtime;
    slow_cap_.type = "slow";
    slow_cap_.version = "0.3.0";
    slow_cap_.register_services = RegisterSlow;
    slow_cap_.user = &slow_;
    // A capability a plugin provides through the registry.
    caps_[0] = slow_cap_;
    caps_[1].type = "audit";
    caps_[1].version = "1.0.0";
    o.capabilities = caps_;
    o.capability_count = 2;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    ASSERT_EQ(0, cp_auth_add_api_key(cp_host_auth(host_),
                                     "an-operator-key-0123456789", "op"));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    address_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, address_.c_str(), nullptr));
    cp_call_options_init(&opts_);
    opts_.timeout_ms = 30000;
  }

  // A runtime identity from a handshake; `hs` receives the response's
  // capabilities as "type version endpoint;".
  Identity Join(const char *self_id, std::string *hs = nullptr) {
    Connectplugin__V1__HandshakeRequest req =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
    req.core_protocol_version = CP_CORE_PROTOCOL_VERSION;
    req.app_protocol_version = 1;
    req.magic_cookie_key = const_cast<char *>(CP_MAGIC_COOKIE_KEY);
    req.magic_cookie_value = const_cast<char *>(CP_MAGIC_COOKIE_VALUE);
    req.self_id = const_cast<char *>(self_id);
    Connectplugin__V1__HandshakeResponse *resp = nullptr;
    cp_status st;
    Identity out;
    EXPECT_EQ(0, cp_connectplugin__v1__handshake_service__handshake__call(
                     client_, &req, &resp, &opts_, &st))
        << st.message;
    if (resp != nullptr) {
      out.id = resp->runtime_id;
      out.token = resp->runtime_token;
      for (size_t i = 0; hs != nullptr && i < resp->n_host_capabilities; i++) {
        const Connectplugin__V1__Capability *c = resp->host_capabilities[i];
        *hs +=
            std::string(c->type) + " " + c->version + " " + c->endpoint + ";";
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return out;
  }

  Grant Request(const Identity &who, const char *type,
                const char *min_version = "") {
    std::string bearer = "Bearer " + who.token;
    cp_metadata md[] = {{CP_MD_RUNTIME_ID, who.id.c_str()},
                        {CP_MD_AUTHORIZATION, bearer.c_str()}};
    cp_call_options o = opts_;
    o.metadata = md;
    o.metadata_count = who.id.empty() ? 0 : 2;
    Connectplugin__V1__RequestCapabilityRequest req =
        CONNECTPLUGIN__V1__REQUEST_CAPABILITY_REQUEST__INIT;
    req.capability_type = const_cast<char *>(type);
    req.min_version = const_cast<char *>(min_version);
    req.reason = const_cast<char *>("tests");
    Connectplugin__V1__RequestCapabilityResponse *resp = nullptr;
    Grant g;
    cp_connectplugin__v1__capability_broker__request_capability__call(
        client_, &req, &resp, &o, &g.status);
    if (resp != nullptr) {
      if (resp->grant != nullptr) {
        g.id = resp->grant->grant_id;
        g.token = resp->grant->bearer_token;
        g.endpoint = resp->grant->endpoint_url;
        g.type = resp->grant->capability_type;
        g.version = resp->grant->version;
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return g;
  }

  // Log through a grant: the path form at `path` (empty: the metadata form
  // with type `type`), as runtime `runtime_id` with bearer `token`.
  cp_status Log(const std::string &path, const std::string &runtime_id,
                const std::string &token, const std::string &grant_id = "",
                const std::string &type = "logger",
                const char *message = "test message") {
    cp_method_desc m = cp_capability__logger__v1__logger__log__method;
    if (!path.empty()) {
      m.path = path.c_str();
    }
    std::string bearer = "Bearer " + token;
    std::vector<cp_metadata> md = {{CP_MD_RUNTIME_ID, runtime_id.c_str()},
                                   {CP_MD_AUTHORIZATION, bearer.c_str()}};
    if (path.empty()) {
      md.push_back({CP_MD_CAPABILITY_GRANT, grant_id.c_str()});
      md.push_back({CP_MD_CAPABILITY_TYPE, type.c_str()});
    }
    cp_call_options o = opts_;
    o.metadata = md.data();
    o.metadata_count = md.size();
    Capability__Logger__V1__LogRequest req =
        CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
    req.level = const_cast<char *>("warn");
    req.message = const_cast<char *>(message);
    Capability__Logger__V1__LogRequest__FieldsEntry f =
        CAPABILITY__LOGGER__V1__LOG_REQUEST__FIELDS_ENTRY__INIT;
    f.key = const_cast<char *>("key");
    f.value = const_cast<char *>("k1");
    Capability__Logger__V1__LogRequest__FieldsEntry *fields[] = {&f};
    req.fields = fields;
    req.n_fields = 1;
    ProtobufCMessage *resp = nullptr;
    cp_status st;
    cp_client_unary(client_, &m, &req.base, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return st;
  }

  cp_status LogVia(const Grant &g, const Identity &who,
                   const char *message = "test message") {
    return Log(g.endpoint + "/capability.logger.v1.Logger/Log", who.id, g.token,
               "", "logger", message);
  }

  std::string Metrics() {
    char *text = nullptr;
    size_t len = 0;
    std::string out;
    if (cp_metrics_render(cp_host_metrics(host_), &text, &len) == 0) {
      out.assign(text, len);
      cp_metric_text_free(text);
    }
    return out;
  }

  LogLines log_;
  cp_manual_clock clock_;
  Slow slow_;
  cp_capability slow_cap_{};
  cp_capability caps_[2]{};
  cp_host *host_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
  std::string address_;
};

// upstream: TestCapabilityBroker_RequestCapability.
TEST_F(BrokerTest, AGrantLetsItsRuntimeLogThroughTheHost) {
  Start();
  std::string offered;
  Identity kv = Join("kv", &offered);
  EXPECT_EQ(
      "audit 1.0.0 /capabilities/audit;logger 1.0.0 /capabilities/logger;"
      "slow 0.3.0 /capabilities/slow;",
      offered);
  Grant g = Request(kv, "logger");
  ASSERT_EQ(CP_STATUS_OK, g.status.code) << g.status.message;
  EXPECT_EQ("logger", g.type);
  EXPECT_EQ("1.0.0", g.version);
  EXPECT_EQ(24u, g.id.size());
  EXPECT_EQ(44u, g.token.size());
  EXPECT_NE(kv.token, g.token);
  EXPECT_EQ("/capabilities/logger/" + g.id, g.endpoint);

  cp_status st = LogVia(g, kv);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(log_.Has("[WARN] test message", "runtime_id=" + kv.id));
  EXPECT_TRUE(log_.Has("test message", "key=k1"));
  // The metadata form, as generated stubs send it.
  st = Log("", kv.id, g.token, g.id, "logger", "metadata form");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(log_.Has("metadata form", "runtime_id=" + kv.id));
  // Control characters in what a plugin logs never reach the log raw.
  st = LogVia(g, kv, "line\nbreak\x1b[31m");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(log_.Has("line?break?[31m"));

  std::string m = Metrics();
  EXPECT_NE(std::string::npos,
            m.find("cplugin_capability_grants_issued_total 1"));
  EXPECT_NE(std::string::npos, m.find("cplugin_capability_grants_live 1"));
}

// upstream: TestCapabilityBroker_UnknownCapability; and min_version.
TEST_F(BrokerTest, UnknownOrTooOldCapabilitiesAreNotFound) {
  Start();
  Identity kv = Join("kv");
  Grant g = Request(kv, "secrets");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, g.status.code);
  EXPECT_NE(nullptr, strstr(g.status.message, "\"secrets\" not available"));
  EXPECT_NE(nullptr,
            strstr(g.status.message, "audit 1.0.0, logger 1.0.0, slow 0.3.0"))
      << g.status.message;
  g = Request(kv, "logger", "1.1.0");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, g.status.code);
  EXPECT_NE(nullptr, strstr(g.status.message, "below min_version 1.1.0"))
      << g.status.message;
  EXPECT_EQ(CP_STATUS_OK, Request(kv, "logger", "1.0.0").status.code);
  EXPECT_EQ(CP_STATUS_OK, Request(kv, "logger", "1.0.0-rc.1").status.code);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            Request(kv, "logger", "one").status.code);
  EXPECT_NE(std::string::npos,
            Metrics().find(
                "cplugin_capability_grants_refused_total{reason=\"not_found\"} "
                "2"));
}

TEST_F(BrokerTest, OnlyARuntimeTokenMayRequest) {
  Start();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Request({}, "logger").status.code);
  cp_metadata key[] = {{CP_MD_API_KEY, "an-operator-key-0123456789"}};
  cp_call_options o = opts_;
  o.metadata = key;
  o.metadata_count = 1;
  Connectplugin__V1__RequestCapabilityRequest req =
      CONNECTPLUGIN__V1__REQUEST_CAPABILITY_REQUEST__INIT;
  req.capability_type = const_cast<char *>("logger");
  Connectplugin__V1__RequestCapabilityResponse *resp = nullptr;
  cp_status st;
  EXPECT_NE(0,
            cp_connectplugin__v1__capability_broker__request_capability__call(
                client_, &req, &resp, &o, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_NE(nullptr, strstr(st.message, "runtime token")) << st.message;
}

// Each wrong part is refused the same way, and none of them spends the
// grant.
TEST_F(BrokerTest, EveryWrongPartIsUnauthenticatedAlike) {
  Start();
  Identity kv = Join("kv");
  Identity other = Join("other");
  Grant g = Request(kv, "logger");
  ASSERT_EQ(CP_STATUS_OK, g.status.code);
  std::string method = "/capability.logger.v1.Logger/Log";
  std::string wrong_token = g.token;
  wrong_token[5] = wrong_token[5] == 'A' ? 'B' : 'A';
  std::vector<cp_status> refused = {
      Log(g.endpoint + method, kv.id, wrong_token),
      Log(g.endpoint + method, kv.id, kv.token),  // the runtime token
      Log(g.endpoint + method, other.id, g.token),
      Log("/capabilities/slow/" + g.id + method, kv.id, g.token),
      Log("/capabilities/logger/AAAAAAAAAAAAAAAAAAAAAA==" + method, kv.id,
          g.token),
      Log("/capabilities/logger/" + g.id, kv.id, g.token),
      Log("/capabilities/logger/" + g.id + "/", kv.id, g.token),
      Log("", kv.id, g.token, g.id, "slow"),
      Log("", kv.id, g.token, "", "logger"),
      // A grant is no credential for the host's own services.
      Log("/connectplugin.v1.PluginLifecycle/ReportHealth", kv.id, g.token,
          g.id, "logger"),
  };
  for (size_t i = 0; i < refused.size(); i++) {
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, refused[i].code)
        << i << ": " << refused[i].message;
    EXPECT_STREQ("authentication failed", refused[i].message) << i;
  }
  EXPECT_FALSE(log_.Has("test message"));
  // Still good for its own runtime.
  EXPECT_EQ(CP_STATUS_OK, LogVia(g, kv).code);
  // Without a grant the logger's own path is not reachable at all.
  cp_status st = Log(method.c_str(), kv.id, kv.token);
  EXPECT_NE(CP_STATUS_OK, st.code);
  EXPECT_NE(std::string::npos,
            Metrics().find("cplugin_capability_grants_refused_total{reason="
                           "\"unauthenticated\"} 9"))
      << Metrics();
}

TEST_F(BrokerTest, GrantsEndAtTheirExpiryAndWithTheirRuntime) {
  Start();
  Identity kv = Join("kv");
  Identity other = Join("other");
  Grant g = Request(kv, "logger");
  Grant h = Request(other, "logger");
  ASSERT_EQ(CP_STATUS_OK, LogVia(g, kv).code);
  // One hour later (the default TTL) the grant is gone.
  cp_manual_clock_advance(&clock_, 3600LL * 1000000000 - 1);
  EXPECT_EQ(CP_STATUS_OK, LogVia(g, kv).code);
  cp_manual_clock_advance(&clock_, 1);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, LogVia(g, kv).code);
  EXPECT_NE(std::string::npos,
            Metrics().find("cplugin_capability_grants_expired_total 1"))
      << Metrics();
  // A revoked identity takes its grants along at once.
  cp_manual_clock_set(&clock_, 1000000000000LL);
  g = Request(kv, "logger");
  h = Request(other, "logger");
  ASSERT_EQ(CP_STATUS_OK, LogVia(g, kv).code);
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_), kv.id.c_str()));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, LogVia(g, kv).code);
  EXPECT_EQ(CP_STATUS_OK, LogVia(h, other).code);
  EXPECT_NE(std::string::npos,
            Metrics().find("cplugin_capability_grants_revoked_total 1"));
}

TEST_F(BrokerTest, GrantsAreCappedPerRuntime) {
  Start(2);
  Identity kv = Join("kv");
  EXPECT_EQ(CP_STATUS_OK, Request(kv, "logger").status.code);
  EXPECT_EQ(CP_STATUS_OK, Request(kv, "slow").status.code);
  Grant g = Request(kv, "logger");
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, g.status.code);
  EXPECT_NE(nullptr, strstr(g.status.message, "this runtime"))
      << g.status.message;
  EXPECT_EQ(CP_STATUS_OK, Request(Join("other"), "logger").status.code);
  // Expired grants make room.
  cp_manual_clock_advance(&clock_, 3600LL * 1000000000);
  EXPECT_EQ(CP_STATUS_OK, Request(kv, "logger").status.code);
}

// The plugin side: cp_plugin_runtime_capability asks for the grant with the
// runtime's identity, and the generated stub's calls carry it; a refused
// grant is replaced at the next call, and so is one issued to an identity
// the runtime no longer has.
TEST_F(BrokerTest, APluginRuntimeGetsATypedClientThatCarriesTheGrant) {
  Start();
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.host_url = address_.c_str();
  o.self_id = "kv";
  o.heartbeat_interval_ms = 100;
  o.backoff_initial_ms = 10;
  cp_plugin_runtime *rt = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_plugin_runtime_start(&rt, &o, &st)) << st.message;
  std::string first_id = cp_plugin_runtime_id(rt);

  cp_client *logger = nullptr;
  ASSERT_EQ(0,
            cp_plugin_runtime_capability(rt, "logger", "1.0.0", &logger, &st))
      << st.message;
  cp_client *again = nullptr;
  EXPECT_EQ(
      0, cp_plugin_runtime_capability(rt, "logger", nullptr, &again, nullptr));
  EXPECT_EQ(logger, again);
  cp_client *none = nullptr;
  EXPECT_EQ(CP_ENOTFOUND,
            cp_plugin_runtime_capability(rt, "secrets", nullptr, &none, &st));
  EXPECT_EQ(nullptr, none);
  EXPECT_NE(nullptr, strstr(st.message, "logger 1.0.0")) << st.message;
  EXPECT_EQ(CP_ENOTFOUND,
            cp_plugin_runtime_capability(rt, "slow", "1.0.0", &none, &st));

  auto log = [&](const char *message) {
    Capability__Logger__V1__LogRequest req =
        CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
    req.level = const_cast<char *>("info");
    req.message = const_cast<char *>(message);
    Capability__Logger__V1__LogResponse *resp = nullptr;
    cp_status s;
    cp_capability__logger__v1__logger__log__call(logger, &req, &resp, &opts_,
                                                 &s);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return s;
  };
  st = log("from the runtime");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(log_.Has("from the runtime", "runtime_id=" + first_id));

  // The grant expires on the host's clock (the runtime does not know it):
  // that call is refused, the next one asks again.
  cp_manual_clock_advance(&clock_, 3600LL * 1000000000);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, log("expired").code);
  st = log("with a new grant");
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;

  // The identity revoked: the runtime recovers under a new one, and the
  // client asks for a grant for it before its next call.
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_), first_id.c_str()));
  ASSERT_TRUE(
      cp_test::WaitFor("the runtime to rejoin under a new identity", [&] {
        const char *id = cp_plugin_runtime_id(rt);
        return id != nullptr && first_id != id;
      }));
  std::string second_id = cp_plugin_runtime_id(rt);
  st = log("after recovery");
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(log_.Has("after recovery", "runtime_id=" + second_id));
  cp_plugin_runtime_destroy(rt);
}

// A capability a plugin provides: the grant is the host's, the call goes
// through the router to the provider registered for the type, which sees
// the grant's runtime as the caller.
TEST_F(BrokerTest, ACapabilityAPluginProvidesIsReachedThroughTheRouter) {
  Start();
  Identity kv = Join("kv");
  Grant g = Request(kv, "audit");
  ASSERT_EQ(CP_STATUS_OK, g.status.code) << g.status.message;
  std::string bearer = "Bearer " + g.token;
  std::string path = g.endpoint + "/kv.v1.KVService/Put";
  cp_method_desc m = cp_kv__v1__kvservice__put__method;
  m.path = path.c_str();
  cp_metadata md[] = {{CP_MD_RUNTIME_ID, kv.id.c_str()},
                      {CP_MD_AUTHORIZATION, bearer.c_str()}};
  cp_call_options o = opts_;
  o.metadata = md;
  o.metadata_count = 2;
  Kv__V1__PutRequest req = KV__V1__PUT_REQUEST__INIT;
  req.key = const_cast<char *>("entry");
  auto put = [&] {
    ProtobufCMessage *resp = nullptr;
    cp_status st;
    cp_client_unary(client_, &m, &req.base, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return st;
  };
  // Nobody provides it yet.
  EXPECT_EQ(CP_STATUS_NOT_FOUND, put().code);

  // The provider: a KV store on loopback, registered for "audit".
  kv_store *store = kv_store_create(nullptr);
  ASSERT_NE(nullptr, store);
  cp_server *provider = nullptr;
  cp_server_options so;
  cp_server_options_init(&so);
  ASSERT_EQ(0, cp_server_create(&provider, &so));
  cp_kv__v1__kvservice__handlers h;
  kv_store_handlers(&h);
  ASSERT_EQ(0, cp_kv__v1__kvservice__register(provider, &h, store));
  static std::string seen_caller;
  auto record_caller = [](cp_call *call, void *) {
    cp_str v;
    if (cp_call_metadata(call, CP_MD_CALLER_ID, &v)) {
      seen_caller.assign(v.ptr, v.len);
    }
    return CP_STATUS_OK;
  };
  ASSERT_EQ(0, cp_server_add_interceptor(provider, CP_PHASE_APPLICATION,
                                         record_caller, nullptr));
  int port = 0;
  ASSERT_EQ(0, cp_server_listen(provider, "127.0.0.1:0", &port));
  ASSERT_EQ(0, cp_server_start(provider));
  std::string base = "127.0.0.1:" + std::to_string(port);
  cp_metadata reg_md[] = {{"base_url", base.c_str()}};
  cp_registry_service svc = {"audit", "1.0.0", "/kv.v1.KVService/", reg_md, 1};
  ASSERT_EQ(0, cp_registry_register_as_host(cp_host_registry(host_),
                                            "audit-provider", &svc, nullptr));
  cp_status st = put();
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(kv.id, seen_caller);
  // The grant still decides: another runtime with it is refused.
  Identity other = Join("other");
  md[0].value = other.id.c_str();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, put().code);
  md[0].value = kv.id.c_str();
  // Outside the provider's endpoint path: refused by the router's rules.
  std::string outside = g.endpoint + "/other.v1.Svc/Put";
  m.path = outside.c_str();
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, put().code);
  cp_server_shutdown(provider, 0);
  cp_server_destroy(provider);
  kv_store_destroy(store);
}

// A capability stuck in its handler holds only its own calls.
TEST_F(BrokerTest, ASlowCapabilityDoesNotHoldUpAnother) {
  Start();
  Identity kv = Join("kv");
  Grant slow = Request(kv, "slow");
  Grant logger = Request(kv, "logger");
  ASSERT_EQ(CP_STATUS_OK, slow.status.code);
  std::string bearer = "Bearer " + slow.token;
  std::string path = slow.endpoint + "/kv.v1.KVService/Get";
  cp_method_desc m = cp_kv__v1__kvservice__get__method;
  m.path = path.c_str();
  cp_metadata md[] = {{CP_MD_RUNTIME_ID, kv.id.c_str()},
                      {CP_MD_AUTHORIZATION, bearer.c_str()}};
  cp_call_options o = opts_;
  o.metadata = md;
  o.metadata_count = 2;
  Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
  req.key = const_cast<char *>("k");
  std::atomic<int> done{-1};
  auto on_done = [](const cp_status *st, ProtobufCMessage *resp, void *user) {
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    static_cast<std::atomic<int> *>(user)->store(st->code);
  };
  ASSERT_EQ(0,
            cp_client_unary_async(client_, &m, &req.base, &o, on_done, &done));
  {
    std::unique_lock<std::mutex> lock(slow_.mu);
    ASSERT_TRUE(slow_.cv.wait_for(lock, std::chrono::seconds(30),
                                  [&] { return slow_.entered; }));
  }
  // Several calls to the logger while the slow one waits.
  for (int i = 0; i < 4; i++) {
    cp_status st = LogVia(logger, kv);
    EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  }
  EXPECT_EQ(-1, done.load());
  {
    std::lock_guard<std::mutex> lock(slow_.mu);
    slow_.released = true;
  }
  slow_.cv.notify_all();
  EXPECT_TRUE(cp_test::WaitFor("the slow call to finish",
                               [&] { return done.load() == CP_STATUS_OK; }));
}

}  // namespace
