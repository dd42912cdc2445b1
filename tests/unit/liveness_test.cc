// Provider liveness in the registry, on a manual clock: leases renewed by
// ReportHealth, probes of silent providers, GONE runtimes unrouted at once
// and removed after the grace, and takeover by a restarted plugin with the
// same self_id under every selection strategy.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "plugin/v1/registry.cplugin.h"
}

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kInterval = 2000;  // ms
constexpr int64_t kGrace = 30000;    // ms

constexpr int kAvailable =
    CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE;
constexpr int kUnavailable =
    CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE;

struct Who {
  std::string id;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Event {
  int rc = 0;
  int state = 0;
  std::string provider;
};

// A prober whose answers the test sets per address.
struct FakeProbe {
  std::mutex mu;
  std::map<std::string, cp_probe_result> answers;
  std::vector<std::string> probed;

  static void Run(const char *const *urls, size_t n, cp_probe_result *results,
                  int64_t timeout_ms, void *user) {
    EXPECT_EQ(kInterval, timeout_ms);
    auto *self = static_cast<FakeProbe *>(user);
    std::lock_guard<std::mutex> lock(self->mu);
    for (size_t i = 0; i < n; i++) {
      self->probed.emplace_back(urls[i]);
      auto it = self->answers.find(urls[i]);
      results[i] = it != self->answers.end() ? it->second : CP_PROBE_ALIVE;
    }
  }
  void Set(const std::string &url, cp_probe_result r) {
    std::lock_guard<std::mutex> lock(mu);
    answers[url] = r;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return probed.size();
  }
};

class LivenessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 1000 * kMs);
    cp_token_store_options to;
    cp_token_store_options_init(&to);
    to.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
    cp_registry_options_init(&ropts_);
    ropts_.tokens = tokens_;
    ropts_.clock = &clock_.clock;
    ropts_.random_seed = 7;
    EXPECT_EQ(kInterval, ropts_.lease_interval_ms);
    EXPECT_EQ(3u, ropts_.lease_misses);
    EXPECT_EQ(kGrace, ropts_.gone_grace_ms);
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

  void Start(bool with_probe) {
    if (with_probe) {
      ropts_.probe = FakeProbe::Run;
      ropts_.probe_user = &probe_;
    }
    ASSERT_EQ(0, cp_registry_create(&reg_, &ropts_));
    ASSERT_EQ(0, cp_auth_create(&auth_));
    ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, cp_auth_register(auth_, server_));
    ASSERT_EQ(0, cp_registry_register(reg_, server_));
    ASSERT_EQ(0, cp_lifecycle_register(reg_, server_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  Who Runtime(const char *self_id, const char *principal = nullptr) {
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    EXPECT_EQ(0, cp_token_store_issue_for(tokens_, self_id, principal, id,
                                          sizeof id, token));
    return Who{id,
               {{"x-plugin-runtime-id", id},
                {"authorization", std::string("Bearer ") + token}}};
  }

  static cp_call_options Opts(const Who &who, std::vector<cp_metadata> *md) {
    md->clear();
    for (auto &h : who.headers) {
      md->push_back({h.first.c_str(), h.second.c_str()});
    }
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md->data();
    o.metadata_count = md->size();
    o.timeout_ms = 10000;
    return o;
  }

  cp_status_code Register(const Who &who, const std::string &type,
                          const std::string &base_url = "") {
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry entry;
    connectplugin__v1__register_service_request__metadata_entry__init(&entry);
    entry.key = const_cast<char *>("base_url");
    entry.value = const_cast<char *>(base_url.c_str());
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry *entries[] = {
        &entry};
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    req.version = const_cast<char *>("1.0.0");
    req.endpoint_path = const_cast<char *>("/svc.v1.Svc/");
    req.n_metadata = base_url.empty() ? 0 : 1;
    req.metadata = entries;
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__RegisterServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__register_service__call(
        client_, &req, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st.code;
  }

  cp_status_code Report(const Who &who, int state) {
    Connectplugin__V1__ReportHealthRequest req =
        CONNECTPLUGIN__V1__REPORT_HEALTH_REQUEST__INIT;
    req.state = static_cast<Connectplugin__V1__HealthState>(state);
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__ReportHealthResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__plugin_lifecycle__report_health__call(client_, &req,
                                                                &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st.code;
  }

  // The provider DiscoverService names, or "" with *code set.
  std::string Discover(const Who &who, const std::string &type,
                       cp_status_code *code = nullptr) {
    Connectplugin__V1__DiscoverServiceRequest req =
        CONNECTPLUGIN__V1__DISCOVER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    Connectplugin__V1__DiscoverServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__discover_service__call(
        client_, &req, &resp, &o, &st);
    std::string provider;
    if (resp != nullptr) {
      provider = resp->endpoint->provider_id;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    if (code != nullptr) {
      *code = st.code;
    }
    return provider;
  }

  cp_client_stream *Watch(const Who &who, const std::string &type) {
    Connectplugin__V1__WatchServiceRequest req =
        CONNECTPLUGIN__V1__WATCH_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type.c_str());
    std::vector<cp_metadata> md;
    cp_call_options o = Opts(who, &md);
    o.timeout_ms = 30000;
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
    cp_status st;
    ev.rc = cp_connectplugin__v1__service_registry__watch_service__next(s, &msg,
                                                                        &st);
    if (ev.rc == 0) {
      ev.state = msg->state;
      if (msg->endpoint != nullptr) {
        ev.provider = msg->endpoint->provider_id;
      }
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    return ev;
  }

  // Moves the clock by `ms` and runs one liveness pass.
  void Pass(int64_t ms) {
    cp_manual_clock_advance(&clock_, ms * kMs);
    ASSERT_EQ(0, cp_registry_check_liveness(reg_));
  }

  cp_registry_stats Stats() {
    cp_registry_stats st;
    cp_registry_get_stats(reg_, &st);
    return st;
  }

  // The provider resolve picks, "" when none is routable.
  std::string Resolve(const std::string &type) {
    cp_registry_endpoint ep;
    if (cp_registry_resolve(reg_, type.c_str(), nullptr, &ep) != 0) {
      return "";
    }
    return ep.provider_id;
  }

  cp_manual_clock clock_;
  FakeProbe probe_;
  cp_token_store *tokens_ = nullptr;
  cp_registry_options ropts_;
  cp_registry *reg_ = nullptr;
  cp_auth *auth_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::vector<cp_client_stream *> streams_;
};

TEST_F(LivenessTest, LapsedLeaseIsUnavailableAtOnceAndRemovedAfterGrace) {
  Start(false);
  Who watcher = Runtime("watcher");
  Who a = Runtime("storage");
  cp_client_stream *s = Watch(watcher, "storage");
  EXPECT_EQ(kUnavailable, Next(s).state);
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage"));
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  Event ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(a.id, ev.provider);

  // Two silent intervals: still within the lease (3 intervals).
  Pass(kInterval);
  Pass(kInterval);
  EXPECT_EQ(a.id, Resolve("storage"));
  EXPECT_EQ(0u, Stats().runtimes_gone);

  Pass(kInterval);
  ev = Next(s);
  EXPECT_EQ(kUnavailable, ev.state);
  EXPECT_EQ("", ev.provider);
  cp_registry_stats st = Stats();
  EXPECT_EQ(1u, st.runtimes_gone);
  EXPECT_EQ(1u, st.liveness_gone_total);
  EXPECT_EQ(1u, st.registrations);  // kept, unrouted, until the grace ends
  EXPECT_EQ("", Resolve("storage"));
  cp_registry_endpoint ep;
  EXPECT_EQ(CP_EDENIED,
            cp_registry_resolve(reg_, "storage", a.id.c_str(), &ep));
  cp_status_code code = CP_STATUS_OK;
  EXPECT_EQ("", Discover(watcher, "storage", &code));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, code);

  Pass(kGrace - kInterval);
  EXPECT_EQ(1u, Stats().registrations);
  Pass(kInterval);
  st = Stats();
  EXPECT_EQ(0u, st.registrations);
  EXPECT_EQ(0u, st.runtimes_gone);
  cp_plugin_health_report *report = new cp_plugin_health_report;
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, a.id.c_str(), report));
  delete report;
}

// Removes `who` the way liveness does: registered, reported once, then
// silent for the lease and the grace.
#define FORGET(who, type)                                           \
  do {                                                              \
    ASSERT_EQ(CP_STATUS_OK, Register(who, type));                   \
    ASSERT_EQ(CP_STATUS_OK, Report(who, CP_PLUGIN_HEALTH_HEALTHY)); \
    Pass(3 * kInterval);                                            \
    Pass(kGrace);                                                   \
    ASSERT_EQ(0u, Stats().registrations);                           \
  } while (0)

// A runtime liveness removed while its token stayed good (a plugin paused
// past the lease and the grace) is told so by its next ReportHealth,
// UNAVAILABLE, until it shows up again (here: registers), instead of
// reporting on with no registrations; the report is not stored.
TEST_F(LivenessTest, AForgottenRuntimeIsToldToRejoinUntilItDoes) {
  Start(false);
  Who a = Runtime("storage");
  FORGET(a, "storage");
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  cp_plugin_health_report *report = new cp_plugin_health_report;
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, a.id.c_str(), report));
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage"));
  EXPECT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  EXPECT_EQ(a.id, Resolve("storage"));
  // The host's own report for it (cp_registry_report_health) is trusted.
  Who b = Runtime("logger");
  FORGET(b, "logger");
  EXPECT_EQ(
      0, cp_registry_report_health(reg_, b.id.c_str(), CP_PLUGIN_HEALTH_HEALTHY,
                                   nullptr, nullptr, 0));
  EXPECT_EQ(0, cp_registry_get_health(reg_, b.id.c_str(), report));
  delete report;
}

// Only liveness forgets: a runtime the host removed on purpose reports on
// as before, and a restarted successor (same self_id and principal) that
// registered means the resumed predecessor is not told to rejoin, which
// would push the successor out.
TEST_F(LivenessTest, OnlyLivenessRemovalsWithoutASuccessorAreToldToRejoin) {
  Start(false);
  Who removed = Runtime("kv");
  ASSERT_EQ(CP_STATUS_OK, Register(removed, "kv"));
  ASSERT_EQ(0, cp_registry_remove_runtime(reg_, removed.id.c_str()));
  EXPECT_EQ(CP_STATUS_OK, Report(removed, CP_PLUGIN_HEALTH_HEALTHY));

  Who old = Runtime("storage", "api-key:p");
  Who other = Runtime("storage", "api-key:q");
  FORGET(old, "storage");
  FORGET(other, "storage");
  Who successor = Runtime("storage", "api-key:p");
  ASSERT_EQ(CP_STATUS_OK, Register(successor, "storage"));
  EXPECT_EQ(CP_STATUS_OK, Report(old, CP_PLUGIN_HEALTH_HEALTHY));
  EXPECT_EQ(successor.id, Resolve("storage"));
  // Another principal's runtime of that name is not its predecessor.
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, Report(other, CP_PLUGIN_HEALTH_HEALTHY));
}

// Each completed pass is counted and stamped with the wall clock (the
// operator's cplugin_sweep_last_success_timestamp_seconds{sweeper=
// "registry_liveness"}); before the first, the registry's creation stands in.
TEST_F(LivenessTest, PassesAreCountedAndStamped) {
  Start(false);
  cp_registry_stats st = Stats();
  EXPECT_EQ(0u, st.liveness_passes);
  const int64_t created = st.last_liveness_unix_ms;
  EXPECT_GT(created, 0);
  Pass(kInterval);
  Pass(kInterval);
  st = Stats();
  EXPECT_EQ(2u, st.liveness_passes);
  EXPECT_GE(st.last_liveness_unix_ms, created);
}

TEST_F(LivenessTest, AProviderThatKeepsReportingStaysAndIsNeverProbed) {
  Start(true);
  probe_.Set("127.0.0.1:1", CP_PROBE_DEAD);
  Who a = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage", "127.0.0.1:1"));
  for (int i = 0; i < 30; i++) {
    Pass(kInterval - 1);
    ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  }
  EXPECT_EQ(a.id, Resolve("storage"));
  EXPECT_EQ(0u, Stats().liveness_gone_total);
  EXPECT_EQ(0u, probe_.Count());
}

TEST_F(LivenessTest, ANeverReportingProviderIsKeptWithoutAProbe) {
  Start(false);
  Who a = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage", "127.0.0.1:1"));
  for (int i = 0; i < 20; i++) {
    Pass(kInterval);
  }
  EXPECT_EQ(a.id, Resolve("storage"));
  EXPECT_EQ(0u, Stats().liveness_gone_total);
}

TEST_F(LivenessTest, SilentProvidersAreProbedAndOnlyFailedProbesLapse) {
  Start(true);
  Who watcher = Runtime("watcher");
  Who a = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage", "127.0.0.1:1"));
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  cp_client_stream *s = Watch(watcher, "storage");
  EXPECT_EQ(kAvailable, Next(s).state);

  // Not probed within its first interval; answered probes renew the lease.
  Pass(kInterval - 1);
  EXPECT_EQ(0u, probe_.Count());
  for (int i = 0; i < 10; i++) {
    Pass(kInterval);
  }
  EXPECT_EQ(10u, probe_.Count());
  EXPECT_EQ("127.0.0.1:1", probe_.probed[0]);
  EXPECT_EQ(a.id, Resolve("storage"));

  // Two failed probes, then an answer: still within the lease.
  probe_.Set("127.0.0.1:1", CP_PROBE_DEAD);
  Pass(kInterval);
  Pass(kInterval);
  probe_.Set("127.0.0.1:1", CP_PROBE_ALIVE);
  Pass(kInterval);
  EXPECT_EQ(a.id, Resolve("storage"));

  // Three intervals without an answer: gone.
  probe_.Set("127.0.0.1:1", CP_PROBE_DEAD);
  Pass(kInterval);
  Pass(kInterval);
  EXPECT_EQ(a.id, Resolve("storage"));
  Pass(kInterval);
  EXPECT_EQ("", Resolve("storage"));
  EXPECT_EQ(kUnavailable, Next(s).state);

  // An answer within the grace brings it back.
  probe_.Set("127.0.0.1:1", CP_PROBE_ALIVE);
  Pass(kInterval);
  EXPECT_EQ(a.id, Resolve("storage"));
  EXPECT_EQ(kAvailable, Next(s).state);
  EXPECT_EQ(0u, Stats().runtimes_gone);
}

TEST_F(LivenessTest, UnknownProbeResultsLeaveItToTheLease) {
  Start(true);
  probe_.Set("https://127.0.0.1:1", CP_PROBE_UNKNOWN);
  Who quiet = Runtime("quiet");
  Who reported = Runtime("reported");
  ASSERT_EQ(CP_STATUS_OK, Register(quiet, "a", "https://127.0.0.1:1"));
  ASSERT_EQ(CP_STATUS_OK, Register(reported, "b", "https://127.0.0.1:1"));
  ASSERT_EQ(CP_STATUS_OK, Report(reported, CP_PLUGIN_HEALTH_HEALTHY));
  for (int i = 0; i < 3; i++) {
    Pass(kInterval);
  }
  EXPECT_EQ(quiet.id, Resolve("a"));
  EXPECT_EQ("", Resolve("b"));
}

TEST_F(LivenessTest, AGoneProviderThatReportsAgainComesBack) {
  Start(false);
  Who watcher = Runtime("watcher");
  Who a = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage"));
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  cp_client_stream *s = Watch(watcher, "storage");
  EXPECT_EQ(kAvailable, Next(s).state);
  Pass(3 * kInterval);
  EXPECT_EQ(kUnavailable, Next(s).state);
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  Event ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(a.id, ev.provider);
  // The grace of its former absence ends without a removal.
  for (int64_t t = 0; t <= kGrace; t += kInterval) {
    Pass(kInterval);
    ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  }
  EXPECT_EQ(a.id, Resolve("storage"));
  EXPECT_EQ(1u, Stats().registrations);
}

TEST_F(LivenessTest, LivenessOffNeverLapses) {
  ropts_.lease_interval_ms = 0;
  Start(false);
  Who a = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(a, "storage"));
  ASSERT_EQ(CP_STATUS_OK, Report(a, CP_PLUGIN_HEALTH_HEALTHY));
  Pass(100 * kInterval);
  EXPECT_EQ(a.id, Resolve("storage"));
}

TEST_F(LivenessTest, OptionsOutOfRangeAreRefused) {
  cp_registry *reg = nullptr;
  cp_registry_options o;
  for (int i = 0; i < 4; i++) {
    cp_registry_options_init(&o);
    switch (i) {
      case 0:
        o.lease_interval_ms = -1;
        break;
      case 1:
        o.lease_misses = 0;
        break;
      case 2:
        o.gone_grace_ms = -1;
        break;
      default:
        o.lease_interval_ms = INT64_MAX;
        break;
    }
    EXPECT_EQ(CP_EINVAL, cp_registry_create(&reg, &o)) << i;
  }
  EXPECT_EQ(CP_EINVAL, cp_registry_check_liveness(nullptr));
}

// A restarted plugin (same self_id, new runtime ID) takes over its dead
// predecessor's registration whatever the strategy; other providers stay.
TEST_F(LivenessTest, TakeoverBySelfIdUnderEveryStrategy) {
  Start(false);
  const cp_select_strategy strategies[] = {
      CP_SELECT_FIRST, CP_SELECT_ROUND_ROBIN, CP_SELECT_RANDOM,
      CP_SELECT_WEIGHTED};
  for (cp_select_strategy strategy : strategies) {
    SCOPED_TRACE(strategy);
    std::string type = "storage" + std::to_string(strategy);
    ASSERT_EQ(0, cp_registry_set_strategy(reg_, type.c_str(), strategy));
    Who old = Runtime("storage");
    Who other = Runtime("mirror");
    ASSERT_EQ(CP_STATUS_OK, Register(old, type, "127.0.0.1:1"));
    ASSERT_EQ(CP_STATUS_OK, Register(other, type, "127.0.0.1:2"));
    std::set<std::string> before;
    for (int i = 0; i < 64; i++) {
      before.insert(Resolve(type));
    }
    if (strategy != CP_SELECT_FIRST) {
      EXPECT_EQ(2u, before.size());  // both are picked before the takeover
    }

    Who successor = Runtime("storage");
    ASSERT_NE(old.id, successor.id);
    ASSERT_EQ(CP_STATUS_OK, Register(successor, type, "127.0.0.1:1"));
    std::set<std::string> after;
    for (int i = 0; i < 64; i++) {
      after.insert(Resolve(type));
      after.insert(Discover(other, type));
    }
    EXPECT_EQ(0u, after.count(old.id));
    if (strategy == CP_SELECT_FIRST) {
      EXPECT_EQ(std::set<std::string>{other.id}, after);
    } else {
      EXPECT_EQ((std::set<std::string>{other.id, successor.id}), after);
    }
    cp_registry_endpoint ep;
    EXPECT_EQ(CP_ENOTFOUND,
              cp_registry_resolve(reg_, type.c_str(), old.id.c_str(), &ep));
  }
  EXPECT_EQ(4u, Stats().takeovers_total);
  EXPECT_EQ(8u, Stats().registrations);
}

TEST_F(LivenessTest, WatchersSeeTheSuccessorTakeOver) {
  Start(false);
  Who watcher = Runtime("watcher");
  Who old = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(old, "storage"));
  ASSERT_EQ(CP_STATUS_OK, Report(old, CP_PLUGIN_HEALTH_HEALTHY));
  cp_client_stream *s = Watch(watcher, "storage");
  EXPECT_EQ(old.id, Next(s).provider);
  Who successor = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(successor, "storage"));
  Event ev = Next(s);
  EXPECT_EQ(kAvailable, ev.state);
  EXPECT_EQ(successor.id, ev.provider);
  // The predecessor held nothing else: its health went with it.
  cp_plugin_health_report *report = new cp_plugin_health_report;
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, old.id.c_str(), report));
  delete report;
  EXPECT_EQ(2u, Stats().runtimes);  // the successor and the watcher
}

TEST_F(LivenessTest, TakeoverIsPerTypeAndNeedsTheSamePrincipal) {
  Start(false);
  Who old = Runtime("storage", "api-key:storage");
  ASSERT_EQ(CP_STATUS_OK, Register(old, "kv"));
  ASSERT_EQ(CP_STATUS_OK, Register(old, "blob"));
  // Another principal claiming the self_id pushes nobody out.
  Who impostor = Runtime("storage", "api-key:other");
  ASSERT_EQ(CP_STATUS_OK, Register(impostor, "kv"));
  Who anonymous = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(anonymous, "kv"));
  EXPECT_EQ(old.id, Resolve("kv"));
  EXPECT_EQ(0u, Stats().takeovers_total);
  // The real successor takes over kv; blob stays with the predecessor
  // until the successor registers it too.
  Who successor = Runtime("storage", "api-key:storage");
  ASSERT_EQ(CP_STATUS_OK, Register(successor, "kv"));
  EXPECT_EQ(old.id, Resolve("blob"));
  EXPECT_NE(old.id, Resolve("kv"));
  ASSERT_EQ(CP_STATUS_OK, Register(successor, "blob"));
  EXPECT_EQ(successor.id, Resolve("blob"));
  EXPECT_EQ(2u, Stats().takeovers_total);
}

// The host registers for runtimes it manages (and removes them itself):
// its registrations neither take over nor are taken over.
TEST_F(LivenessTest, HostRegistrationsNeverTakeOver) {
  Start(false);
  cp_registry_service svc = {"storage", "1.0.0", "/svc.v1.Svc/", nullptr, 0};
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "storage-00000000000000aa",
                                            &svc, nullptr));
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "storage-00000000000000bb",
                                            &svc, nullptr));
  Who plugin = Runtime("storage");
  ASSERT_EQ(CP_STATUS_OK, Register(plugin, "storage"));
  EXPECT_EQ("storage-00000000000000aa", Resolve("storage"));
  EXPECT_EQ(3u, Stats().registrations);
  EXPECT_EQ(0u, Stats().takeovers_total);
}

}  // namespace
