// A whole host (cp_host) with self-registering plugins (cp_plugin_runtime) in
// one process: registration with base_url, discovery, health reporting,
// dependency watching, routed calls, revocation, metrics over HTTP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "wait.h"

extern "C" {
#include "core/housekeeper.h"
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_plugin.h"
#include "echo_service.h"
#include "plugin/v1/registry.cplugin.h"
}

namespace {

// GET http://127.0.0.1:port/path; returns the whole response.
std::string HttpGet(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  std::string req = std::string("GET ") + path +
                    " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// A plugin that serves EchoService on its own server and joins the host.
struct EchoPlugin : cp_test::EchoPlugin {
  int Start(const std::string &host, const char *self_id,
            const cp_service_dep *deps, size_t dep_count,
            cp_dependency_fn on_dep = nullptr, void *user = nullptr,
            const char *type = "echo") {
    return cp_test::EchoPlugin::Start(
        host, self_id, type, "1.2.0", deps, dep_count,
        [&](cp_plugin_runtime_options &o) {
          o.on_dependency = on_dep;
          o.user = user;
          // These tests revoke identities and look at what follows: no
          // heartbeat, so the runtime does not rejoin meanwhile
          // (recovery_test.cc tests it).
          o.heartbeat_interval_ms = 0;
        });
  }
};

// Dependency events, counted on the runtime's watch thread.
struct DepEvents {
  std::atomic<int> available{0};
  std::atomic<int> unavailable{0};
};

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    // Rate limits refill with time (RegisterService: 1/s): on a slow machine
    // a refill between calls would change how many pass. Time stands still.
    cp_manual_clock_init(&rate_clock_, 1000000000);
    o.rate.limiter.clock = &rate_clock_.clock;
    Configure(&o);
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, &metrics_port_));
    target_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
    cp_host_destroy(host_);
  }
  virtual void Configure(cp_host_options *o) { (void)o; }

  // A routed Echo the provider holds for 3 s, on a thread of its own; the
  // tests end it earlier by revoking the caller. *out gets its status.
  static std::thread HoldRoutedCall(cp_client *echo, cp_status *out) {
    return std::thread([echo, out] {
      Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
      req.text = const_cast<char *>("held");
      req.delay_ms = 3000;
      cp_call_options o;
      cp_call_options_init(&o);
      o.timeout_ms = 60000;
      Cplugintest__V1__EchoResponse *resp = nullptr;
      cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp, &o, out);
      if (resp != nullptr) {
        protobuf_c_message_free_unpacked(&resp->base, nullptr);
      }
    });
  }

  ::testing::AssertionResult ProviderHolds() {
    return cp_test::WaitFor(
        "the provider to hold the routed call",
        [&] { return echo_stats_get(a_.stats, ECHO_CALLS) == 1; },
        [&] { return std::to_string(echo_stats_get(a_.stats, ECHO_CALLS)); });
  }

  cp_status Discover(cp_plugin_runtime *rt, const char *type,
                     std::string *provider) {
    Connectplugin__V1__DiscoverServiceRequest req =
        CONNECTPLUGIN__V1__DISCOVER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>(type);
    Connectplugin__V1__DiscoverServiceResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__service_registry__discover_service__call(
        cp_plugin_runtime_host(rt), &req, &resp, nullptr, &st);
    if (resp != nullptr) {
      *provider = resp->endpoint->provider_id;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_manual_clock rate_clock_;
  cp_host *host_ = nullptr;
  int metrics_port_ = 0;
  std::string target_;
  // Outlives the test body: b_'s watch thread may call back until TearDown.
  DepEvents events_;
  EchoPlugin a_, b_;
};

void OnDep(const char *type, bool available, const char *provider, void *user) {
  auto *e = static_cast<DepEvents *>(user);
  (available ? e->available : e->unavailable)++;
}

std::string DepSeen(const DepEvents &e, cp_plugin_runtime *rt) {
  return "available events " + std::to_string(e.available.load()) +
         ", unavailable events " + std::to_string(e.unavailable.load()) +
         ", dependency_available " +
         (cp_plugin_runtime_dependency_available(rt, "echo") ? "true"
                                                             : "false");
}

TEST_F(HostTest, SelfRegisteringPluginsDiscoverAndRouteThroughTheHost) {
  ASSERT_EQ(0, a_.Start(target_, "echo-a", nullptr, 0));
  std::string provider;
  cp_status st = Discover(a_.rt, "echo", &provider);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(cp_plugin_runtime_id(a_.rt), provider);

  // A second plugin that depends on "echo" sees it available and calls it
  // through the host's router.
  DepEvents &events = events_;
  static const cp_service_dep deps[] = {{"echo", "1.0.0", true, true}};
  ASSERT_EQ(0, b_.Start(target_, "caller-b", deps, 1, OnDep, &events, "other"));
  // The watch event arrives on the runtime's watch thread.
  ASSERT_TRUE(cp_test::WaitFor(
      "caller-b told that echo is available",
      [&] { return events.available.load() > 0; },
      [&] { return DepSeen(events, b_.rt); }));
  EXPECT_TRUE(cp_plugin_runtime_dependency_available(b_.rt, "echo"));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(b_.rt, "echo", &echo));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("via host");
  req.metadata_key = const_cast<char *>("x-plugin-caller-id");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp,
                                                            nullptr, &st))
      << st.message;
  EXPECT_STREQ("via host", resp->text);
  EXPECT_STREQ(cp_plugin_runtime_id(b_.rt), resp->metadata_value);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  EXPECT_EQ(1, echo_stats_get(a_.stats, ECHO_CALLS));

  // Revoking the provider's identity removes its registration: discovery
  // fails and the watcher is told.
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_),
                                     cp_plugin_runtime_id(a_.rt)));
  ASSERT_TRUE(cp_test::WaitFor(
      "caller-b told that echo is unavailable",
      [&] { return events.unavailable.load() > 0; },
      [&] { return DepSeen(events, b_.rt); }));
  EXPECT_GE(events.unavailable.load(), 1);
  EXPECT_FALSE(cp_plugin_runtime_dependency_available(b_.rt, "echo"));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Discover(b_.rt, "echo", &provider).code);
  EXPECT_NE(0, cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp,
                                                            nullptr, &st));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
}

// A provider may register any base_url the registry accepts (up to 4096
// bytes): the router's target holds all of it. This one is 700 bytes (its
// trailing slashes are dropped when the router connects); a route target
// of 300 bytes answered NOT_FOUND for it.
TEST_F(HostTest, ALongBaseUrlIsStillRoutable) {
  std::string long_url;
  ASSERT_EQ(0, a_.cp_test::EchoPlugin::Start(
                   target_, "echo-long", "echo", "1.2.0", nullptr, 0,
                   [&](cp_plugin_runtime_options &o) {
                     long_url = std::string(o.base_url);
                     long_url.append(700 - long_url.size(), '/');
                     o.base_url = long_url.c_str();
                     o.heartbeat_interval_ms = 0;
                   }));
  ASSERT_EQ(0, b_.Start(target_, "caller-b", nullptr, 0));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(b_.rt, "echo", &echo));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("far away");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp,
                                                            nullptr, &st))
      << st.message;
  EXPECT_STREQ("far away", resp->text);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
}

// A caller whose identity is revoked loses its routed calls in flight at
// once; they do not run on with authority it no longer has.
TEST_F(HostTest, RevokingTheCallerEndsItsRoutedCalls) {
  ASSERT_EQ(0, a_.Start(target_, "echo-a", nullptr, 0));
  ASSERT_EQ(
      0, b_.Start(target_, "caller-b", nullptr, 0, nullptr, nullptr, "other"));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(b_.rt, "echo", &echo));
  cp_status slow{};
  std::thread caller = HoldRoutedCall(echo, &slow);
  ASSERT_TRUE(ProviderHolds());
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_),
                                     cp_plugin_runtime_id(b_.rt)));
  caller.join();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, slow.code) << slow.message;
  EXPECT_STREQ("caller identity revoked or expired", slow.message);
  cp_router_stats rs;
  EXPECT_TRUE(cp_test::WaitFor(
      "the ended call's slot to come back",
      [&] {
        cp_router_get_stats(cp_host_router(host_), &rs);
        return rs.inflight == 0;
      },
      [&] { return std::to_string(rs.inflight) + " in flight"; }));
}

// The router's limits are the host's options: one routed call in flight per
// caller here, so a second one is refused while the first is held.
class HostRouterLimitTest : public HostTest {
 protected:
  void Configure(cp_host_options *o) override {
    o->router.max_inflight_per_caller = 1;
  }
};

TEST_F(HostRouterLimitTest, RoutedCallsInFlightPerCallerFollowTheOptions) {
  ASSERT_EQ(0, a_.Start(target_, "echo-a", nullptr, 0));
  ASSERT_EQ(
      0, b_.Start(target_, "caller-b", nullptr, 0, nullptr, nullptr, "other"));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(b_.rt, "echo", &echo));
  cp_status held{};
  std::thread caller = HoldRoutedCall(echo, &held);
  ASSERT_TRUE(ProviderHolds());
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("second");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  EXPECT_NE(0, cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp,
                                                            nullptr, &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code) << st.message;
  EXPECT_EQ(1, echo_stats_get(a_.stats, ECHO_CALLS));
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_),
                                     cp_plugin_runtime_id(b_.rt)));
  caller.join();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, held.code) << held.message;
}

TEST_F(HostTest, MetricsHealthAndReadiness) {
  ASSERT_EQ(0, a_.Start(target_, "echo-a", nullptr, 0));
  std::string provider;
  ASSERT_EQ(CP_STATUS_OK, Discover(a_.rt, "echo", &provider).code);
  // The request counter is the post-call hook's, which runs after the reply
  // reached the client: scrape until the call is in it.
  const std::string discovered =
      "cplugin_requests_total{method=\"/connectplugin.v1.ServiceRegistry/"
      "DiscoverService\",code=\"OK\"} 1\n";
  std::string metrics;
  ASSERT_TRUE(cp_test::WaitFor(
      "/metrics to count the DiscoverService call",
      [&] {
        metrics = HttpGet(metrics_port_, "/metrics");
        return metrics.find(discovered) != std::string::npos;
      },
      [&] { return metrics; }));
  EXPECT_NE(std::string::npos, metrics.find("200 OK")) << metrics;
  EXPECT_NE(std::string::npos,
            metrics.find("cplugin_handshakes_total{result=\"ok\"} 1\n"))
      << metrics;
  EXPECT_NE(std::string::npos, metrics.find("cplugin_tokens_active 1\n"))
      << metrics;
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/healthz").find("200"));
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/readyz").find("200"));
  // /readyz follows the overall health status.
  ASSERT_EQ(0, cp_health_set(cp_host_health(host_), "",
                             CP_SERVING_STATUS_NOT_SERVING));
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/readyz").find("503"));
  ASSERT_EQ(
      0, cp_health_set(cp_host_health(host_), "", CP_SERVING_STATUS_SERVING));
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/readyz").find("200"));
  a_.Stop();
  ASSERT_EQ(0, cp_host_shutdown(host_, 500));
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/readyz").find("503"));
  EXPECT_NE(std::string::npos, HttpGet(metrics_port_, "/healthz").find("200"));
}

TEST_F(HostTest, RegisterServiceBurstIsCutAtTheRuntimeCap) {
  ASSERT_EQ(0, a_.Start(target_, "echo-a", nullptr, 0));  // uses one token
  cp_client *host = cp_plugin_runtime_host(a_.rt);
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 70; i++) {
    std::string path = "/cplugintest.v1.EchoService" + std::to_string(i) + "/";
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>("echo");
    req.version = const_cast<char *>("1.0.0");
    req.endpoint_path = const_cast<char *>(path.c_str());
    Connectplugin__V1__RegisterServiceResponse *resp = nullptr;
    cp_status st;
    if (cp_connectplugin__v1__service_registry__register_service__call(
            host, &req, &resp, nullptr, &st) == 0) {
      ok++;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    } else if (st.code == CP_STATUS_RESOURCE_EXHAUSTED) {
      EXPECT_STREQ("rate limit exceeded", st.message);
      limited++;
    }
  }
  // The plugin's own start registered once: 63 more fit in the burst of 64
  // (the per-runtime cap); the rest are cut by the rate limit.
  EXPECT_EQ(63, ok);
  EXPECT_EQ(7, limited);
}

// A plugin that provides 7 services and watches 5 joins with what its
// first budgets hold (the limiter's clock stands still here: nothing
// refills): the RegisterService and WatchService bursts cover the
// per-runtime caps, so a join is never cut by its own rate limit and
// retried forever (with bursts of 5 and 3 it was).
TEST_F(HostTest, APluginWithManyServicesAndDependenciesJoinsAtOnce) {
  static const cp_service_decl provides[] = {
      {"svc0", "1.0.0", "/s0.v1.S/"}, {"svc1", "1.0.0", "/s1.v1.S/"},
      {"svc2", "1.0.0", "/s2.v1.S/"}, {"svc3", "1.0.0", "/s3.v1.S/"},
      {"svc4", "1.0.0", "/s4.v1.S/"}, {"svc5", "1.0.0", "/s5.v1.S/"},
      {"svc6", "1.0.0", "/s6.v1.S/"}};
  static const cp_service_dep deps[] = {{"dep0", "", false, true},
                                        {"dep1", "", false, true},
                                        {"dep2", "", false, true},
                                        {"dep3", "", false, true},
                                        {"dep4", "", false, true}};
  cp_test::EchoPlugin big;
  ASSERT_EQ(0, big.Start(target_, "big", "svc0", "1.0.0", deps, 5,
                         [](cp_plugin_runtime_options &o) {
                           o.provides = provides;
                           o.provides_count = 7;
                         }));
  cp_registry_stats st;
  EXPECT_TRUE(cp_test::WaitFor(
      "7 registrations and 5 watches",
      [&] {
        cp_registry_get_stats(cp_host_registry(host_), &st);
        return st.registrations == 7 && st.watchers == 5;
      },
      [&] {
        return std::to_string(st.registrations) + " registrations, " +
               std::to_string(st.watchers) + " watchers";
      }));
  // Joined once: the identity it started with is the one registered.
  std::string id = cp_plugin_runtime_id(big.rt);
  cp_registry_endpoint ep;
  ASSERT_EQ(0,
            cp_registry_resolve(cp_host_registry(host_), "svc6", nullptr, &ep));
  EXPECT_EQ(id, ep.provider_id);
  big.Stop();
}

// The token store's and the rate limiter's sweeps and the registry's and
// health service's watch retries all run on one housekeeping thread.
TEST(HostThreads, AHostRunsOneHousekeepingThread) {
  size_t before = cpi_housekeeper_threads();
  cp_host_options o;
  cp_host_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.metrics_address = nullptr;
  cp_host *host = nullptr;
  ASSERT_EQ(0, cp_host_create(&host, &o));
  EXPECT_EQ(before + 1, cpi_housekeeper_threads());
  cp_host_destroy(host);
  EXPECT_EQ(before, cpi_housekeeper_threads());
}

// Without cp_host_options.etcd a host has no replica link; with bad etcd
// options it is not created. (Replicas with a real etcd:
// replica_identities_test and python_replicas_test.)
TEST(HostReplicas, OptionsAreCheckedAndStatsNeedALink) {
  cp_host_options o;
  cp_host_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.metrics_address = nullptr;
  cp_host *host = nullptr;
  ASSERT_EQ(0, cp_host_create(&host, &o));
  cp_replica_stats st;
  EXPECT_EQ(CP_ENOTFOUND, cp_host_replica_stats(host, &st));
  EXPECT_EQ(CP_EINVAL, cp_host_replica_stats(host, nullptr));
  cp_host_destroy(host);

  cp_etcd_options etcd;
  cp_etcd_options_init(&etcd);
  EXPECT_STREQ("/cplugin/", etcd.prefix);
  EXPECT_EQ(900, etcd.stale_ms);
  etcd.endpoints = "127.0.0.1:1";
  etcd.secret = "short";
  etcd.secret_len = 5;
  o.etcd = &etcd;
  host = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_host_create(&host, &o));
  EXPECT_EQ(nullptr, host);
  etcd.secret = "long enough for the replicas";
  etcd.secret_len = strlen("long enough for the replicas");
  etcd.endpoints = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_host_create(&host, &o));
  // An etcd nobody answers at is an outage, not an error.
  etcd.endpoints = "127.0.0.1:1";
  ASSERT_EQ(0, cp_host_create(&host, &o));
  ASSERT_EQ(0, cp_host_replica_stats(host, &st));
  EXPECT_EQ(-1, st.secret_ok);
  cp_host_destroy(host);
}

}  // namespace
