// The plugin side of the lifecycle: PluginControl.GetHealth answers what
// the plugin set; Shutdown is acknowledged, lets calls in flight finish
// within the grace period, refuses new calls and wakes the plugin.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "plugin/v1/lifecycle.cplugin.h"
}

namespace {

struct ShutdownSeen {
  std::atomic<int> calls{0};
  std::string reason;
  int64_t grace_ms = -1;
};

void OnShutdown(const char *reason, int64_t grace_ms, void *user) {
  auto *seen = static_cast<ShutdownSeen *>(user);
  seen->reason = reason;
  seen->grace_ms = grace_ms;
  seen->calls++;
}

class PluginControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    ASSERT_EQ(0, cp_health_create(&health_, nullptr));
    cp_plugin_control_options_init(&opts_);
    opts_.health = health_;
    opts_.on_shutdown = OnShutdown;
    opts_.user = &seen_;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
    }
    cp_plugin_control_destroy(ctl_);
    cp_server_destroy(server_);
    cp_health_destroy(health_);
    echo_stats_destroy(stats_);
  }

  void Start() {
    ASSERT_EQ(0, cp_plugin_control_create(&ctl_, &opts_));
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 4;
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    ASSERT_EQ(0, cp_plugin_control_register(ctl_, server_));
    EXPECT_EQ(CP_ESTATE, cp_plugin_control_register(ctl_, server_));
    ASSERT_EQ(0, cp_health_register(health_, server_));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target_.c_str(), nullptr));
  }

  cp_status Echo(int delay_ms, cp_client *c = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    req.delay_ms = delay_ms;
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = 10000;
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(c != nullptr ? c : client_,
                                                 &req, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status Shutdown(int grace_s, const char *reason, bool *ack = nullptr) {
    Connectplugin__V1__ShutdownRequest req =
        CONNECTPLUGIN__V1__SHUTDOWN_REQUEST__INIT;
    req.grace_period_seconds = grace_s;
    req.reason = const_cast<char *>(reason);
    Connectplugin__V1__ShutdownResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__plugin_control__shutdown__call(client_, &req, &resp,
                                                         nullptr, &st);
    if (resp != nullptr) {
      if (ack != nullptr) {
        *ack = resp->acknowledged;
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  // The handler runs on a server thread for a call another thread made.
  ::testing::AssertionResult EchoCallsReach(int n) {
    return cp_test::WaitFor(
        "the server to run " + std::to_string(n) + " Echo call(s)",
        [&] { return echo_stats_get(stats_, ECHO_CALLS) >= n; },
        [&] { return std::to_string(echo_stats_get(stats_, ECHO_CALLS)); });
  }

  // The shutdown runs on the control's own thread: server, callback, done.
  ::testing::AssertionResult ShutdownDone() {
    return cp_test::WaitFor(
        "the plugin's shutdown to finish",
        [&] { return cp_plugin_control_wait_for(ctl_, 0) == 0; },
        [&] {
          return std::string("shutdown requested ") +
                 (cp_plugin_control_shutdown_requested(ctl_) ? "yes" : "no") +
                 ", on_shutdown calls " + std::to_string(seen_.calls.load());
        });
  }

  echo_stats *stats_ = nullptr;
  cp_health *health_ = nullptr;
  cp_plugin_control_options opts_;
  cp_plugin_control *ctl_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::string target_;
  ShutdownSeen seen_;
};

TEST_F(PluginControlTest, GetHealthAnswersWhatThePluginSet) {
  Start();
  Connectplugin__V1__GetHealthRequest req =
      CONNECTPLUGIN__V1__GET_HEALTH_REQUEST__INIT;
  Connectplugin__V1__GetHealthResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_connectplugin__v1__plugin_control__get_health__call(
                   client_, &req, &resp, nullptr, &st));
  EXPECT_EQ(CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_HEALTHY, resp->state);
  EXPECT_STREQ("", resp->reason);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);

  const char *deps[] = {"logger"};
  ASSERT_EQ(0, cp_plugin_control_set_health(ctl_, CP_PLUGIN_HEALTH_DEGRADED,
                                            "logger dependency not available",
                                            deps, 1));
  ASSERT_EQ(0, cp_connectplugin__v1__plugin_control__get_health__call(
                   client_, &req, &resp, nullptr, &st));
  EXPECT_EQ(CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_DEGRADED,
            resp->state);
  EXPECT_STREQ("logger dependency not available", resp->reason);
  ASSERT_EQ(1u, resp->n_unavailable_dependencies);
  EXPECT_STREQ("logger", resp->unavailable_dependencies[0]);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);

  EXPECT_EQ(CP_EINVAL, cp_plugin_control_set_health(
                           ctl_, CP_PLUGIN_HEALTH_UNKNOWN, "", nullptr, 0));
  std::string long_reason(1025, 'r');
  EXPECT_EQ(CP_EINVAL,
            cp_plugin_control_set_health(ctl_, CP_PLUGIN_HEALTH_HEALTHY,
                                         long_reason.c_str(), nullptr, 0));
  EXPECT_FALSE(cp_plugin_control_shutdown_requested(ctl_));
}

TEST_F(PluginControlTest, NegativeGraceIsInvalid) {
  Start();
  cp_status st = Shutdown(-1, "bad");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_STREQ("grace_period_seconds: must not be negative", st.message);
  EXPECT_FALSE(cp_plugin_control_shutdown_requested(ctl_));
  EXPECT_EQ(CP_STATUS_OK, Echo(0).code);
  EXPECT_EQ(CP_EINVAL, cp_plugin_control_shutdown(ctl_, -5, "bad"));
  EXPECT_EQ(CP_ETIMEDOUT, cp_plugin_control_wait_for(ctl_, 10));
}

TEST_F(PluginControlTest, ShutdownLetsCallsInFlightFinishAndRefusesNewOnes) {
  Start();
  // The call in flight comes on its own connection: a handler that sleeps
  // holds its server thread, and calls of the same connection would queue
  // behind it.
  cp_client *other = nullptr;
  ASSERT_EQ(0, cp_client_create(&other, target_.c_str(), nullptr));
  cp_status in_flight;
  std::thread t([&] { in_flight = Echo(800, other); });
  EXPECT_TRUE(EchoCallsReach(1));
  bool ack = false;
  cp_status st = Shutdown(10, "host is stopping", &ack);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(ack);
  EXPECT_TRUE(cp_plugin_control_shutdown_requested(ctl_));
  // Joined before any ASSERT can leave the test.
  ::testing::AssertionResult done = ShutdownDone();
  t.join();
  cp_client_destroy(other);
  ASSERT_TRUE(done);
  EXPECT_EQ(CP_STATUS_OK, in_flight.code) << in_flight.message;
  EXPECT_NE(CP_STATUS_OK, Echo(0).code);  // the server no longer accepts
  EXPECT_EQ(1, seen_.calls.load());
  EXPECT_EQ("host is stopping", seen_.reason);
  EXPECT_EQ(10000, seen_.grace_ms);
  EXPECT_FALSE(cp_health_serving(health_));
  EXPECT_EQ(0, cp_plugin_control_wait(ctl_));
  // A second request changes nothing.
  EXPECT_EQ(0, cp_plugin_control_shutdown(ctl_, 0, "again"));
  EXPECT_EQ(1, seen_.calls.load());
}

TEST_F(PluginControlTest, GraceIsCappedAndCallsBeyondItAreCancelled) {
  opts_.max_grace_ms = 100;
  Start();
  // An open stream is a call in flight that never ends by itself (and,
  // unlike a sleeping handler, holds no server thread).
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  req.count = 1;
  req.keep_open = true;
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &req, nullptr, &s, &st));
  Cplugintest__V1__CountResponse *msg = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  bool ack = false;
  ASSERT_EQ(CP_STATUS_OK, Shutdown(3600, "now", &ack).code);
  EXPECT_TRUE(ack);
  // An hour of grace would keep the stream open; the 100 ms cap ends it.
  ASSERT_TRUE(ShutdownDone());
  EXPECT_EQ(100, seen_.grace_ms);
  int rc = cp_cplugintest__v1__echo_service__count__next(s, &msg, &st);
  EXPECT_NE(0, rc);
  EXPECT_NE(CP_STATUS_OK, st.code);
  cp_client_stream_destroy(s);
}

TEST_F(PluginControlTest, ZeroGraceStillAcknowledges) {
  Start();
  bool ack = false;
  cp_status st = Shutdown(0, "", &ack);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_TRUE(ack);
  ASSERT_TRUE(ShutdownDone());
}

TEST_F(PluginControlTest, LocalShutdownWithoutTheRpc) {
  Start();
  EXPECT_EQ(CP_STATUS_OK, Echo(0).code);
  ASSERT_EQ(0, cp_plugin_control_shutdown(ctl_, 1000, "SIGTERM"));
  ASSERT_TRUE(ShutdownDone());
  ASSERT_EQ(0, cp_plugin_control_wait(ctl_));
  EXPECT_EQ("SIGTERM", seen_.reason);
  EXPECT_NE(CP_STATUS_OK, Echo(0).code);
}

TEST(PluginControlApiTest, ShutdownBeforeRegisterIsAStateError) {
  cp_plugin_control *ctl = nullptr;
  ASSERT_EQ(0, cp_plugin_control_create(&ctl, nullptr));
  EXPECT_EQ(CP_ESTATE, cp_plugin_control_shutdown(ctl, 0, "x"));
  cp_plugin_control_options o;
  cp_plugin_control_options_init(&o);
  o.max_grace_ms = -1;
  cp_plugin_control *bad = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_plugin_control_create(&bad, &o));
  cp_plugin_control_destroy(ctl);
}

}  // namespace
