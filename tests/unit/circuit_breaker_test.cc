// The circuit breaker, mostly as a client interceptor against a real server
// on loopback whose handler fails a chosen number of times; time is a manual
// clock. Upstream's circuitbreaker_test.go (14 tests) ported as behaviour
// specs, plus bounded half-open probes, scopes, metrics and many threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "flaky_service.h"
}

namespace {

constexpr int64_t kMs = 1000000;
using Change = std::pair<cp_breaker_state, cp_breaker_state>;

class BreakerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 0);
    flaky_ = flaky_service_create();
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, flaky_service_register(server_, flaky_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
    ASSERT_EQ(0, cp_server_start(server_));
    cp_breaker_options_init(&opts_);
    opts_.clock = &clock_.clock;
    opts_.on_state_change = &BreakerTest::OnChange;
    opts_.user = this;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_breaker_destroy(breaker_);
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    flaky_service_destroy(flaky_);
  }

  static void OnChange(cp_breaker *b, cp_breaker_state from,
                       cp_breaker_state to, void *user) {
    auto *self = static_cast<BreakerTest *>(user);
    EXPECT_EQ(self->breaker_, b);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->changes_.emplace_back(from, to);
  }

  void Attach() {
    ASSERT_EQ(0, cp_breaker_create(&breaker_, &opts_));
    std::string t = "127.0.0.1:" + std::to_string(port_);
    ASSERT_EQ(0, cp_client_create(&client_, t.c_str(), nullptr));
    ASSERT_EQ(0, cp_breaker_attach(breaker_, client_));
  }

  int Echo(cp_status *st) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    int rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                          nullptr, st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  // One call that the server fails with `code` (OK: succeeds).
  cp_status CallWith(cp_status_code code) {
    if (code != CP_STATUS_OK) {
      flaky_service_fail_next(flaky_, 1, code, -1);
    }
    cp_status st;
    Echo(&st);
    flaky_service_fail_next(flaky_, 0, CP_STATUS_OK, -1);
    return st;
  }

  cp_breaker_state State() { return cp_breaker_get_state(breaker_); }
  int Calls() { return flaky_service_calls(flaky_); }
  void Advance(int64_t ms) { cp_manual_clock_advance(&clock_, ms * kMs); }
  std::vector<Change> Changes() {
    std::lock_guard<std::mutex> lock(mu_);
    return changes_;
  }

  cp_manual_clock clock_;
  flaky_service *flaky_ = nullptr;
  cp_server *server_ = nullptr;
  int port_ = 0;
  cp_breaker_options opts_;
  cp_breaker *breaker_ = nullptr;
  cp_client *client_ = nullptr;
  std::mutex mu_;
  std::vector<Change> changes_;
};

// upstream: TestDefaultCircuitBreakerConfig
TEST(BreakerOptions, DefaultsAreUpstreams) {
  cp_breaker_options o;
  cp_breaker_options_init(&o);
  EXPECT_EQ(5, o.failure_threshold);
  EXPECT_EQ(2, o.success_threshold);
  EXPECT_EQ(10000, o.open_timeout_ms);
  EXPECT_EQ(1, o.half_open_max_probes);
}

TEST(BreakerOptions, InvalidOptionsAreRefused) {
  cp_breaker_options o;
  cp_breaker *b = nullptr;
  auto bad = [&](const std::function<void(cp_breaker_options &)> &f) {
    cp_breaker_options_init(&o);
    f(o);
    return cp_breaker_create(&b, &o) == CP_EINVAL && b == nullptr;
  };
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.failure_threshold = 0; }));
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.success_threshold = -1; }));
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.open_timeout_ms = -1; }));
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.half_open_max_probes = 0; }));
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.failure_codes = 1; }));
  EXPECT_TRUE(bad([](cp_breaker_options &x) { x.name = ""; }));  // not ENOMEM
  EXPECT_EQ(CP_EINVAL, cp_breaker_create(nullptr, nullptr));
  ASSERT_EQ(0, cp_breaker_create(&b, nullptr));
  cp_breaker_destroy(b);
}

// upstream: TestCircuitState_String
TEST(BreakerOptions, StateNames) {
  EXPECT_STREQ("Closed", cp_breaker_state_name(CP_BREAKER_CLOSED));
  EXPECT_STREQ("Open", cp_breaker_state_name(CP_BREAKER_OPEN));
  EXPECT_STREQ("HalfOpen", cp_breaker_state_name(CP_BREAKER_HALF_OPEN));
  EXPECT_STREQ("Unknown", cp_breaker_state_name((cp_breaker_state)99));
}

// upstream: TestCircuitBreaker_OpensAfterFailures
TEST_F(BreakerTest, OpensAfterConsecutiveFailures) {
  opts_.failure_threshold = 3;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
}

// upstream: TestCircuitBreaker_StaysOpenForTimeout
TEST_F(BreakerTest, StaysOpenUntilTheTimeoutThenProbes) {
  opts_.failure_threshold = 1;
  opts_.success_threshold = 1;
  opts_.open_timeout_ms = 200;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  ASSERT_EQ(CP_BREAKER_OPEN, State());
  Advance(199);
  cp_status st = CallWith(CP_STATUS_OK);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_STREQ("circuit breaker is open", st.message);
  EXPECT_EQ(1, Calls());  // the rejected call never reached the server
  Advance(1);
  st = CallWith(CP_STATUS_OK);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(2, Calls());
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
}

// upstream: TestCircuitBreaker_HalfOpenAllowsProbe
TEST_F(BreakerTest, HalfOpenLetsAProbeThrough) {
  opts_.failure_threshold = 1;
  opts_.open_timeout_ms = 100;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  Advance(100);
  EXPECT_EQ(CP_STATUS_OK, CallWith(CP_STATUS_OK).code);
  EXPECT_EQ(2, Calls());
  EXPECT_EQ(CP_BREAKER_HALF_OPEN, State());  // 1 of 2 successes
}

// upstream: TestCircuitBreaker_ClosesAfterSuccesses
TEST_F(BreakerTest, ClosesAfterEnoughSuccesses) {
  opts_.failure_threshold = 1;
  opts_.success_threshold = 3;
  opts_.open_timeout_ms = 100;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  Advance(100);
  CallWith(CP_STATUS_OK);
  CallWith(CP_STATUS_OK);
  EXPECT_EQ(CP_BREAKER_HALF_OPEN, State());
  CallWith(CP_STATUS_OK);
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
}

// upstream: TestCircuitBreaker_ReopensOnHalfOpenFailure
TEST_F(BreakerTest, AFailedProbeOpensAgain) {
  opts_.failure_threshold = 1;
  opts_.open_timeout_ms = 100;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  Advance(100);
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
  // And the new open period starts now: not before another full timeout.
  Advance(99);
  EXPECT_STREQ("circuit breaker is open", CallWith(CP_STATUS_OK).message);
}

// upstream: TestCircuitBreaker_OnStateChange
TEST_F(BreakerTest, StateChangesAreReportedInOrder) {
  opts_.failure_threshold = 1;
  opts_.success_threshold = 1;
  opts_.open_timeout_ms = 100;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  Advance(100);
  CallWith(CP_STATUS_OK);
  EXPECT_EQ((std::vector<Change>{{CP_BREAKER_CLOSED, CP_BREAKER_OPEN},
                                 {CP_BREAKER_OPEN, CP_BREAKER_HALF_OPEN},
                                 {CP_BREAKER_HALF_OPEN, CP_BREAKER_CLOSED}}),
            Changes());
}

// upstream: TestCircuitBreaker_NonFailureErrorsDoNotTrigger
TEST_F(BreakerTest, ErrorsTheTargetMeantDoNotOpenIt) {
  opts_.failure_threshold = 2;
  Attach();
  for (int i = 0; i < 10; i++) {
    CallWith(CP_STATUS_INVALID_ARGUMENT);
  }
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
  EXPECT_EQ(10, Calls());
}

// upstream: TestCircuitBreaker_Interceptor_Integration
TEST_F(BreakerTest, AnOpenBreakerFailsFastWithoutCallingTheTarget) {
  opts_.failure_threshold = 2;
  Attach();
  flaky_service_fail_next(flaky_, 100, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(CP_ERPC, Echo(&st));
    EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  }
  EXPECT_STREQ("circuit breaker is open", st.message);
  EXPECT_EQ(2, Calls());
  cp_breaker_stats stats;
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(3u, stats.rejected);
  EXPECT_EQ(1u, stats.opened);
}

// upstream: TestCircuitBreaker_Interceptor_RecoversAfterTimeout
TEST_F(BreakerTest, RecoversOnceTheTargetDoes) {
  opts_.failure_threshold = 2;
  opts_.success_threshold = 1;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_UNAVAILABLE);
  ASSERT_EQ(CP_BREAKER_OPEN, State());
  Advance(10000);  // the default open timeout
  cp_status st;
  EXPECT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
}

// upstream: TestCircuitBreaker_SuccessResetsFailureCount
TEST_F(BreakerTest, ASuccessResetsTheFailureCount) {
  opts_.failure_threshold = 3;
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_OK);
  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
}

// upstream: TestDefaultIsFailure. Deviation: RESOURCE_EXHAUSTED is a quota
// answer from a live target, not sickness (the retry handles it).
TEST_F(BreakerTest, OnlySicknessCountsAsFailure) {
  opts_.failure_threshold = 1;
  opts_.open_timeout_ms = 0;  // every call after an opening probes at once
  opts_.success_threshold = 1;
  Attach();
  const struct {
    cp_status_code code;
    bool failure;
  } cases[] = {
      {CP_STATUS_UNAVAILABLE, true},
      {CP_STATUS_DEADLINE_EXCEEDED, true},
      {CP_STATUS_INTERNAL, true},
      {CP_STATUS_UNKNOWN, true},
      {CP_STATUS_DATA_LOSS, true},
      {CP_STATUS_OK, false},
      {CP_STATUS_RESOURCE_EXHAUSTED, false},
      {CP_STATUS_INVALID_ARGUMENT, false},
      {CP_STATUS_NOT_FOUND, false},
      {CP_STATUS_PERMISSION_DENIED, false},
      {CP_STATUS_UNAUTHENTICATED, false},
      {CP_STATUS_FAILED_PRECONDITION, false},
      {CP_STATUS_ALREADY_EXISTS, false},
      {CP_STATUS_UNIMPLEMENTED, false},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(cp_status_code_name(c.code));
    uint64_t before = 0;
    cp_breaker_stats stats;
    cp_breaker_get_stats(breaker_, &stats);
    before = stats.opened;
    CallWith(c.code);
    cp_breaker_get_stats(breaker_, &stats);
    EXPECT_EQ(c.failure ? before + 1 : before, stats.opened);
    CallWith(CP_STATUS_OK);  // closes it again (timeout 0: probe at once)
    EXPECT_EQ(CP_BREAKER_CLOSED, State());
  }
}

// upstream: TestCustomIsFailure
TEST_F(BreakerTest, FailureCodesCanBeChosen) {
  opts_.failure_threshold = 1;
  opts_.failure_codes = CP_CODE_BIT(CP_STATUS_NOT_FOUND);
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
  CallWith(CP_STATUS_NOT_FOUND);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
}

// --- beyond upstream --------------------------------------------------------

// Upstream lets every call through in half-open; here at most
// half_open_max_probes at a time reach the target.
TEST_F(BreakerTest, HalfOpenProbesAreBounded) {
  opts_.failure_threshold = 1;
  opts_.half_open_max_probes = 2;
  opts_.success_threshold = 3;
  Attach();
  cp_breaker_ticket t[4];
  ASSERT_TRUE(cp_breaker_allow(breaker_, &t[0]));
  cp_breaker_record(breaker_, &t[0], CP_STATUS_UNAVAILABLE);
  Advance(10000);
  EXPECT_TRUE(cp_breaker_allow(breaker_, &t[1]));
  EXPECT_TRUE(cp_breaker_allow(breaker_, &t[2]));
  EXPECT_FALSE(cp_breaker_allow(breaker_, &t[3]));  // both slots taken
  cp_breaker_stats stats;
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(CP_BREAKER_HALF_OPEN, stats.state);
  EXPECT_EQ(2, stats.probes_in_flight);
  cp_breaker_record(breaker_, &t[1], CP_STATUS_OK);
  EXPECT_TRUE(cp_breaker_allow(breaker_, &t[3]));  // a slot came free
  // A cancelled probe frees its slot without counting either way.
  cp_breaker_record(breaker_, &t[2], CP_STATUS_CANCELLED);
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(1, stats.probes_in_flight);
  EXPECT_EQ(1, stats.half_open_successes);
  cp_breaker_record(breaker_, &t[3], CP_STATUS_OK);
  EXPECT_EQ(CP_BREAKER_HALF_OPEN, State());
}

// A call admitted before the breaker changed state says nothing about the
// new state: its outcome is ignored.
TEST_F(BreakerTest, OutcomesFromAnEarlierStateAreIgnored) {
  opts_.failure_threshold = 1;
  opts_.success_threshold = 1;
  Attach();
  cp_breaker_ticket slow, fast;
  ASSERT_TRUE(cp_breaker_allow(breaker_, &slow));
  ASSERT_TRUE(cp_breaker_allow(breaker_, &fast));
  cp_breaker_record(breaker_, &fast, CP_STATUS_UNAVAILABLE);
  ASSERT_EQ(CP_BREAKER_OPEN, State());
  cp_breaker_record(breaker_, &slow, CP_STATUS_OK);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
}

TEST_F(BreakerTest, AScopedBreakerGuardsOnlyItsRoute) {
  opts_.failure_threshold = 1;
  opts_.scope_prefix = "/cplugintest.v1.EchoService/Count";
  Attach();
  CallWith(CP_STATUS_UNAVAILABLE);  // Echo: outside the scope
  EXPECT_EQ(CP_BREAKER_CLOSED, State());

  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  cp_client_stream *s = nullptr;
  cp_status st;
  // The stream start succeeds (the refusal comes with the first receive), so
  // it counts as a success: a stream counts by its start.
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &req, nullptr, &s, &st));
  cp_client_stream_destroy(s);
  EXPECT_EQ(CP_BREAKER_CLOSED, State());
}

// With the retry inside the breaker in FIRST_MESSAGE mode, a refused stream
// start is a failure the breaker sees.
TEST_F(BreakerTest, RefusedStreamsCountThroughTheRetry) {
  opts_.failure_threshold = 1;
  ASSERT_EQ(0, cp_breaker_create(&breaker_, &opts_));
  cp_retry_options ro;
  cp_retry_options_init(&ro);
  ro.policy.max_attempts = 1;
  ro.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  cp_retry *retry = nullptr;
  ASSERT_EQ(0, cp_retry_create(&retry, &ro));
  std::string t = "127.0.0.1:" + std::to_string(port_);
  ASSERT_EQ(0, cp_client_create(&client_, t.c_str(), nullptr));
  ASSERT_EQ(0, cp_breaker_attach(breaker_, client_));
  ASSERT_EQ(0, cp_retry_attach(retry, client_));
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  cp_client_stream *s = nullptr;
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_cplugintest__v1__echo_service__count__start(
                         client_, &req, nullptr, &s, &st));
  EXPECT_EQ(nullptr, s);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(CP_BREAKER_OPEN, State());
  cp_client_destroy(client_);
  client_ = nullptr;
  cp_retry_destroy(retry);
}

TEST_F(BreakerTest, MetricsFollowTheState) {
  cp_metric_registry *reg = nullptr;
  ASSERT_EQ(0, cp_metric_registry_create(&reg, nullptr));
  cp_breaker_metrics *m = nullptr;
  ASSERT_EQ(0, cp_breaker_metrics_create(&m, reg));
  opts_.metrics = m;
  opts_.name = "storage";
  opts_.failure_threshold = 1;
  Attach();
  // A second breaker shares the families.
  cp_breaker_options o2;
  cp_breaker_options_init(&o2);
  o2.metrics = m;
  o2.name = "logger";
  cp_breaker *other = nullptr;
  ASSERT_EQ(0, cp_breaker_create(&other, &o2));

  CallWith(CP_STATUS_UNAVAILABLE);
  CallWith(CP_STATUS_OK);  // rejected
  char *text = nullptr;
  size_t len = 0;
  ASSERT_EQ(0, cp_metric_registry_render(reg, &text, &len));
  std::string out(text, len);
  cp_metric_text_free(text);
  EXPECT_NE(std::string::npos,
            out.find("cplugin_circuit_breaker_state{breaker=\"storage\"} 1\n"))
      << out;
  EXPECT_NE(std::string::npos,
            out.find("cplugin_circuit_breaker_state{breaker=\"logger\"} 0\n"))
      << out;
  EXPECT_NE(std::string::npos,
            out.find("cplugin_circuit_breaker_transitions_total{breaker="
                     "\"storage\",to=\"open\"} 1\n"))
      << out;
  EXPECT_NE(std::string::npos,
            out.find("cplugin_circuit_breaker_rejections_total{breaker="
                     "\"storage\"} 1\n"))
      << out;
  cp_client_destroy(client_);
  client_ = nullptr;
  cp_breaker_destroy(other);
  cp_breaker_destroy(breaker_);
  breaker_ = nullptr;
  cp_breaker_metrics_destroy(m);
  cp_metric_registry_destroy(reg);
}

// A client is shared across threads: many calls at once through one
// breaker open it exactly once and report that once.
TEST_F(BreakerTest, ManyThreadsOpenItOnce) {
  opts_.failure_threshold = 5;
  Attach();
  flaky_service_fail_next(flaky_, 1000000, CP_STATUS_UNAVAILABLE, -1);
  std::vector<std::thread> threads;
  std::atomic<int> rejected{0};
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&] {
      for (int k = 0; k < 20; k++) {
        cp_status st;
        Echo(&st);
        if (strcmp(st.message, "circuit breaker is open") == 0) {
          rejected++;
        }
      }
    });
  }
  for (auto &t : threads) {
    t.join();
  }
  EXPECT_EQ(CP_BREAKER_OPEN, State());
  EXPECT_EQ((std::vector<Change>{{CP_BREAKER_CLOSED, CP_BREAKER_OPEN}}),
            Changes());
  // Calls admitted while closed: at least the 5 that opened it, at most
  // those plus one in flight per other thread.
  EXPECT_GE(Calls(), 5);
  EXPECT_LE(Calls(), 5 + 3);
  EXPECT_EQ(80, Calls() + rejected.load());
}

}  // namespace
