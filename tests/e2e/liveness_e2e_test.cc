// Provider liveness with a real host and self-registering plugins in one
// process: a provider whose server stops is probed, unrouted, its watchers
// told, then removed; a provider that stays up (and never reports again) is
// kept; a restarted provider with the same self_id takes over at once.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include <signal.h>
#include <stdlib.h>

#include "echo_plugin.h"
#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "process.h"
}

#ifndef LOGGER_PLUGIN_PATH
#define LOGGER_PLUGIN_PATH "examples/urlshortener/logger-plugin"
#endif

namespace {

// A plugin serving EchoService on its own server, joined to the host. Its
// server can stop on its own (StopServer), as when the process dies.
struct Provider : cp_test::EchoPlugin {
  int64_t heartbeat_ms = -1;  // -1: the runtime's default

  int Start(const std::string &host, const char *self_id, const char *type,
            const cp_service_dep *deps = nullptr, size_t dep_count = 0,
            cp_dependency_fn on_dep = nullptr, void *user = nullptr) {
    return cp_test::EchoPlugin::Start(
        host, self_id, type, "1.0.0", deps, dep_count,
        [&](cp_plugin_runtime_options &o) {
          o.on_dependency = on_dep;
          o.user = user;
          if (heartbeat_ms >= 0) {
            o.heartbeat_interval_ms = heartbeat_ms;
          }
        });
  }
};

struct DepEvents {
  std::atomic<int> available{0};
  std::atomic<int> unavailable{0};
};

void OnDep(const char *type, bool available, const char *provider, void *user) {
  (void)type;
  (void)provider;
  auto *e = static_cast<DepEvents *>(user);
  (available ? e->available : e->unavailable)++;
}

class LivenessE2eTest : public ::testing::Test {
 protected:
  void StartHost(int64_t lease_ms) {
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    // Rate limits refill with time; standing still keeps them out of the
    // way (a handful of registrations stays within the burst).
    cp_manual_clock_init(&rate_clock_, 1000000000);
    o.rate.limiter.clock = &rate_clock_.clock;
    o.registry.lease_interval_ms = lease_ms;
    o.registry.lease_misses = 3;
    o.registry.gone_grace_ms = 500;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    target_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    consumer_.Stop();
    steady_.Stop();
    old_.Stop();
    successor_.Stop();
    cp_host_destroy(host_);
  }

  cp_registry_stats Stats() {
    cp_registry_stats st;
    cp_registry_get_stats(cp_host_registry(host_), &st);
    return st;
  }

  size_t Listed(const char *type) {
    size_t n = 0;
    cp_registry_list(
        cp_host_registry(host_), type,
        [](const cp_registry_listing *, void *) {}, nullptr, &n);
    return n;
  }

  bool Routed(const char *type, const char *provider) {
    cp_registry_endpoint ep;
    return cp_registry_resolve(cp_host_registry(host_), type, provider, &ep) ==
           0;
  }

  // An Echo through the host's router from the consumer.
  cp_status_code Call(cp_client *echo) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("ping");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = 10000;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st.code;
  }

  std::string Seen() {
    cp_registry_stats st = Stats();
    return "registrations " + std::to_string(st.registrations) + ", gone " +
           std::to_string(st.runtimes_gone) + ", available events " +
           std::to_string(events_.available.load()) + ", unavailable events " +
           std::to_string(events_.unavailable.load());
  }

  cp_manual_clock rate_clock_;
  cp_host *host_ = nullptr;
  std::string target_;
  DepEvents events_;
  Provider consumer_, steady_, old_, successor_;
};

TEST_F(LivenessE2eTest, AStoppedProviderIsUnroutedThenRemovedAndReplaced) {
  StartHost(100);
  // Hung: no heartbeat either (one that still reports is told to rejoin
  // once removed; see APausedPluginTheHostForgotRejoinsWhenItResumes).
  old_.heartbeat_ms = 0;
  ASSERT_EQ(0, old_.Start(target_, "storage", "echo"));
  ASSERT_EQ(0, steady_.Start(target_, "steady", "steady"));
  static const cp_service_dep deps[] = {{"echo", "1.0.0", false, true}};
  ASSERT_EQ(0, consumer_.Start(target_, "consumer", "other", deps, 1, OnDep,
                               &events_));
  ASSERT_TRUE(cp_test::WaitFor(
      "the consumer told that echo is available",
      [&] { return events_.available.load() > 0; }, [&] { return Seen(); }));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(consumer_.rt, "echo", &echo));
  ASSERT_EQ(CP_STATUS_OK, Call(echo));

  // The provider's server dies; its runtime object (and token) stay, as
  // when a process hangs or its listener is gone.
  old_.StopServer(0);
  ASSERT_TRUE(cp_test::WaitFor(
      "the consumer told that echo is unavailable",
      [&] { return events_.unavailable.load() > 0; }, [&] { return Seen(); }));
  EXPECT_FALSE(Routed("echo", nullptr));
  EXPECT_NE(CP_STATUS_OK, Call(echo));
  ASSERT_TRUE(cp_test::WaitFor(
      "the gone provider removed after the grace",
      [&] { return Stats().registrations == 2 && Stats().runtimes_gone == 0; },
      [&] { return Seen(); }));
  // The provider that stayed up (and never reported again) answers its
  // probes and is kept.
  EXPECT_TRUE(Routed("steady", cp_plugin_runtime_id(steady_.rt)));

  // A restarted provider serves again.
  int before = events_.available.load();
  ASSERT_EQ(0, successor_.Start(target_, "storage", "echo"));
  ASSERT_TRUE(cp_test::WaitFor(
      "the consumer told that echo is back",
      [&] { return events_.available.load() > before; },
      [&] { return Seen(); }));
  EXPECT_EQ(CP_STATUS_OK, Call(echo));
  EXPECT_EQ(1, echo_stats_get(successor_.stats, ECHO_CALLS));
}

// Without liveness at all, a restarted provider with the same self_id still
// replaces its predecessor the moment it registers.
TEST_F(LivenessE2eTest, ARestartedProviderTakesOverAtOnce) {
  StartHost(0);
  ASSERT_EQ(0, old_.Start(target_, "storage", "echo"));
  ASSERT_EQ(0, consumer_.Start(target_, "consumer", "other"));
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(consumer_.rt, "echo", &echo));
  ASSERT_EQ(CP_STATUS_OK, Call(echo));
  old_.StopServer(0);
  ASSERT_EQ(0, successor_.Start(target_, "storage", "echo"));
  EXPECT_FALSE(Routed("echo", cp_plugin_runtime_id(old_.rt)));
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(CP_STATUS_OK, Call(echo));
  }
  EXPECT_EQ(5, echo_stats_get(successor_.stats, ECHO_CALLS));
  EXPECT_EQ(1u, Stats().takeovers_total);
}

// A plugin process that watches nothing (the URL shortener's logger) is
// paused with SIGSTOP until the host declares it gone and removes it; its
// token stays good. Resumed, its next heartbeat is answered UNAVAILABLE
// "runtime is gone", so it rejoins: the same identity, registered again.
// (Before, it kept reporting health and was never routed to again.)
TEST_F(LivenessE2eTest, APausedPluginTheHostForgotRejoinsWhenItResumes) {
  StartHost(100);
  std::string path =
      test_program_path("CPLUGIN_LOGGER_PLUGIN", LOGGER_PLUGIN_PATH);
  char *argv[] = {const_cast<char *>(path.c_str()), nullptr};
  test_process logger;
  ASSERT_EQ(0, setenv("HOST_URL", target_.c_str(), 1));
  int started = test_process_start(&logger, argv, test_wait_ms());
  unsetenv("HOST_URL");
  ASSERT_EQ(0, started);
  cp_registry *reg = cp_host_registry(host_);
  cp_registry_endpoint ep;
  bool joined = cp_test::WaitFor("the logger registered", [&] {
    return cp_registry_resolve(reg, "logger", nullptr, &ep) == 0;
  });
  std::string id = joined ? ep.provider_id : "";
  bool removed =
      joined && kill(logger.pid, SIGSTOP) == 0 &&
      cp_test::WaitFor(
          "the paused logger removed", [&] { return Listed("logger") == 0; },
          [&] { return Seen(); });
  EXPECT_TRUE(removed);
  kill(logger.pid, SIGCONT);
  if (removed) {
    EXPECT_TRUE(cp_test::WaitFor("the resumed logger registered again", [&] {
      return cp_registry_resolve(reg, "logger", id.c_str(), &ep) == 0;
    }));
  }
  int status = test_process_stop(&logger, SIGTERM, test_wait_ms());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
