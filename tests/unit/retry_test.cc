// The retry interceptor against a real server on loopback whose handler
// fails a chosen number of times. Upstream's retry_test.go (11 tests) ported
// as behaviour specs, plus retry-after-ms, routes and streams. Waits go
// through an injected sleep that records them and moves a manual clock, so no
// test waits for real backoff.
#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "flaky_service.h"
}

namespace {

constexpr int64_t kMs = 1000000;
const char *const kEcho = "/cplugintest.v1.EchoService/Echo";

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 0);
    flaky_ = flaky_service_create();
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, flaky_service_register(server_, flaky_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
    ASSERT_EQ(0, cp_server_start(server_));
    cp_retry_options_init(&opts_);
    opts_.clock = &clock_.clock;
    opts_.sleep = &RetryTest::Sleep;
    opts_.sleep_user = this;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_retry_destroy(retry_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    flaky_service_destroy(flaky_);
  }

  static void Sleep(int64_t ns, void *user) {
    auto *self = static_cast<RetryTest *>(user);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->sleeps_ms_.push_back(ns / kMs);
    }
    cp_manual_clock_advance(&self->clock_, ns);
    if (self->on_sleep_) {
      self->on_sleep_();
    }
  }

  // Creates the retry from opts_ and a client to the server (or `target`)
  // with it attached.
  void Attach(const char *target = nullptr) {
    ASSERT_EQ(0, cp_retry_create(&retry_, &opts_));
    std::string t = target != nullptr ? std::string(target)
                                      : "127.0.0.1:" + std::to_string(port_);
    ASSERT_EQ(0, cp_client_create(&client_, t.c_str(), nullptr));
    ASSERT_EQ(0, cp_retry_attach(retry_, client_));
  }

  int Echo(cp_status *st, int64_t timeout_ms = 0) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = timeout_ms;
    Cplugintest__V1__EchoResponse *resp = nullptr;
    int rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                          &co, st);
    if (resp != nullptr) {
      EXPECT_STREQ("hi", resp->text);
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  std::vector<int64_t> Sleeps() {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_ms_;
  }

  int Calls() { return flaky_service_calls(flaky_); }

  cp_manual_clock clock_;
  flaky_service *flaky_ = nullptr;
  cp_server *server_ = nullptr;
  int port_ = 0;
  cp_retry_options opts_;
  cp_retry *retry_ = nullptr;
  cp_client *client_ = nullptr;
  std::mutex mu_;
  std::vector<int64_t> sleeps_ms_;
  std::function<void()> on_sleep_;
};

// Always returns the same number, so jittered waits are known exactly.
double FixedRandom(void *user) {
  return *static_cast<double *>(user);
}

// upstream: TestDefaultRetryPolicy
TEST(RetryPolicy, DefaultsAreConnectPluginGos) {
  cp_retry_policy p;
  cp_retry_policy_init(&p);
  EXPECT_EQ(3, p.max_attempts);
  EXPECT_EQ(100, p.initial_backoff_ms);
  EXPECT_EQ(10000, p.max_backoff_ms);
  EXPECT_DOUBLE_EQ(2.0, p.multiplier);
  EXPECT_TRUE(p.jitter);
  EXPECT_EQ(CP_CODE_BIT(CP_STATUS_UNAVAILABLE) |
                CP_CODE_BIT(CP_STATUS_RESOURCE_EXHAUSTED),
            p.retry_codes);
  EXPECT_EQ(CP_RETRY_STREAM_START, p.streams);
}

// upstream: TestCalculateBackoff (100, 200, 400, 800, 1000, 1000 ms).
TEST(RetryPolicy, BackoffDoublesUpToTheCap) {
  cp_retry_policy p;
  cp_retry_policy_init(&p);
  p.max_backoff_ms = 1000;
  const int64_t want[] = {100, 200, 400, 800, 1000, 1000};
  for (int a = 1; a <= 6; a++) {
    EXPECT_EQ(want[a - 1], cp_retry_backoff_ms(&p, a)) << "attempt " << a;
  }
  EXPECT_EQ(1000, cp_retry_backoff_ms(&p, 100000));  // saturates, no overflow
}

TEST(RetryPolicy, InvalidOptionsAreRefused) {
  cp_retry_options o;
  cp_retry *r = nullptr;
  auto bad = [&](const std::function<void(cp_retry_options &)> &f) {
    cp_retry_options_init(&o);
    f(o);
    return cp_retry_create(&r, &o) == CP_EINVAL && r == nullptr;
  };
  EXPECT_TRUE(bad([](cp_retry_options &x) { x.policy.max_attempts = 0; }));
  EXPECT_TRUE(bad([](cp_retry_options &x) { x.policy.multiplier = 0.5; }));
  EXPECT_TRUE(bad([](cp_retry_options &x) { x.policy.max_backoff_ms = 50; }));
  EXPECT_TRUE(bad([](cp_retry_options &x) {
    x.policy.retry_codes = CP_CODE_BIT(CP_STATUS_OK);
  }));
  cp_retry_route route = {"no-slash", {}};
  cp_retry_policy_init(&route.policy);
  EXPECT_TRUE(bad([&](cp_retry_options &x) {
    x.routes = &route;
    x.route_count = 1;
  }));
  std::vector<cp_retry_route> many(CP_RETRY_MAX_ROUTES + 1, route);
  for (auto &r2 : many) {
    r2.prefix = "/a/";
  }
  EXPECT_TRUE(bad([&](cp_retry_options &x) {
    x.routes = many.data();
    x.route_count = many.size();
  }));
  EXPECT_EQ(CP_EINVAL, cp_retry_create(nullptr, nullptr));
  ASSERT_EQ(0, cp_retry_create(&r, nullptr));
  cp_retry_destroy(r);
}

// upstream: TestSuccessFirstAttempt
TEST_F(RetryTest, SuccessOnTheFirstAttemptCallsOnce) {
  Attach();
  cp_status st;
  ASSERT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(1, Calls());
  EXPECT_TRUE(Sleeps().empty());
  EXPECT_EQ(0u, cp_retry_count(retry_));
}

// upstream: TestRetryOnTransientError (3 attempts; the waits, not a timer).
TEST_F(RetryTest, TransientFailuresAreRetriedWithBackoff) {
  opts_.policy.jitter = false;
  Attach();
  flaky_service_fail_next(flaky_, 2, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  ASSERT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(3, Calls());
  EXPECT_EQ((std::vector<int64_t>{100, 200}), Sleeps());
  EXPECT_EQ(2u, cp_retry_count(retry_));
}

// upstream: TestCalculateBackoff_WithJitter (attempt 1 waits 50-100 ms).
TEST_F(RetryTest, JitterScalesTheWaitIntoHalfToFull) {
  double r = 0.0;
  opts_.random = FixedRandom;
  opts_.random_user = &r;
  opts_.policy.max_attempts = 2;
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  ASSERT_EQ(0, Echo(&st));
  r = 0.999;
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  ASSERT_EQ(0, Echo(&st));
  EXPECT_EQ((std::vector<int64_t>{50, 99}), Sleeps());
}

TEST_F(RetryTest, DefaultJitterStaysInRange) {
  opts_.policy.max_attempts = 20;
  opts_.policy.max_backoff_ms = 100;  // every wait: 100 ms before jitter
  Attach();
  flaky_service_fail_next(flaky_, 19, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  ASSERT_EQ(0, Echo(&st));
  std::vector<int64_t> s = Sleeps();
  ASSERT_EQ(19u, s.size());
  for (int64_t ms : s) {
    EXPECT_GE(ms, 50);
    EXPECT_LT(ms, 100);
  }
}

// upstream: TestNoRetryOnPermanentError
TEST_F(RetryTest, PermanentErrorsAreNotRetried) {
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_INVALID_ARGUMENT, -1);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_EQ(1, Calls());
  EXPECT_TRUE(Sleeps().empty());
}

// upstream: TestDefaultIsRetryable, narrowed to codes that are safe to
// repeat: a call that timed out or failed inside the server may have run.
TEST_F(RetryTest, OnlyUnavailableAndInvitedResourceExhaustedAreRetried) {
  Attach();
  const struct {
    cp_status_code code;
    int64_t retry_after_ms;
    bool retried;
  } cases[] = {
      {CP_STATUS_UNAVAILABLE, -1, true},
      {CP_STATUS_RESOURCE_EXHAUSTED, 5, true},
      {CP_STATUS_RESOURCE_EXHAUSTED, -1, false},
      {CP_STATUS_DEADLINE_EXCEEDED, -1, false},
      {CP_STATUS_INTERNAL, -1, false},
      {CP_STATUS_UNKNOWN, -1, false},
      {CP_STATUS_CANCELLED, -1, false},
      {CP_STATUS_INVALID_ARGUMENT, -1, false},
      {CP_STATUS_NOT_FOUND, -1, false},
      {CP_STATUS_ALREADY_EXISTS, -1, false},
      {CP_STATUS_PERMISSION_DENIED, -1, false},
      {CP_STATUS_UNAUTHENTICATED, -1, false},
      {CP_STATUS_FAILED_PRECONDITION, -1, false},
      {CP_STATUS_ABORTED, -1, false},
      {CP_STATUS_OUT_OF_RANGE, -1, false},
      {CP_STATUS_UNIMPLEMENTED, -1, false},
      {CP_STATUS_DATA_LOSS, -1, false},
  };
  for (const auto &c : cases) {
    int before = Calls();
    flaky_service_fail_next(flaky_, 1, c.code, c.retry_after_ms);
    cp_status st;
    int rc = Echo(&st);
    SCOPED_TRACE(cp_status_code_name(c.code));
    if (c.retried) {
      EXPECT_EQ(0, rc) << st.message;
      EXPECT_EQ(2, Calls() - before);
    } else {
      EXPECT_EQ(CP_ERPC, rc);
      EXPECT_EQ(c.code, st.code);
      EXPECT_EQ(1, Calls() - before);
    }
  }
}

// upstream: TestMaxAttemptsRespected (exactly 5).
TEST_F(RetryTest, MaxAttemptsIsRespected) {
  opts_.policy.max_attempts = 5;
  Attach();
  flaky_service_fail_next(flaky_, 100, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(5, Calls());
  EXPECT_EQ(4u, Sleeps().size());
}

// upstream: TestContextCancellation. Closing the client while the retry
// waits ends the call with CANCELLED; no further attempt reaches the server.
TEST_F(RetryTest, ClosingTheClientDuringTheWaitStopsRetrying) {
  opts_.policy.max_attempts = 10;
  Attach();
  flaky_service_fail_next(flaky_, 100, CP_STATUS_UNAVAILABLE, -1);
  on_sleep_ = [this] { cp_client_close(client_); };
  cp_status st;
  EXPECT_EQ(CP_ECLOSED, Echo(&st));
  EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
  EXPECT_EQ(1, Calls());
  EXPECT_EQ(1u, Sleeps().size());
}

// upstream: TestContextDeadline. Waits of 3 s and 6 s fit in a 10 s
// deadline, the next (12 s) would not: the last status comes back at once.
TEST_F(RetryTest, NeverWaitsPastTheDeadline) {
  opts_.policy.max_attempts = 10;
  opts_.policy.initial_backoff_ms = 3000;
  opts_.policy.max_backoff_ms = 60000;
  opts_.policy.jitter = false;
  Attach();
  flaky_service_fail_next(flaky_, 100, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st, 10000));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ((std::vector<int64_t>{3000, 6000}), Sleeps());
  EXPECT_EQ(3, Calls());
}

// upstream: TestCustomIsRetryable
TEST_F(RetryTest, RetryCodesCanBeChosen) {
  opts_.policy.retry_codes = CP_CODE_BIT(CP_STATUS_ABORTED);
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_ABORTED, -1);
  cp_status st;
  EXPECT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(2, Calls());
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(3, Calls());
}

// --- retry-after-ms ---------------------------------------------------------

TEST_F(RetryTest, RetryAfterMsReplacesTheBackoff) {
  Attach();  // jitter on: the server's wait is still taken as it is
  flaky_service_fail_next(flaky_, 2, CP_STATUS_RESOURCE_EXHAUSTED, 750);
  cp_status st;
  ASSERT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(3, Calls());
  EXPECT_EQ((std::vector<int64_t>{750, 750}), Sleeps());
}

TEST_F(RetryTest, RetryAfterMsOnUnavailableIsHonouredToo) {
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, 1234);
  cp_status st;
  ASSERT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ((std::vector<int64_t>{1234}), Sleeps());
}

TEST_F(RetryTest, RetryAfterBeyondTheDeadlineStopsRetrying) {
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 5000);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st, 2000));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_EQ(1, Calls());
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(RetryTest, RetryAfterAboveTheCapStopsRetrying) {
  opts_.policy.max_retry_after_ms = 1000;
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 1001);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(1, Calls());
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 1000);
  EXPECT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ((std::vector<int64_t>{1000}), Sleeps());
}

// The rate limiter itself (not a handler imitating it): its RESOURCE_EXHAUSTED
// carries retry-after-ms, and the retry waits exactly that long.
TEST_F(RetryTest, WaitsAsTheRateLimiterAsks) {
  cp_server_shutdown(server_, 1000);
  cp_server_destroy(server_);
  server_ = nullptr;
  cp_manual_clock limiter_clock;
  cp_manual_clock_init(&limiter_clock, 1000LL * 1000 * kMs);
  cp_rate_policy_options po;
  cp_rate_policy_options_init(&po);
  po.host_defaults = false;
  po.limiter.clock = &limiter_clock.clock;
  po.limiter.sweep_interval_ms = 0;
  cp_rate_policy *policy = nullptr;
  ASSERT_EQ(0, cp_rate_policy_create(&policy, &po));
  cp_rate_policy_set_default(policy, cp_rate_limit{2, 1});  // 1 per 500 ms
  ASSERT_EQ(0, cp_server_create(&server_, nullptr));
  ASSERT_EQ(0, flaky_service_register(server_, flaky_));
  ASSERT_EQ(0, cp_rate_policy_register(policy, server_));
  ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
  ASSERT_EQ(0, cp_server_start(server_));
  // The retry's wait is what refills the bucket: it moves the limiter's
  // clock as well as the retry's.
  on_sleep_ = [&] {
    cp_manual_clock_advance(&limiter_clock, Sleeps().back() * kMs);
  };
  Attach();
  cp_status st;
  EXPECT_EQ(0, Echo(&st)) << st.message;  // the burst token
  EXPECT_EQ(0, Echo(&st)) << st.message;  // refused once, then admitted
  EXPECT_EQ((std::vector<int64_t>{500}), Sleeps());
  EXPECT_EQ(2, Calls());  // the refused attempt never reached the handler
  cp_client_destroy(client_);
  client_ = nullptr;
  cp_server_shutdown(server_, 1000);
  cp_server_destroy(server_);
  server_ = nullptr;
  cp_rate_policy_destroy(policy);
}

// --- routes -----------------------------------------------------------------

TEST_F(RetryTest, TheLongestMatchingRouteDecides) {
  cp_retry_route routes[2];
  routes[0].prefix = "/cplugintest.v1.EchoService/";
  cp_retry_policy_init(&routes[0].policy);
  routes[0].policy.max_attempts = 4;
  routes[0].policy.jitter = false;
  routes[1].prefix = kEcho;
  cp_retry_policy_init(&routes[1].policy);
  routes[1].policy.max_attempts = 1;
  opts_.routes = routes;
  opts_.route_count = 2;
  Attach();
  routes[1].prefix = "/changed";  // the retry keeps its own copy
  flaky_service_fail_next(flaky_, 100, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(1, Calls());  // Echo: never retried

  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  cp_client_stream *s = nullptr;
  // Count: the service route, 4 attempts (the refusal comes with the first
  // receive, so the stream start waits for it only in FIRST_MESSAGE mode;
  // here the route's default START mode sees a started stream).
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &req, nullptr, &s, &st));
  Cplugintest__V1__CountResponse *msg = nullptr;
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  cp_client_stream_destroy(s);
  EXPECT_EQ(2, Calls());
}

TEST_F(RetryTest, RoutesGiveMethodsTheirOwnPolicy) {
  cp_retry_route route;
  route.prefix = kEcho;
  cp_retry_policy_init(&route.policy);
  route.policy.max_attempts = 6;
  route.policy.jitter = false;
  route.policy.initial_backoff_ms = 10;
  opts_.routes = &route;
  opts_.route_count = 1;
  opts_.policy.max_attempts = 1;
  Attach();
  flaky_service_fail_next(flaky_, 5, CP_STATUS_UNAVAILABLE, -1);
  cp_status st;
  ASSERT_EQ(0, Echo(&st)) << st.message;
  EXPECT_EQ(6, Calls());
  EXPECT_EQ((std::vector<int64_t>{10, 20, 40, 80, 160}), Sleeps());
}

// --- streams ----------------------------------------------------------------

class RetryStreamTest : public RetryTest {
 protected:
  // Starts Count(n) and reads it to the end; returns the indexes read and
  // the final status.
  int StartAndRead(int n, std::vector<int> *seen, cp_status *st) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = n;
    cp_client_stream *s = nullptr;
    int rc = cp_cplugintest__v1__echo_service__count__start(client_, &req,
                                                            nullptr, &s, st);
    if (rc != 0) {
      return rc;
    }
    for (;;) {
      Cplugintest__V1__CountResponse *msg = nullptr;
      rc = cp_cplugintest__v1__echo_service__count__next(s, &msg, st);
      if (rc != 0) {
        break;
      }
      seen->push_back(msg->index);
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    cp_client_stream_destroy(s);
    return rc;
  }
};

TEST_F(RetryStreamTest, FirstMessageModeRetriesARefusedStream) {
  opts_.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  opts_.policy.jitter = false;
  Attach();
  flaky_service_fail_next(flaky_, 2, CP_STATUS_UNAVAILABLE, -1);
  std::vector<int> seen;
  cp_status st;
  ASSERT_EQ(CP_EEND, StartAndRead(3, &seen, &st)) << st.message;
  EXPECT_EQ((std::vector<int>{0, 1, 2}), seen);
  EXPECT_EQ(3, Calls());
  EXPECT_EQ((std::vector<int64_t>{100, 200}), Sleeps());
}

TEST_F(RetryStreamTest, FirstMessageModeHonoursRetryAfterMs) {
  opts_.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 300);
  std::vector<int> seen;
  cp_status st;
  ASSERT_EQ(CP_EEND, StartAndRead(1, &seen, &st)) << st.message;
  EXPECT_EQ((std::vector<int>{0}), seen);
  EXPECT_EQ((std::vector<int64_t>{300}), Sleeps());
}

TEST_F(RetryStreamTest, AStreamThatDeliveredDataIsNeverRetried) {
  opts_.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  Attach();
  flaky_service_end_streams_with(flaky_, CP_STATUS_UNAVAILABLE);
  std::vector<int> seen;
  cp_status st;
  EXPECT_EQ(CP_ERPC, StartAndRead(2, &seen, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ((std::vector<int>{0, 1}), seen);
  EXPECT_EQ(1, Calls());
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(RetryStreamTest, AnEmptyStreamEndsCleanlyInFirstMessageMode) {
  opts_.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  Attach();
  std::vector<int> seen;
  cp_status st;
  EXPECT_EQ(CP_EEND, StartAndRead(0, &seen, &st)) << st.message;
  EXPECT_EQ(CP_STATUS_OK, st.code);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(1, Calls());
}

TEST_F(RetryStreamTest, StartModeLeavesRefusalsToTheReader) {
  Attach();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  std::vector<int> seen;
  cp_status st;
  EXPECT_EQ(CP_ERPC, StartAndRead(2, &seen, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(1, Calls());
  EXPECT_TRUE(Sleeps().empty());
}

// A target nobody listens on: the request cannot be sent, the start itself
// fails, and that is retried in either mode.
TEST_F(RetryStreamTest, AStartThatCannotReachTheTargetIsRetried) {
  std::string dead =
      "unix:/tmp/cplugin-retry-test-" + std::to_string(getpid()) + ".none";
  for (cp_retry_stream_mode mode :
       {CP_RETRY_STREAM_START, CP_RETRY_STREAM_FIRST_MESSAGE}) {
    opts_.policy.streams = mode;
    Attach(dead.c_str());
    std::vector<int> seen;
    cp_status st;
    EXPECT_EQ(CP_ERPC, StartAndRead(1, &seen, &st));
    EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
    EXPECT_EQ(2u, cp_retry_count(retry_));
    cp_client_destroy(client_);
    client_ = nullptr;
    cp_retry_destroy(retry_);
    retry_ = nullptr;
  }
  EXPECT_EQ(4u, Sleeps().size());
}

TEST_F(RetryTest, AnUnreachableTargetIsRetriedForUnaryCalls) {
  std::string dead =
      "unix:/tmp/cplugin-retry-test-" + std::to_string(getpid()) + ".none";
  Attach(dead.c_str());
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(2u, cp_retry_count(retry_));
}

}  // namespace
