// ServiceRegistry and PluginLifecycle.ReportHealth over RPC on a host-like
// server (token store + auth interceptor + registry): every status code,
// identity, ownership, allow-lists, caps, discovery, watch sequences,
// coalescing under a slow watcher and removal on revocation.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "core/validate.h"
#include "plugin/v1/registry.cplugin.h"
#include "registry/base_url.h"
#include "transport/encoded.h"

// registry_lock.c
void registry_test_wrlock(cp_registry *reg);
void registry_test_wrunlock(cp_registry *reg);
}
#include "push/push_testing.h"

namespace {

constexpr const char *kApiKey = "0123456789abcdef-api-key";
constexpr const char *kHostSecret = "host-secret-for-tests";

using Pairs = std::vector<std::pair<std::string, std::string>>;

// A caller: the metadata its calls carry.
struct Who {
  std::string id;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What a watch event said, or how the stream ended.
struct Event {
  int rc = 0;  // 1 = an event; 0 or negative = the stream ended
  int state = 0;
  std::string type;
  std::string provider;
  std::string url;
  cp_status status{};
};

// Authenticates calls that carry the test's host secret as the host.
cp_auth_result HostValidator(cp_call *call, void *user) {
  (void)user;
  cp_str v;
  if (!cp_call_metadata(call, "x-test-host", &v)) {
    return CP_AUTH_ABSENT;
  }
  if (v.len != strlen(kHostSecret) || memcmp(v.ptr, kHostSecret, v.len) != 0) {
    return CP_AUTH_DENIED;
  }
  return cp_call_set_identity(call, "host", "operator") == 0 ? CP_AUTH_OK
                                                             : CP_AUTH_DENIED;
}

constexpr int kAvailable =
    CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE;
constexpr int kUnavailable =
    CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE;
constexpr int kDegraded =
    CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_DEGRADED;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_token_store_options to;
    cp_token_store_options_init(&to);
    to.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
    cp_registry_options_init(&ropts_);
    ropts_.tokens = tokens_;
    cp_server_options_init(&sopts_);
    sopts_.threads = 4;
  }

  void TearDown() override {
    for (cp_client_stream *s : streams_) {
      cp_client_stream_destroy(s);
    }
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_registry_destroy(reg_);
    cp_auth_destroy(auth_);
    cp_token_store_destroy(tokens_);
  }

  void Start() {
    ASSERT_EQ(0, cp_registry_create(&reg_, &ropts_));
    ASSERT_EQ(0, cp_auth_create(&auth_));
    ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
    ASSERT_EQ(0, cp_auth_add_validator(auth_, "host", HostValidator, nullptr));
    ASSERT_EQ(0, cp_auth_add_api_key(auth_, kApiKey, "tool"));
    ASSERT_EQ(0, cp_server_create(&server_, &sopts_));
    ASSERT_EQ(0, cp_auth_register(auth_, server_));
    ASSERT_EQ(0, cp_registry_register(reg_, server_));
    ASSERT_EQ(0, cp_lifecycle_register(reg_, server_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  Who Runtime(const char *self_id) {
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    EXPECT_EQ(0, cp_token_store_issue(tokens_, self_id, id, sizeof id, token));
    return Who{id,
               {{"x-plugin-runtime-id", id},
                {"authorization", std::string("Bearer ") + token}}};
  }
  // A runtime whose handshake was authenticated as `principal`.
  Who RuntimeAs(const char *self_id, const char *principal) {
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    EXPECT_EQ(0, cp_token_store_issue_for(tokens_, self_id, principal, id,
                                          sizeof id, token));
    return Who{id,
               {{"x-plugin-runtime-id", id},
                {"authorization", std::string("Bearer ") + token}}};
  }
  static Who Host() { return Who{"operator", {{"x-test-host", kHostSecret}}}; }
  static Who Tool() { return Who{"tool", {{"x-api-key", kApiKey}}}; }
  static Who Anonymous() { return Who{}; }

  // Call options pointing at `md`, which must outlive the call.
  static cp_call_options Opts(const Who &who, std::vector<cp_metadata> *md,
                              int64_t timeout_ms = 10000) {
    md->clear();
    for (auto &h : who.headers) {
      md->push_back({h.first.c_str(), h.second.c_str()});
    }
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md->data();
    o.metadata_count = md->size();
    o.timeout_ms = timeout_ms;
    return o;
  }

  cp_status Register(const Who &who, const std::string &type,
                     const std::string &version = "1.0.0",
                     const std::string &path = "/svc.v1.Svc/",
                     const Pairs &meta = {}, std::string *id = nullptr) {
    std::vector<Connectplugin__V1__RegisterServiceRequest__MetadataEntry> e(
        meta.size());
    std::vector<Connectplugin__V1__RegisterServiceRequest__MetadataEntry *> p;
    for (size_t i = 0; i < meta.size(); i++) {
      connectplugin__v1__register_service_request__metadata_entry__init(&e[i]);
      e[i].key = const_cast<char *>(meta[i].first.c_str());
      e[i].value = const_cast<char *>(meta[i].second.c_str());
      p.push_back(&e[i]);
    }
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    req.version = const_cast<char *>(version.c_str());
    req.endpoint_path = const_cast<char *>(path.c_str());
    req.n_metadata = p.size();
    req.metadata = p.data();
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__RegisterServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__register_service__call(
        client_, &req, &resp, &o, &st);
    if (resp != nullptr) {
      if (id != nullptr) {
        *id = resp->registration_id;
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status Unregister(const Who &who, const std::string &id) {
    Connectplugin__V1__UnregisterServiceRequest req =
        CONNECTPLUGIN__V1__UNREGISTER_SERVICE_REQUEST__INIT;
    req.registration_id = const_cast<char *>(id.c_str());
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__UnregisterServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__unregister_service__call(
        client_, &req, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  // Discovers; on success *provider and *url describe the endpoint.
  cp_status Discover(const Who &who, const std::string &type,
                     const std::string &min = "",
                     std::string *provider = nullptr,
                     std::string *url = nullptr, bool *single = nullptr,
                     std::string *version = nullptr, Pairs *meta = nullptr) {
    Connectplugin__V1__DiscoverServiceRequest req =
        CONNECTPLUGIN__V1__DISCOVER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    req.min_version = const_cast<char *>(min.c_str());
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__DiscoverServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__discover_service__call(
        client_, &req, &resp, &o, &st);
    if (resp != nullptr) {
      if (resp->endpoint != nullptr) {
        if (provider != nullptr)
          *provider = resp->endpoint->provider_id;
        if (url != nullptr)
          *url = resp->endpoint->endpoint_url;
        if (version != nullptr)
          *version = resp->endpoint->version;
        if (meta != nullptr) {
          meta->clear();
          for (size_t i = 0; i < resp->endpoint->n_metadata; i++) {
            meta->emplace_back(resp->endpoint->metadata[i]->key,
                               resp->endpoint->metadata[i]->value);
          }
        }
      }
      if (single != nullptr)
        *single = resp->single_provider;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status Report(const Who &who, int state, const std::string &reason = "",
                   const std::vector<std::string> &deps = {}) {
    std::vector<char *> d;
    for (auto &s : deps) {
      d.push_back(const_cast<char *>(s.c_str()));
    }
    Connectplugin__V1__ReportHealthRequest req =
        CONNECTPLUGIN__V1__REPORT_HEALTH_REQUEST__INIT;
    req.state = static_cast<Connectplugin__V1__HealthState>(state);
    req.reason = const_cast<char *>(reason.c_str());
    req.n_unavailable_dependencies = d.size();
    req.unavailable_dependencies = d.data();
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__ReportHealthResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__plugin_lifecycle__report_health__call(client_, &req,
                                                                &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_client_stream *Watch(const Who &who, const std::string &type,
                          int64_t timeout_ms = 30000) {
    Connectplugin__V1__WatchServiceRequest req =
        CONNECTPLUGIN__V1__WATCH_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md, timeout_ms);
    cp_client_stream *s = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_connectplugin__v1__service_registry__watch_service__start(
                     client_, &req, &o, &s, &st))
        << st.message;
    streams_.push_back(s);
    return s;
  }

  static Event Next(cp_client_stream *s) {
    Event ev;
    Connectplugin__V1__WatchServiceEvent *msg = nullptr;
    ev.rc = cp_connectplugin__v1__service_registry__watch_service__next(
        s, &msg, &ev.status);
    if (ev.rc == 0) {
      ev.state = msg->state;
      ev.type = msg->service_type;
      if (msg->endpoint != nullptr) {
        ev.provider = msg->endpoint->provider_id;
        ev.url = msg->endpoint->endpoint_url;
      }
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    return ev;
  }

  int HostAdd(const std::string &owner, const std::string &type,
              const std::vector<cp_metadata> &md = {}) {
    cp_registry_service svc = {type.c_str(), "1.0.0", "/svc.v1.Svc/", md.data(),
                               md.size()};
    return cp_registry_register_as_host(reg_, owner.c_str(), &svc, nullptr);
  }

  // A host registration whose events are large (8 metadata entries of
  // 4000 bytes): a few of them fill a stream's HTTP/2 window and queue.
  int HostAddBulk(const std::string &owner, const std::string &type) {
    std::string blob(4000, 'x');
    std::vector<std::string> keys;
    std::vector<cp_metadata> md;
    for (int i = 0; i < 8; i++) {
      keys.push_back("k" + std::to_string(i));
    }
    for (auto &k : keys) {
      md.push_back({k.c_str(), blob.c_str()});
    }
    return HostAdd(owner, type, md);
  }

  cp_registry_stats Stats() {
    cp_registry_stats st;
    cp_registry_get_stats(reg_, &st);
    return st;
  }

  cp_token_store *tokens_ = nullptr;
  cp_registry_options ropts_;
  cp_server_options sopts_;
  cp_registry *reg_ = nullptr;
  cp_auth *auth_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::vector<cp_client_stream *> streams_;
};

TEST_F(RegistryTest, EveryCallNeedsARuntimeIdentity) {
  Start();
  Who a = Runtime("plugin-a");
  std::string id;
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger", "1.0.0", "/l/", {}, &id).code);

  for (const Who &who : {Anonymous(), Tool()}) {
    cp_status st = Register(who, "logger");
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Unregister(who, id).code);
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Discover(who, "logger").code);
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Report(who, 1).code);
    Event ev = Next(Watch(who, "logger"));
    EXPECT_NE(0, ev.rc);
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, ev.status.code);
  }
  // An API key authenticates, but is not a runtime.
  EXPECT_STREQ("runtime identity required", Register(Tool(), "logger").message);
  // The runtime-ID header alone proves nothing.
  Who spoof{"x", {{"x-plugin-runtime-id", a.id}}};
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Unregister(spoof, id).code);
  EXPECT_EQ(CP_STATUS_OK, Unregister(a, id).code);
}

TEST_F(RegistryTest, RegisterValidationNamesTheField) {
  Start();
  Who a = Runtime("plugin-a");
  struct Case {
    std::string type, version, path;
    Pairs meta;
    const char *message;
  } cases[] = {
      {"", "1.0.0", "/p/", {}, "service_type: cannot be empty"},
      {"../etc",
       "1.0.0",
       "/p/",
       {},
       "service_type: contains invalid characters"},
      {"a..b",
       "1.0.0",
       "/p/",
       {},
       "service_type: contains path traversal characters"},
      {std::string(129, 't'), "1.0.0", "/p/", {}, "service_type: too long"},
      {"t", "", "/p/", {}, "version: cannot be empty"},
      {"t",
       "v1.0.0",
       "/p/",
       {},
       "version: must be semantic version (e.g., 1.0.0, 2.1.3-beta)"},
      {"t",
       "1.0.0-a..b",
       "/p/",
       {},
       "version: must be semantic version (e.g., 1.0.0, 2.1.3-beta)"},
      {"t", "1.0.0", "", {}, "endpoint_path: cannot be empty"},
      {"t", "1.0.0", "p/", {}, "endpoint_path: must start with /"},
      {"t",
       "1.0.0",
       "/" + std::string(256, 'p'),
       {},
       "endpoint_path: too long"},
      {"t", "1.0.0", "/p/", {{"", "v"}}, "metadata: key cannot be empty"},
      {"t",
       "1.0.0",
       "/p/",
       {{"key@x", "v"}},
       "metadata: key contains invalid characters"},
      {"t",
       "1.0.0",
       "/p/",
       {{"k", std::string(4097, 'v')}},
       "metadata: value too long"},
      {"t",
       "1.0.0",
       "/p/",
       {{"weight", "0"}},
       "metadata: weight must be a positive integer (max 1000000)"},
  };
  for (const Case &c : cases) {
    cp_status st = Register(a, c.type, c.version, c.path, c.meta);
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << c.message;
    EXPECT_STREQ(c.message, st.message);
  }
  Pairs many;
  for (int i = 0; i < 101; i++) {
    many.push_back({"k" + std::to_string(i), "v"});
  }
  cp_status st = Register(a, "t", "1.0.0", "/p/", many);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_STREQ("metadata: too many metadata entries: 101 (max: 100)",
               st.message);
  EXPECT_EQ(0u, Stats().registrations);
}

TEST_F(RegistryTest, RegisterAndDiscoverAsUpstream) {
  Start();
  Who a = Runtime("logger-a");
  Who c = Runtime("cache");
  std::string id1, id2;
  ASSERT_EQ(CP_STATUS_OK,
            Register(a, "logger", "1.0.0", "/logger.v1.Logger/",
                     {{"base_url", "http://127.0.0.1:5001"}}, &id1)
                .code);
  EXPECT_EQ(20u, id1.size());
  // Idempotent: same runtime, type and path.
  ASSERT_EQ(
      CP_STATUS_OK,
      Register(a, "logger", "1.0.0", "/logger.v1.Logger/", {}, &id2).code);
  EXPECT_EQ(id1, id2);

  std::string provider, url, version;
  bool single = false;
  ASSERT_EQ(CP_STATUS_OK,
            Discover(c, "logger", "", &provider, &url, &single, &version).code);
  EXPECT_EQ(a.id, provider);
  EXPECT_EQ("/services/logger/" + a.id, url);
  EXPECT_EQ("1.0.0", version);
  EXPECT_TRUE(single);

  Who b = Runtime("logger-b");
  ASSERT_EQ(CP_STATUS_OK, Register(b, "logger", "2.0.0").code);
  ASSERT_EQ(CP_STATUS_OK,
            Discover(c, "logger", "", &provider, &url, &single).code);
  EXPECT_FALSE(single);
  EXPECT_EQ(a.id, provider);  // strategy "first"
  ASSERT_EQ(CP_STATUS_OK,
            Discover(c, "logger", "2.0.0", &provider, &url, &single).code);
  EXPECT_EQ(b.id, provider);
}

// A registration stores "base_url" once, apart from the other metadata:
// Discover still returns every entry in order (a key sent twice keeps its
// last value and place), wherever base_url was, and resolve its value.
TEST_F(RegistryTest, MetadataRoundTripsInOrderWhereverBaseUrlIs) {
  Start();
  Who c = Runtime("consumer");
  const std::string url1 = "http://127.0.0.1:5001";
  const std::string url4 = "http://127.0.0.1:5004";
  const std::vector<std::pair<Pairs, Pairs>> cases = {
      {{{"zone", "a"}, {"base_url", url1}, {"zone", "b"}, {"empty", ""}},
       {{"base_url", url1}, {"zone", "b"}, {"empty", ""}}},
      {{{"base_url", url1}}, {{"base_url", url1}}},
      {{{"a", "1"}, {"b", "2"}, {"base_url", url1}},
       {{"a", "1"}, {"b", "2"}, {"base_url", url1}}},
      {{{"base_url", url1}, {"x", url1}, {"base_url", url4}},
       {{"x", url1}, {"base_url", url4}}},
      {{{"k", "v"}}, {{"k", "v"}}},
      {{}, {}},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    std::string type = "t" + std::to_string(i);
    Who w = Runtime(("p" + std::to_string(i)).c_str());
    ASSERT_EQ(CP_STATUS_OK,
              Register(w, type, "1.2.3", "/svc.v1.Svc/", cases[i].first).code)
        << i;
    Pairs got;
    std::string version;
    ASSERT_EQ(
        CP_STATUS_OK,
        Discover(c, type, "", nullptr, nullptr, nullptr, &version, &got).code)
        << i;
    EXPECT_EQ(cases[i].second, got) << i;
    EXPECT_EQ("1.2.3", version) << i;
    auto ep = std::make_unique<cp_registry_endpoint>();
    ASSERT_EQ(0, cp_registry_resolve(reg_, type.c_str(), nullptr, ep.get()));
    std::string want_url;
    for (const auto &kv : cases[i].second) {
      if (kv.first == "base_url") {
        want_url = kv.second;
      }
    }
    EXPECT_EQ(!want_url.empty(), ep->has_base_url) << i;
    EXPECT_EQ(want_url, ep->base_url) << i;
    EXPECT_STREQ("/svc.v1.Svc/", ep->endpoint_path);
  }
  // One string for two keys (the host API takes pointers): each keeps it.
  const char *shared = "http://127.0.0.1:5009";
  ASSERT_EQ(0, HostAdd("host-owner", "shared",
                       {{"mirror", shared}, {"base_url", shared}}));
  Pairs got;
  ASSERT_EQ(
      CP_STATUS_OK,
      Discover(c, "shared", "", nullptr, nullptr, nullptr, nullptr, &got).code);
  EXPECT_EQ((Pairs{{"mirror", shared}, {"base_url", shared}}), got);
}

TEST_F(RegistryTest, DiscoverNotFoundMessagesAndSemverFiltering) {
  Start();
  Who a = Runtime("a");
  Who b = Runtime("b");
  cp_status st = Discover(a, "logger");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ("no providers for service \"logger\"", st.message);

  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger", "9.0.0").code);
  ASSERT_EQ(CP_STATUS_OK, Register(b, "logger", "10.0.0").code);
  std::string provider, version;
  ASSERT_EQ(CP_STATUS_OK, Discover(a, "logger", "9.5.0", &provider, nullptr,
                                   nullptr, &version)
                              .code);
  EXPECT_EQ("10.0.0", version);  // not "9.0.0" >= "9.5.0" as strings
  ASSERT_EQ(CP_STATUS_OK, Discover(a, "logger", "10.0.0-rc.1", &provider,
                                   nullptr, nullptr, &version)
                              .code);
  EXPECT_EQ("10.0.0", version);
  st = Discover(a, "logger", "10.0.1");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ(
      "no compatible providers for service \"logger\" (min version: 10.0.1)",
      st.message);

  ASSERT_EQ(CP_STATUS_OK, Report(b, CP_PLUGIN_HEALTH_UNHEALTHY, "down").code);
  st = Discover(a, "logger", "10.0.0");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ("no available providers for service \"logger\" (all unhealthy)",
               st.message);
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_UNHEALTHY, "down").code);
  st = Discover(a, "logger");
  EXPECT_STREQ("no available providers for service \"logger\" (all unhealthy)",
               st.message);

  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Discover(a, "logger", "1.0").code);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Discover(a, "../x").code);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Discover(a, "").code);
}

TEST_F(RegistryTest, ReportHealthFeedsDiscovery) {
  Start();
  Who a = Runtime("a");
  Who b = Runtime("b");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger").code);
  ASSERT_EQ(CP_STATUS_OK, Register(b, "logger").code);
  std::string provider;
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_DEGRADED, "slow").code);
  ASSERT_EQ(CP_STATUS_OK, Discover(b, "logger", "", &provider).code);
  EXPECT_EQ(a.id, provider);  // DEGRADED still routes
  ASSERT_EQ(CP_STATUS_OK,
            Report(a, CP_PLUGIN_HEALTH_UNHEALTHY, "db down", {"db"}).code);
  ASSERT_EQ(CP_STATUS_OK, Discover(b, "logger", "", &provider).code);
  EXPECT_EQ(b.id, provider);
  auto rep = std::make_unique<cp_plugin_health_report>();
  ASSERT_EQ(0, cp_registry_get_health(reg_, a.id.c_str(), rep.get()));
  EXPECT_EQ(CP_PLUGIN_HEALTH_UNHEALTHY, rep->state);
  EXPECT_STREQ("db down", rep->reason);
  ASSERT_EQ(1u, rep->dependency_count);
  EXPECT_STREQ("db", rep->dependencies[0]);
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY).code);
  ASSERT_EQ(CP_STATUS_OK, Discover(b, "logger", "", &provider).code);
  EXPECT_EQ(a.id, provider);

  for (int bad : {0, 4, 99}) {
    cp_status st = Report(a, bad);
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
    EXPECT_STREQ("state: must be HEALTHY, DEGRADED or UNHEALTHY", st.message);
  }
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            Report(a, 1, std::string(1025, 'r')).code);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            Report(a, 1, "", std::vector<std::string>(65, "d")).code);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            Report(a, 1, "", {std::string(129, 'd')}).code);
  EXPECT_EQ(CP_STATUS_OK,
            Report(a, 1, "", std::vector<std::string>(64, "d")).code);
}

TEST_F(RegistryTest, AllowListsDefaultAndRequired) {
  Start();
  Who logger = RuntimeAs("Logger", "api-key:logger");  // "logger-<hex>"
  Who other = RuntimeAs("other", "mtls:other.example");
  // Development default: no entry, any valid type.
  EXPECT_EQ(CP_STATUS_OK, Register(other, "anything").code);

  const char *logger_types[] = {"logger"};
  ASSERT_EQ(0, cp_registry_allow(reg_, "api-key:logger", logger_types, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(logger, "logger").code);
  cp_status st = Register(logger, "cache");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  EXPECT_EQ("plugin " + logger.id +
                " not authorized to register service "
                "type cache",
            std::string(st.message));
  // Principals compare exactly: another provider or case is another one.
  ASSERT_EQ(0, cp_registry_allow(reg_, "API-KEY:logger", nullptr, 0));
  ASSERT_EQ(0, cp_registry_allow(reg_, "mtls:logger", nullptr, 0));
  EXPECT_EQ(CP_STATUS_OK, Register(logger, "logger", "1.0.0", "/p2/").code);

  // A runtime ID entry wins over its principal's.
  const char *cache_types[] = {"cache"};
  ASSERT_EQ(0, cp_registry_allow(reg_, logger.id.c_str(), cache_types, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(logger, "cache").code);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED,
            Register(logger, "logger", "1.0.0", "/other/").code);
  // An empty entry allows nothing; "*" allows everything.
  ASSERT_EQ(0, cp_registry_allow(reg_, "mtls:other.example", nullptr, 0));
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(other, "x").code);
  const char *any[] = {"*"};
  ASSERT_EQ(0, cp_registry_allow(reg_, "mtls:other.example", any, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(other, "x").code);
  // The host is trusted: no allow-list.
  EXPECT_EQ(CP_STATUS_OK, Register(Host(), "host-service").code);

  const char *bad_types[] = {"../x"};
  EXPECT_EQ(CP_EINVAL,
            cp_registry_allow(reg_, "mtls:other.example", bad_types, 1));
  EXPECT_EQ(CP_EINVAL, cp_registry_allow(reg_, "bad key", any, 1));
  // A bare self_id is not a key any more, and self_id keys need the opt-in.
  EXPECT_EQ(CP_EINVAL, cp_registry_allow(reg_, "other", any, 1));
  EXPECT_EQ(CP_EDENIED, cp_registry_allow(reg_, "self_id:other", any, 1));
}

// A runtime that claims another's self_id gets nothing of the other's
// entry: the entry is keyed by the other's principal, not by the claim.
TEST_F(RegistryTest, AClaimedSelfIdIsNotTheOthersPrincipal) {
  ropts_.require_allow_list = true;
  Start();
  const char *logger_types[] = {"logger"};
  ASSERT_EQ(0, cp_registry_allow(reg_, "api-key:logger", logger_types, 1));
  Who impostor = Runtime("logger");
  Who impostor_with_other_key = RuntimeAs("logger", "api-key:cache");
  Who logger = RuntimeAs("logger", "api-key:logger");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(impostor, "logger").code);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED,
            Register(impostor_with_other_key, "logger").code);
  EXPECT_EQ(CP_STATUS_OK, Register(logger, "logger").code);
}

// Identities from a non-token runtime provider (say, a custom validator that
// authenticates each call) are their own principal.
TEST_F(RegistryTest, NonTokenRuntimeProvidersAreTheirOwnPrincipal) {
  const char *providers[] = {"runtime-token", "api-key"};
  ropts_.runtime_providers = providers;
  ropts_.runtime_provider_count = 2;
  ropts_.require_allow_list = true;
  Start();
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, Register(Tool(), "tooling").code);
  const char *types[] = {"tooling"};
  ASSERT_EQ(0, cp_registry_allow(reg_, "api-key:tool", types, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(Tool(), "tooling").code);
}

// The default base_url policy: loopback, or the registering peer's own
// address (here also loopback); nothing the router could be turned into a
// proxy with.
TEST_F(RegistryTest, BaseUrlPolicyByDefault) {
  Start();
  Who a = Runtime("a");
  int n = 0;
  auto reg = [&](const std::string &url) {
    return Register(a, "t" + std::to_string(n++), "1.0.0", "/svc.v1.Svc/",
                    {{"base_url", url}});
  };
  for (const char *ok :
       {"127.0.0.1:7001", "http://127.0.0.1:7001/", "https://127.0.0.2:443",
        "grpc://[::1]:7001", "localhost:7001", "[::ffff:127.0.0.1]:80"}) {
    EXPECT_EQ(CP_STATUS_OK, reg(ok).code) << ok;
  }
  for (const char *denied :
       {"10.1.2.3:7001", "http://192.0.2.1:80", "example.com:443",
        "unix:/tmp/plugin.sock", "unix-abstract:plugin", "0.0.0.0:80"}) {
    cp_status st = reg(denied);
    EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << denied;
    EXPECT_NE(std::string::npos, std::string(st.message).find("base_url"))
        << st.message;
  }
  for (const char *bad :
       {"dns:///example.com:443", "ipv4:127.0.0.1:1,127.0.0.1:2", "127.0.0.1",
        "127.0.0.1:0", "127.0.0.1:65536", "ftp://127.0.0.1:21",
        "http://127.0.0.1:80/extra", "http://unix:/tmp/s", "[::1:80", ""}) {
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, reg(bad).code) << bad;
  }
  cp_registry_stats stats;
  cp_registry_get_stats(reg_, &stats);
  EXPECT_EQ(6u, stats.registrations);
}

// cplugin_memory_bytes{structure="registry"}: registrations and their
// strings add bytes; removing them gives the entries back.
TEST_F(RegistryTest, MemoryBytesFollowTheRegistrations) {
  Start();
  cp_registry_stats empty;
  cp_registry_get_stats(reg_, &empty);
  EXPECT_GT(empty.memory_bytes, 0u);  // the tables
  Who a = Runtime("a");
  std::vector<std::string> ids;
  const std::string long_value(1000, 'v');
  for (int i = 0; i < 5; i++) {
    std::string id;
    ASSERT_EQ(CP_STATUS_OK,
              Register(a, "type" + std::to_string(i), "1.0.0", "/svc.v1.Svc/",
                       {{"note", long_value}}, &id)
                  .code);
    ids.push_back(id);
  }
  cp_registry_stats full;
  cp_registry_get_stats(reg_, &full);
  EXPECT_EQ(5u, full.registrations);
  // At least the five metadata values the caps count.
  EXPECT_GE(full.memory_bytes, empty.memory_bytes + 5 * long_value.size());
  for (const std::string &id : ids) {
    ASSERT_EQ(CP_STATUS_OK, Unregister(a, id).code);
  }
  cp_registry_stats after;
  cp_registry_get_stats(reg_, &after);
  EXPECT_EQ(0u, after.registrations);
  EXPECT_LT(after.memory_bytes, full.memory_bytes - 5 * long_value.size());
}

TEST_F(RegistryTest, BaseUrlPolicyIsTheOperatorsChoice) {
  ropts_.base_url_allow =
      CP_BASE_URL_ANY_HOST | CP_BASE_URL_UNIX | CP_BASE_URL_GRPC_TARGET;
  Start();
  Who a = Runtime("a");
  int n = 0;
  for (const char *ok :
       {"10.1.2.3:7001", "example.com:443", "unix:/tmp/plugin.sock",
        "dns:///example.com:443", "ipv4:127.0.0.1:1,127.0.0.1:2"}) {
    EXPECT_EQ(CP_STATUS_OK, Register(a, "t" + std::to_string(n++), "1.0.0",
                                     "/svc.v1.Svc/", {{"base_url", ok}})
                                .code)
        << ok;
  }
}

TEST_F(RegistryTest, BaseUrlPolicyZeroAllowsNothing) {
  ropts_.base_url_allow = 0;
  Start();
  Who a = Runtime("a");
  EXPECT_EQ(
      CP_STATUS_PERMISSION_DENIED,
      Register(a, "t", "1.0.0", "/svc.v1.Svc/", {{"base_url", "127.0.0.1:1"}})
          .code);
  EXPECT_EQ(CP_STATUS_OK, Register(a, "t").code);  // no base_url: not routed
}

TEST(BaseUrlCheck, PeerAddressForms) {
  char why[160];
  EXPECT_EQ(REG_URL_OK,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "10.1.2.3:7001",
                                   "ipv4:10.1.2.3:5555", why, sizeof why));
  EXPECT_EQ(REG_URL_OK,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "http://10.1.2.3:7001",
                                   "ipv6:%5B::ffff:10.1.2.3%5D:5555", why,
                                   sizeof why));
  EXPECT_EQ(REG_URL_OK,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "[2001:db8::7]:7001",
                                   "ipv6:[2001:db8:0::7]:1", why, sizeof why));
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "10.1.2.4:7001",
                                   "ipv4:10.1.2.3:5555", why, sizeof why));
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_LOOPBACK, "10.1.2.3:7001",
                                   "ipv4:10.1.2.3:5555", why, sizeof why));
  // A name is never "the peer's address", even if it resolves to it.
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "peer.example:7001",
                                   "ipv4:10.1.2.3:5555", why, sizeof why));
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_PEER, "10.1.2.3:7001",
                                   "unix:/tmp/s", why, sizeof why));
}

TEST(BaseUrlCheck, InProcessNeedsItsOwnFlag) {
  char why[160];
  const char *peer = "inproc:1";
  // Not even the broadest network policy admits an in-process address.
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_ANY_HOST | CP_BASE_URL_UNIX |
                                       CP_BASE_URL_GRPC_TARGET |
                                       CP_BASE_URL_LOOPBACK | CP_BASE_URL_PEER,
                                   "inproc:logger", peer, why, sizeof why));
  EXPECT_NE(nullptr, strstr(why, "in-process")) << why;
  EXPECT_EQ(REG_URL_OK,
            cpi_reg_check_base_url(CP_BASE_URL_INPROC, "inproc:logger", peer,
                                   why, sizeof why));
  EXPECT_EQ(REG_URL_INVALID,
            cpi_reg_check_base_url(CP_BASE_URL_INPROC, "inproc:", peer, why,
                                   sizeof why));
  // The flag admits nothing else.
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_INPROC, "127.0.0.1:7001", peer,
                                   why, sizeof why));
  EXPECT_EQ(REG_URL_DENIED,
            cpi_reg_check_base_url(CP_BASE_URL_INPROC, "unix:/tmp/p.sock", peer,
                                   why, sizeof why));
}

TEST_F(RegistryTest, ReservedPathsAndInvalidUtf8AreRefused) {
  Start();
  Who a = Runtime("a");
  for (const char *path :
       {"/connectplugin.v1.PluginControl/", "/connectplugin.v1.PluginIdentity/",
        "/grpc.health.v1.Health/", "/svc.v1.\xc3\x28/"}) {
    cp_status st = Register(a, "t", "1.0.0", path);
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << path;
    EXPECT_EQ(0u, std::string(st.message).rfind("endpoint_path: ", 0))
        << st.message;
  }
  cp_status st =
      Register(a, "t", "1.0.0", "/svc.v1.Svc/", {{"zone", "\xff\xfe"}});
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_STREQ("metadata: value is not valid UTF-8", st.message);
  EXPECT_EQ(
      CP_STATUS_OK,
      Register(a, "t", "1.0.0", "/svc.v1.Svc/", {{"zone", "Zürich"}}).code);
}

TEST(Utf8, WellFormedOnly) {
  struct Case {
    const char *s;
    bool ok;
  } cases[] = {
      {"", true},
      {"plain", true},
      {"\xc3\xa9", true},           // é
      {"\xe2\x82\xac", true},       // €
      {"\xf0\x9f\x98\x80", true},   // U+1F600
      {"\xc3", false},              // truncated
      {"\xc0\xaf", false},          // overlong '/'
      {"\xe0\x80\xaf", false},      // overlong
      {"\xed\xa0\x80", false},      // surrogate U+D800
      {"\xf4\x90\x80\x80", false},  // past U+10FFFF
      {"\x80", false},              // continuation first
      {"\xff", false},
      {"a\xc3\x28", false},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(c.ok, cpi_utf8_valid(c.s, strlen(c.s))) << c.s;
  }
}

TEST_F(RegistryTest, RequireAllowListDeniesRuntimesWithoutAnEntry) {
  ropts_.require_allow_list = true;
  Start();
  Who a = Runtime("a");  // an anonymous handshake
  cp_status st = Register(a, "logger");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  EXPECT_EQ("plugin " + a.id +
                " not authorized to register service type logger: its "
                "handshake was not authenticated (no API key or client "
                "certificate) and this registry requires an allow-list entry",
            std::string(st.message));
  Who b = RuntimeAs("b", "api-key:b");
  st = Register(b, "logger");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  EXPECT_EQ("plugin " + b.id +
                " not authorized to register service type logger: no "
                "allow-list entry for api-key:b",
            std::string(st.message));
  // The operator may still name one runtime it knows by its ID.
  const char *types[] = {"logger"};
  ASSERT_EQ(0, cp_registry_allow(reg_, a.id.c_str(), types, 1));
  EXPECT_EQ(CP_STATUS_OK, Register(a, "logger").code);
}

TEST_F(RegistryTest, OnlyTheOwnerOrTheHostUnregisters) {
  Start();
  Who a = Runtime("a");
  Who b = Runtime("b");
  std::string id;
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger", "1.0.0", "/p/", {}, &id).code);
  // Someone else's ID is answered exactly as an unknown one: guessing IDs
  // tells a caller nothing about other plugins' registrations.
  cp_status st = Unregister(b, id);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_EQ("registration not found: " + id, std::string(st.message));
  EXPECT_EQ(CP_STATUS_OK, Unregister(a, id).code);
  st = Unregister(a, id);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_EQ("registration not found: " + id, std::string(st.message));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Unregister(a, "reg-nothex").code);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Unregister(a, "").code);
  EXPECT_EQ(CP_STATUS_NOT_FOUND,
            Unregister(a, "reg-0123456789ABCDEF").code);  // upper case
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger", "1.0.0", "/p/", {}, &id).code);
  EXPECT_EQ(CP_STATUS_OK, Unregister(Host(), id).code);
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger", "1.0.0", "/p/", {}, &id).code);
  EXPECT_EQ(0, cp_registry_unregister_as_host(reg_, id.c_str()));
}

// Many runtimes, each within its own byte cap, cannot together grow the
// registry past its total. A registration with a 1000-byte value costs a
// little over 1000 bytes: two fit in 2500, a third does not.
TEST_F(RegistryTest, TotalBytesAreCapped) {
  ropts_.max_bytes = 2500;
  Start();
  std::string value(1000, 'v');
  std::string first;
  for (int i = 0; i < 2; i++) {
    Who w = Runtime(("r" + std::to_string(i)).c_str());
    ASSERT_EQ(CP_STATUS_OK, Register(w, "t", "1.0.0", "/svc.v1.Svc/",
                                     {{"k", value}}, i == 0 ? &first : nullptr)
                                .code);
  }
  cp_registry_stats stats;
  cp_registry_get_stats(reg_, &stats);
  EXPECT_GT(stats.bytes, 2000u);
  EXPECT_LE(stats.bytes, 2500u);
  Who third = Runtime("r2");
  cp_status st = Register(third, "t", "1.0.0", "/svc.v1.Svc/", {{"k", value}});
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("registry holds the maximum of 2500 bytes", st.message);
  // Room comes back with an unregistration.
  ASSERT_EQ(CP_STATUS_OK, Unregister(Host(), first).code);
  EXPECT_EQ(CP_STATUS_OK,
            Register(third, "t", "1.0.0", "/svc.v1.Svc/", {{"k", value}}).code);
}

TEST_F(RegistryTest, CapsAreResourceExhausted) {
  ropts_.max_registrations_per_runtime = 2;
  ropts_.max_watchers_per_runtime = 2;
  ropts_.max_watchers = 3;
  Start();
  Who a = Runtime("a");
  Who b = Runtime("b");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "t1").code);
  ASSERT_EQ(CP_STATUS_OK, Register(a, "t2").code);
  cp_status st = Register(a, "t3");
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("too many registrations for this runtime (max 2)", st.message);
  EXPECT_EQ(CP_STATUS_OK, Register(b, "t3").code);

  cp_client_stream *w1 = Watch(a, "t1");
  cp_client_stream *w2 = Watch(a, "t2");
  EXPECT_EQ(0, Next(w1).rc);
  EXPECT_EQ(0, Next(w2).rc);
  Event third = Next(Watch(a, "t3"));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, third.status.code);
  EXPECT_STREQ("too many watchers for this runtime", third.status.message);
  cp_client_stream *w3 = Watch(b, "t1");
  EXPECT_EQ(0, Next(w3).rc);
  Event fourth = Next(Watch(b, "t2"));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, fourth.status.code);
  EXPECT_STREQ("too many watchers", fourth.status.message);

  // A cancelled watch gives its slot back, once the server has seen the
  // stream end (on its own thread).
  cp_client_stream_cancel(w1);
  ASSERT_TRUE(cp_test::WaitFor(
      "the cancelled watch to leave the registry",
      [&] { return Stats().watchers == 2; },
      [&] { return "watchers " + std::to_string(Stats().watchers); }));
  EXPECT_EQ(2u, Stats().watchers);
  cp_client_stream *w4 = Watch(a, "t3");
  EXPECT_EQ(0, Next(w4).rc);
}

TEST_F(RegistryTest, WatchFollowsRegistrationsAndHealth) {
  Start();
  Who watcher = Runtime("watcher");
  Who a = Runtime("a");
  Who b = Runtime("b");
  cp_client_stream *s = Watch(watcher, "logger");
  Event ev = Next(s);
  ASSERT_EQ(0, ev.rc);
  EXPECT_EQ("logger", ev.type);
  EXPECT_EQ(kUnavailable, ev.state);
  EXPECT_EQ("", ev.provider);

  std::string id_a, id_b;
  ASSERT_EQ(CP_STATUS_OK,
            Register(a, "logger", "1.0.0", "/p/", {}, &id_a).code);
  ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(a.id, ev.provider);
  EXPECT_EQ("/services/logger/" + a.id, ev.url);

  // B does not change the answer (the first routable provider): no event.
  ASSERT_EQ(CP_STATUS_OK,
            Register(b, "logger", "1.0.0", "/p/", {}, &id_b).code);
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_DEGRADED).code);
  ev = Next(s);
  EXPECT_EQ(kDegraded, ev.state);
  EXPECT_EQ(a.id, ev.provider);

  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_UNHEALTHY).code);
  ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(b.id, ev.provider);

  ASSERT_EQ(CP_STATUS_OK, Unregister(b, id_b).code);
  ev = Next(s);
  EXPECT_EQ(kUnavailable, ev.state);

  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY).code);
  ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(a.id, ev.provider);

  ASSERT_EQ(0, cp_registry_remove_runtime(reg_, a.id.c_str()));
  ev = Next(s);
  EXPECT_EQ(kUnavailable, ev.state);

  // A second watcher starts with the current answer.
  ASSERT_EQ(0, HostAdd("in-process", "logger"));
  ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ("in-process", ev.provider);
  cp_client_stream *s2 = Watch(b, "logger");
  ev = Next(s2);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ("in-process", ev.provider);
}

TEST_F(RegistryTest, SlowWatcherCoalescesAndEndsWithTheLatestState) {
  sopts_.stream_queue_messages = 2;
  Start();
  Who watcher = Runtime("watcher");
  cp_client_stream *s = Watch(watcher, "bulk");
  ASSERT_EQ(0, Next(s).rc);  // initial UNAVAILABLE

  // Large events fill the HTTP/2 windows and the stream queue quickly while
  // the client does not read.
  ASSERT_EQ(0, HostAddBulk("provider-a", "bulk"));
  // Change the state until events were both coalesced and refused by the
  // full stream (a send in progress also coalesces, so one counter alone is
  // not enough). The sends run on server threads: how many changes that
  // takes depends on the machine, so the bound is a deadline, not a count.
  int changes = 1;
  int rc = 0;
  ASSERT_TRUE(cp_test::WaitFor(
      "the watch stream to stall and coalesce events",
      [&] {
        for (int i = 0; i < 100 && rc == 0; i++, changes++) {
          cp_plugin_health h = changes % 2 != 0 ? CP_PLUGIN_HEALTH_DEGRADED
                                                : CP_PLUGIN_HEALTH_HEALTHY;
          rc = cp_registry_report_health(reg_, "provider-a", h, "", nullptr, 0);
        }
        cp_registry_stats now = Stats();
        return rc != 0 ||
               (now.watch_events_coalesced >= 50 && now.watch_stalls > 0);
      },
      [&] {
        cp_registry_stats now = Stats();
        return std::to_string(changes) + " changes, " +
               std::to_string(now.watch_events_coalesced) + " coalesced, " +
               std::to_string(now.watch_stalls) + " stalls";
      }));
  ASSERT_EQ(0, rc);
  cp_registry_stats st = Stats();
  EXPECT_GE(st.watch_events_coalesced, 50u);
  EXPECT_GT(st.watch_stalls, 0u);
  // The final state: provider-a unhealthy, provider-final available.
  ASSERT_EQ(0, HostAdd("provider-final", "bulk"));
  ASSERT_EQ(
      0, cp_registry_report_health(reg_, "provider-a",
                                   CP_PLUGIN_HEALTH_UNHEALTHY, "", nullptr, 0));
  changes += 2;

  int received = 0;
  Event ev;
  do {
    ev = Next(s);
    ASSERT_EQ(0, ev.rc) << ev.status.message;
    received++;
  } while (!(ev.state == kAvailable && ev.provider == "provider-final"));
  EXPECT_LT(received, changes);  // intermediate states were skipped
  // Nothing stale follows: the next event is the next change.
  ASSERT_EQ(
      0, cp_registry_report_health(reg_, "provider-final",
                                   CP_PLUGIN_HEALTH_DEGRADED, "", nullptr, 0));
  ev = Next(s);
  EXPECT_EQ(kDegraded, ev.state);
  EXPECT_EQ("provider-final", ev.provider);
}

TEST_F(RegistryTest, ManyWatchersShareOneEncodedEvent) {
  Start();
  // 16 watchers per runtime: 3 runtimes of 16.
  std::vector<cp_client_stream *> watchers;
  for (int r = 0; r < 3; r++) {
    Who who = Runtime(("watcher-" + std::to_string(r)).c_str());
    for (int i = 0; i < 16; i++) {
      watchers.push_back(Watch(who, "shared-event"));
    }
  }
  for (auto *s : watchers) {
    Event ev = Next(s);
    ASSERT_EQ(0, ev.rc) << ev.status.message;
    EXPECT_EQ(kUnavailable, ev.state);
  }
  // Sends are counted after gRPC took them, which may be after the client
  // read them: let the initial events' counts land first.
  cp_registry_stats before;
  ASSERT_TRUE(cp_test::WaitFor("the initial sends counted", [&] {
    before = Stats();
    return before.watch_events_sent >= watchers.size();
  }));
  uint64_t encodes = cpi_encode_count();
  ASSERT_EQ(0, HostAdd("provider", "shared-event"));
  Event first = Next(watchers[0]);
  ASSERT_EQ(0, first.rc);
  EXPECT_EQ(kAvailable, first.state);
  EXPECT_EQ("provider", first.provider);
  for (size_t i = 1; i < watchers.size(); i++) {
    Event ev = Next(watchers[i]);
    ASSERT_EQ(0, ev.rc) << ev.status.message;
    EXPECT_EQ(first.state, ev.state);
    EXPECT_EQ(first.type, ev.type);
    EXPECT_EQ(first.provider, ev.provider);
    EXPECT_EQ(first.url, ev.url);
  }
  // One change, 48 watchers: one encoding, 48 sends.
  cp_registry_stats after;
  EXPECT_TRUE(cp_test::WaitFor(
      "48 sends counted",
      [&] {
        after = Stats();
        return after.watch_events_sent - before.watch_events_sent >=
               watchers.size();
      },
      [&] {
        return std::to_string(after.watch_events_sent -
                              before.watch_events_sent);
      }));
  EXPECT_EQ(1u, cpi_encode_count() - encodes);
  EXPECT_EQ(1u, after.watch_events_encoded - before.watch_events_encoded);
  EXPECT_EQ(watchers.size(),
            after.watch_events_sent - before.watch_events_sent);
}

TEST_F(RegistryTest, AWatcherThatReadsNothingHoldsAtMostTwoEvents) {
  // The stream's queue limits would allow megabytes; a watch ignores them.
  Start();
  Who watcher = Runtime("watcher");
  cp_client_stream *s = Watch(watcher, "big");
  ASSERT_EQ(0, Next(s).rc);  // initial UNAVAILABLE

  // Events of about 64 KiB: a few fill the HTTP/2 windows.
  std::string blob(4000, 'x');
  std::vector<std::string> keys;
  std::vector<cp_metadata> md;
  for (int i = 0; i < 16; i++) {
    keys.push_back("k" + std::to_string(i));
  }
  for (auto &k : keys) {
    md.push_back({k.c_str(), blob.c_str()});
  }
  ASSERT_EQ(0, HostAdd("provider-a", "big", md));
  const uint64_t event_max = 16 * (blob.size() + 16) + 1024;
  int changes = 0;
  int rc = 0;
  ASSERT_TRUE(cp_test::WaitFor(
      "the watch stream to stall",
      [&] {
        for (int i = 0; i < 50 && rc == 0; i++, changes++) {
          cp_plugin_health h = changes % 2 == 0 ? CP_PLUGIN_HEALTH_DEGRADED
                                                : CP_PLUGIN_HEALTH_HEALTHY;
          rc = cp_registry_report_health(reg_, "provider-a", h, "", nullptr, 0);
        }
        return rc != 0 || (changes >= 500 && Stats().watch_stalls > 0);
      },
      [&] { return std::to_string(changes) + " changes"; }));
  ASSERT_EQ(0, rc);
  cp_registry_stats st = Stats();
  EXPECT_GE(st.watch_max_held_bytes, 16 * blob.size());
  EXPECT_LE(st.watch_max_held_bytes, 2 * event_max);
  EXPECT_GT(st.watch_events_coalesced, 0u);

  // Reading resumes: the stream ends with the latest state, and holding two
  // events did not cost order.
  ASSERT_EQ(0, HostAdd("provider-final", "big"));
  ASSERT_EQ(
      0, cp_registry_report_health(reg_, "provider-a",
                                   CP_PLUGIN_HEALTH_UNHEALTHY, "", nullptr, 0));
  Event ev;
  do {
    ev = Next(s);
    ASSERT_EQ(0, ev.rc) << ev.status.message;
    if (ev.provider != "provider-final") {
      EXPECT_EQ("provider-a", ev.provider);
    }
  } while (ev.provider != "provider-final");
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_LE(Stats().watch_max_held_bytes, 2 * event_max);
  ASSERT_EQ(
      0, cp_registry_report_health(reg_, "provider-final",
                                   CP_PLUGIN_HEALTH_DEGRADED, "", nullptr, 0));
  ev = Next(s);
  EXPECT_EQ(kDegraded, ev.state);
  EXPECT_EQ("provider-final", ev.provider);
}

TEST_F(RegistryTest, RevocationRemovesTheRuntimeAndTellsWatchers) {
  Start();
  Who a = Runtime("a");
  Who b = Runtime("b");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "logger").code);
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY).code);
  cp_client_stream *own = Watch(a, "cache");
  ASSERT_EQ(0, Next(own).rc);
  cp_client_stream *s = Watch(b, "logger");
  Event ev = Next(s);
  ASSERT_EQ(kAvailable, ev.state);

  ASSERT_EQ(0, cp_token_store_revoke(tokens_, a.id.c_str()));
  ev = Next(s);
  EXPECT_EQ(kUnavailable, ev.state);
  ev = Next(own);
  EXPECT_NE(0, ev.rc);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, ev.status.code);
  EXPECT_STREQ("runtime identity revoked", ev.status.message);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Discover(b, "logger").code);
  auto rep = std::make_unique<cp_plugin_health_report>();
  EXPECT_EQ(CP_ENOTFOUND,
            cp_registry_get_health(reg_, a.id.c_str(), rep.get()));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Register(a, "logger").code);
}

TEST_F(RegistryTest, DestroyEndsOpenWatches) {
  Start();
  Who a = Runtime("a");
  cp_client_stream *s = Watch(a, "logger");
  ASSERT_EQ(0, Next(s).rc);
  cp_server_shutdown(server_, 0);
  Event ev = Next(s);
  EXPECT_NE(0, ev.rc);
  EXPECT_EQ(0u, Stats().watchers);
}

// Destroying the registry stops the watch retry thread before freeing the
// tables: a retry that found a stream closed tells the registry (closed_fn),
// which looks the watcher up in those tables. The retry thread here finds
// the closed stream first (the registry's lock keeps the stream's own done
// callback waiting) and is held until destroy stops it; with the tables
// freed first, that lookup reads freed memory (a crash, or ASan's report).
TEST_F(RegistryTest, DestroyStopsTheRetryThreadBeforeFreeingTables) {
  ropts_.watch_retry_interval_ms = 1;
  sopts_.stream_queue_messages = 2;
  Start();
  Who watcher = Runtime("watcher");
  cp_client_stream *s = Watch(watcher, "bulk");
  ASSERT_EQ(0, Next(s).rc);  // initial UNAVAILABLE

  // Large events fill the windows and the stream queue: the client reads
  // nothing more, so the watcher's push stays parked for the retry thread.
  ASSERT_EQ(0, HostAddBulk("provider-a", "bulk"));
  // Changes until several batches of them, polled apart, sent nothing: the
  // client's window is full, so what is pending now stays parked.
  int changes = 0;
  int quiet = 0;
  uint64_t sent = Stats().watch_events_sent;
  ASSERT_TRUE(cp_test::WaitFor(
      "the watch stream to stall for good",
      [&] {
        for (int i = 0; i < 20; i++, changes++) {
          cp_plugin_health h = changes % 2 != 0 ? CP_PLUGIN_HEALTH_DEGRADED
                                                : CP_PLUGIN_HEALTH_HEALTHY;
          EXPECT_EQ(0, cp_registry_report_health(reg_, "provider-a", h, "",
                                                 nullptr, 0));
        }
        cp_registry_stats now = Stats();
        quiet = now.watch_events_sent == sent ? quiet + 1 : 0;
        sent = now.watch_events_sent;
        return quiet >= 5 && now.watch_stalls > 0;
      },
      [&] {
        return std::to_string(changes) + " changes, " + std::to_string(sent) +
               " sent";
      }));
  // A state unlike any sent (those were healthy or degraded), so that it is
  // not dropped as unchanged. Then no more changes: only the retry thread
  // sends now, refused each time.
  ASSERT_EQ(
      0, cp_registry_report_health(reg_, "provider-a",
                                   CP_PLUGIN_HEALTH_UNHEALTHY, "", nullptr, 0));
  uint64_t stalls = Stats().watch_stalls;
  ASSERT_TRUE(cp_test::WaitFor(
      "the retry thread to retry the parked push",
      [&] { return Stats().watch_stalls >= stalls + 3; },
      [&] { return std::to_string(Stats().watch_stalls); }));

  unsigned holds = cpi_push_testing_retry_holds();
  cpi_push_testing_hold_retry_closed(true);
  registry_test_wrlock(reg_);
  cp_client_stream_cancel(s);
  bool held = cp_test::WaitFor(
      "the retry thread to find the stream closed",
      [&] { return cpi_push_testing_retry_holds() > holds; },
      [&] { return std::to_string(cpi_push_testing_retry_holds()); });
  registry_test_wrunlock(reg_);
  cpi_push_testing_hold_retry_closed(false);
  ASSERT_TRUE(held);
  ASSERT_TRUE(cp_test::WaitFor(
      "the stream's done callback to unlink the watcher",
      [&] { return Stats().watchers == 0; },
      [&] { return std::to_string(Stats().watchers); }));
  // The stream's own done callback may still be finishing its commit: the
  // server stops first (its queue threads drain), as a host's does. The
  // retry thread still has to tell the registry: destroy stops it first.
  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  cp_registry_destroy(reg_);
  reg_ = nullptr;
}

}  // namespace
