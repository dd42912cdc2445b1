// cp_client_unary_async through client interceptors against real servers on
// loopback: an async metadata interceptor, cp_retry (backoff on a timer),
// cp_breaker (fail fast without a call), both together, an interceptor that
// decides later on another thread, and close/destroy while a retry waits
// for its backoff (every callback exactly once, nothing leaks).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "flaky_service.h"
}
#include "wait.h"

namespace {

// What a call's callback saw; `calls` shows a second delivery as 2.
struct Outcome {
  std::atomic<int> calls{0};
  cp_status status{};
  std::string text;
  std::string metadata_value;
  std::thread::id thread;
  bool had_response = false;

  ::testing::AssertionResult Wait() {
    return cp_test::WaitFor(
        "the callback", [&] { return calls.load() >= 1; },
        [&] { return std::to_string(calls.load()) + " callback(s)"; });
  }
};

void OnDone(const cp_status *status, ProtobufCMessage *resp, void *user) {
  auto *o = static_cast<Outcome *>(user);
  o->status = *status;
  o->thread = std::this_thread::get_id();
  if (resp != nullptr) {
    auto *r = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp);
    o->had_response = true;
    o->text = r->text;
    o->metadata_value = r->metadata_value;
    protobuf_c_message_free_unpacked(resp, nullptr);
  }
  o->calls.fetch_add(1);  // last: what it recorded is visible once counted
}

const cp_method_desc *EchoMethod() {
  return &cp_cplugintest__v1__echo_service__echo__method;
}

int StartEcho(cp_client *client, Outcome *out, const char *text,
              const char *metadata_key = nullptr) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>(text);
  req.metadata_key =
      const_cast<char *>(metadata_key != nullptr ? metadata_key : "");
  return cp_client_unary_async(client, EchoMethod(), &req.base, nullptr, OnDone,
                               out);
}

// Adds x-tenant to every call, blocking or asynchronous.
int AddTenant(cp_invocation *inv, void *) {
  int rc = cp_invocation_add_metadata(inv, "x-tenant", "blue");
  return rc != 0 ? rc : cp_invocation_proceed(inv);
}

void AddTenantAsync(cp_invocation *inv, void *user) {
  auto *entered = static_cast<std::atomic<int> *>(user);
  entered->fetch_add(1);
  if (cp_invocation_add_metadata(inv, "x-tenant", "blue") != 0) {
    cp_invocation_complete(
        inv, cp_invocation_fail(inv, CP_STATUS_INTERNAL, "no metadata"));
    return;
  }
  EXPECT_TRUE(cp_invocation_is_async(inv));
  EXPECT_EQ(0, cp_invocation_proceed_async(inv, nullptr, nullptr));
}

class AsyncInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    ASSERT_EQ(0, cp_server_create(&echo_server_, nullptr));
    ASSERT_EQ(0, echo_service_register(echo_server_, stats_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(echo_server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(echo_server_));
    echo_target_ = "127.0.0.1:" + std::to_string(port);

    flaky_ = flaky_service_create();
    ASSERT_EQ(0, cp_server_create(&flaky_server_, nullptr));
    ASSERT_EQ(0, flaky_service_register(flaky_server_, flaky_));
    ASSERT_EQ(0, cp_server_listen(flaky_server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(flaky_server_));
    flaky_target_ = "127.0.0.1:" + std::to_string(port);

    cp_retry_options_init(&retry_opts_);
    retry_opts_.policy.jitter = false;
    retry_opts_.policy.initial_backoff_ms = 1;
    retry_opts_.policy.max_backoff_ms = 1;
    // A blocking sleep must never run for an asynchronous call.
    retry_opts_.sleep = [](int64_t, void *user) {
      static_cast<std::atomic<int> *>(user)->fetch_add(1);
    };
    retry_opts_.sleep_user = &blocking_sleeps_;
    cp_breaker_options_init(&breaker_opts_);
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_retry_destroy(retry_);
    cp_breaker_destroy(breaker_);
    cp_server_shutdown(echo_server_, 1000);
    cp_server_destroy(echo_server_);
    cp_server_shutdown(flaky_server_, 1000);
    cp_server_destroy(flaky_server_);
    echo_stats_destroy(stats_);
    flaky_service_destroy(flaky_);
    EXPECT_EQ(0, blocking_sleeps_.load());
  }

  void Connect(const std::string &target) {
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }
  void AttachBreaker() {
    ASSERT_EQ(0, cp_breaker_create(&breaker_, &breaker_opts_));
    ASSERT_EQ(0, cp_breaker_attach(breaker_, client_));
  }
  void AttachRetry() {
    ASSERT_EQ(0, cp_retry_create(&retry_, &retry_opts_));
    ASSERT_EQ(0, cp_retry_attach(retry_, client_));
  }

  echo_stats *stats_ = nullptr;
  cp_server *echo_server_ = nullptr;
  std::string echo_target_;
  flaky_service *flaky_ = nullptr;
  cp_server *flaky_server_ = nullptr;
  std::string flaky_target_;
  cp_retry_options retry_opts_;
  cp_breaker_options breaker_opts_;
  std::atomic<int> blocking_sleeps_{0};
  cp_client *client_ = nullptr;
  cp_retry *retry_ = nullptr;
  cp_breaker *breaker_ = nullptr;
};

TEST_F(AsyncInterceptorTest, MetadataInterceptorReachesTheServer) {
  Connect(echo_target_);
  std::atomic<int> entered{0};
  ASSERT_EQ(0, cp_client_add_interceptor_async(client_, AddTenant,
                                               AddTenantAsync, &entered));
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "hello", "x-tenant"));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(1, entered.load());
  EXPECT_EQ(CP_STATUS_OK, out.status.code) << out.status.message;
  EXPECT_EQ("hello", out.text);
  EXPECT_EQ("blue", out.metadata_value);
  EXPECT_NE(std::this_thread::get_id(), out.thread);
  // The blocking form still serves blocking calls on the same client.
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("sync");
  req.metadata_key = const_cast<char *>("x-tenant");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(
                   client_, &req, &resp, nullptr, &st));
  EXPECT_STREQ("blue", resp->metadata_value);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  EXPECT_EQ(1, entered.load());
}

TEST_F(AsyncInterceptorTest, BlockingOnlyInterceptorStillRefusesAsync) {
  Connect(echo_target_);
  std::atomic<int> entered{0};
  ASSERT_EQ(0, cp_client_add_interceptor_async(client_, AddTenant,
                                               AddTenantAsync, &entered));
  ASSERT_EQ(0, cp_client_add_interceptor(client_, AddTenant, nullptr));
  Outcome out;
  EXPECT_EQ(CP_ESTATE, StartEcho(client_, &out, "refused"));
  EXPECT_EQ(0, entered.load());
  EXPECT_EQ(0, out.calls.load());
}

TEST_F(AsyncInterceptorTest, RetryRetriesUnavailableThenSucceeds) {
  Connect(flaky_target_);
  AttachRetry();
  flaky_service_fail_next(flaky_, 2, CP_STATUS_UNAVAILABLE, -1);
  cp_trailers *trailers = nullptr;
  ASSERT_EQ(0, cp_trailers_create(&trailers));
  cp_call_options co;
  cp_call_options_init(&co);
  co.trailers = trailers;
  Outcome out;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("again");
  ASSERT_EQ(0, cp_client_unary_async(client_, EchoMethod(), &req.base, &co,
                                     OnDone, &out));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_OK, out.status.code) << out.status.message;
  EXPECT_EQ("again", out.text);
  EXPECT_EQ(3, flaky_service_calls(flaky_));
  EXPECT_EQ(2u, cp_retry_count(retry_));
  EXPECT_EQ(1, out.calls.load());
  EXPECT_EQ(nullptr, cp_trailers_get(trailers, "retry-after-ms", nullptr));
  cp_trailers_destroy(trailers);
}

TEST_F(AsyncInterceptorTest, RetryGivesUpAfterMaxAttempts) {
  Connect(flaky_target_);
  AttachRetry();
  flaky_service_fail_next(flaky_, 5, CP_STATUS_UNAVAILABLE, -1);
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "never"));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, out.status.code);
  EXPECT_FALSE(out.had_response);
  EXPECT_EQ(3, flaky_service_calls(flaky_));  // the default max_attempts
}

TEST_F(AsyncInterceptorTest, RetryHonoursRetryAfterWithoutBlocking) {
  Connect(flaky_target_);
  AttachRetry();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 5);
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "later"));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_OK, out.status.code) << out.status.message;
  EXPECT_EQ(2, flaky_service_calls(flaky_));
}

TEST_F(AsyncInterceptorTest, OpenBreakerFailsFastWithoutACall) {
  Connect(flaky_target_);
  breaker_opts_.failure_threshold = 1;
  breaker_opts_.open_timeout_ms = 3600 * 1000;
  AttachBreaker();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  Outcome first;
  ASSERT_EQ(0, StartEcho(client_, &first, "opens"));
  ASSERT_TRUE(first.Wait());
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, first.status.code);
  ASSERT_EQ(CP_BREAKER_OPEN, cp_breaker_get_state(breaker_));
  ASSERT_EQ(1, flaky_service_calls(flaky_));

  Outcome fast;
  ASSERT_EQ(0, StartEcho(client_, &fast, "refused"));
  ASSERT_TRUE(fast.Wait());
  EXPECT_EQ(1, fast.calls.load());
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, fast.status.code);
  EXPECT_STREQ("circuit breaker is open", fast.status.message);
  // Delivered on the callback thread, not inside cp_client_unary_async.
  EXPECT_NE(std::this_thread::get_id(), fast.thread);
  EXPECT_EQ(1, flaky_service_calls(flaky_));
  cp_breaker_stats stats;
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(1u, stats.rejected);
}

TEST_F(AsyncInterceptorTest, BreakerCountsACallOnceAfterItsRetries) {
  Connect(flaky_target_);
  breaker_opts_.failure_threshold = 2;
  AttachBreaker();  // outer
  AttachRetry();    // inner
  flaky_service_fail_next(flaky_, 3, CP_STATUS_UNAVAILABLE, -1);
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "x"));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, out.status.code);
  EXPECT_EQ(3, flaky_service_calls(flaky_));
  cp_breaker_stats stats;
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(CP_BREAKER_CLOSED, stats.state);
  EXPECT_EQ(1, stats.consecutive_failures);
  Outcome ok;
  ASSERT_EQ(0, StartEcho(client_, &ok, "y"));
  ASSERT_TRUE(ok.Wait());
  EXPECT_EQ(CP_STATUS_OK, ok.status.code) << ok.status.message;
  cp_breaker_get_stats(breaker_, &stats);
  EXPECT_EQ(0, stats.consecutive_failures);
}

TEST_F(AsyncInterceptorTest, ManyConcurrentCallsThroughBreakerAndRetry) {
  Connect(flaky_target_);
  breaker_opts_.failure_threshold = 1000;
  AttachBreaker();
  AttachRetry();
  flaky_service_fail_next(flaky_, 60, CP_STATUS_UNAVAILABLE, -1);
  constexpr int kThreads = 2;
  constexpr int kPerThread = 150;
  std::vector<Outcome> outs(kThreads * kPerThread);
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        if (StartEcho(client_, &outs[t * kPerThread + i], "many") != 0) {
          refused.fetch_add(1);
        }
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  ASSERT_EQ(0, refused.load());
  for (auto &o : outs) {
    ASSERT_TRUE(o.Wait());
  }
  int ok = 0;
  for (auto &o : outs) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_TRUE(o.status.code == CP_STATUS_OK ||
                o.status.code == CP_STATUS_UNAVAILABLE)
        << o.status.message;
    ok += o.status.code == CP_STATUS_OK ? 1 : 0;
  }
  // The server ran each call's one successful attempt and the 60 failed
  // ones; a call that failed used up its three attempts.
  EXPECT_EQ(ok + 60, flaky_service_calls(flaky_));
  EXPECT_LE(3 * (static_cast<int>(outs.size()) - ok), 60);
}

// Close while a retry waits for a backoff of an hour: the wait ends at once
// and the callback runs once with CANCELLED "client is closed".
TEST_F(AsyncInterceptorTest, CloseDuringBackoffEndsTheCallOnce) {
  Connect(flaky_target_);
  retry_opts_.policy.initial_backoff_ms = 3600 * 1000;
  retry_opts_.policy.max_backoff_ms = 3600 * 1000;
  AttachRetry();
  flaky_service_fail_next(flaky_, 10, CP_STATUS_UNAVAILABLE, -1);
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "waits"));
  ASSERT_TRUE(cp_test::WaitFor(
      "the first attempt", [&] { return flaky_service_calls(flaky_) >= 1; },
      [&] { return std::to_string(flaky_service_calls(flaky_)); }));
  cp_client_close(client_);
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_CANCELLED, out.status.code);
  EXPECT_STREQ("client is closed", out.status.message);
  EXPECT_FALSE(out.had_response);
  cp_client_destroy(client_);
  client_ = nullptr;
  EXPECT_EQ(1, out.calls.load());
  EXPECT_EQ(1, flaky_service_calls(flaky_));
  EXPECT_EQ(0u, cp_retry_count(retry_));
}

TEST_F(AsyncInterceptorTest, DestroyDuringBackoffDeliversEveryCallback) {
  Connect(flaky_target_);
  retry_opts_.policy.initial_backoff_ms = 3600 * 1000;
  retry_opts_.policy.max_backoff_ms = 3600 * 1000;
  AttachRetry();
  constexpr int kCalls = 20;
  flaky_service_fail_next(flaky_, 1000, CP_STATUS_UNAVAILABLE, -1);
  Outcome outs[kCalls];
  for (auto &o : outs) {
    ASSERT_EQ(0, StartEcho(client_, &o, "waits"));
  }
  ASSERT_TRUE(cp_test::WaitFor(
      "every first attempt",
      [&] { return flaky_service_calls(flaky_) >= kCalls; },
      [&] { return std::to_string(flaky_service_calls(flaky_)); }));
  cp_client_destroy(client_);  // closes, then waits for every callback
  client_ = nullptr;
  for (auto &o : outs) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_CANCELLED, o.status.code);
  }
}

// The typed stub of protoc-gen-cplugin: the callback gets the response as
// its own type, lent for the duration of the callback (the runtime frees it
// afterwards, which valgrind checks).
struct TypedOutcome {
  std::atomic<int> calls{0};
  cp_status status{};
  std::string text;
};

void OnTypedEcho(const cp_status *status,
                 const Cplugintest__V1__EchoResponse *resp, void *user) {
  auto *o = static_cast<TypedOutcome *>(user);
  o->status = *status;
  if (resp != nullptr) {
    o->text = resp->text;
  }
  o->calls.fetch_add(1);
}

TEST_F(AsyncInterceptorTest, TypedStubThroughRetry) {
  Connect(flaky_target_);
  AttachRetry();
  flaky_service_fail_next(flaky_, 1, CP_STATUS_UNAVAILABLE, -1);
  TypedOutcome out;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("typed");
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call_async(
                   client_, &req, nullptr, OnTypedEcho, &out));
  ASSERT_TRUE(cp_test::WaitFor("the typed callback",
                               [&] { return out.calls.load() >= 1; }));
  EXPECT_EQ(CP_STATUS_OK, out.status.code) << out.status.message;
  EXPECT_EQ("typed", out.text);
  EXPECT_EQ(2, flaky_service_calls(flaky_));
  EXPECT_EQ(CP_EINVAL, cp_cplugintest__v1__echo_service__echo__call_async(
                           client_, &req, nullptr, nullptr, &out));
  cp_client_close(client_);
  EXPECT_EQ(CP_ECLOSED, cp_cplugintest__v1__echo_service__echo__call_async(
                            client_, &req, nullptr, OnTypedEcho, &out));
  EXPECT_EQ(1, out.calls.load());
}

// An interceptor that decides on another thread, after its entry returned
// (as one fetching a token would).
struct Deferred {
  std::mutex mu;
  cp_invocation *inv = nullptr;
};

void DeferAsync(cp_invocation *inv, void *user) {
  auto *d = static_cast<Deferred *>(user);
  std::lock_guard<std::mutex> lock(d->mu);
  d->inv = inv;
}

int DeferBlocking(cp_invocation *inv, void *) {
  return cp_invocation_proceed(inv);
}

TEST_F(AsyncInterceptorTest, InterceptorMayDecideLaterOnAnotherThread) {
  Connect(echo_target_);
  Deferred d;
  ASSERT_EQ(0, cp_client_add_interceptor_async(client_, DeferBlocking,
                                               DeferAsync, &d));
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "later"));
  cp_invocation *inv = nullptr;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    inv = d.inv;
  }
  ASSERT_NE(nullptr, inv);
  EXPECT_EQ(0, out.calls.load());  // nothing happens until it decides
  std::thread([inv] {
    ASSERT_EQ(0, cp_invocation_add_metadata(inv, "x-late", "yes"));
    ASSERT_EQ(0, cp_invocation_proceed_async(inv, nullptr, nullptr));
  }).join();
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_OK, out.status.code) << out.status.message;
  EXPECT_EQ("later", out.text);
}

// A blocking proceed inside an asynchronous invocation is refused.
void ProceedBlocking(cp_invocation *inv, void *) {
  int rc = cp_invocation_proceed(inv);
  EXPECT_EQ(CP_ESTATE, rc);
  cp_invocation_complete(inv, rc);
}

TEST_F(AsyncInterceptorTest, BlockingProceedInAsyncCallIsAnError) {
  Connect(echo_target_);
  ASSERT_EQ(0, cp_client_add_interceptor_async(client_, DeferBlocking,
                                               ProceedBlocking, nullptr));
  Outcome out;
  ASSERT_EQ(0, StartEcho(client_, &out, "x"));
  ASSERT_TRUE(out.Wait());
  EXPECT_EQ(CP_STATUS_INTERNAL, out.status.code);
  EXPECT_EQ(0, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(AsyncInterceptorTest, AsyncCallsOnInvocationsOfBlockingCallsFail) {
  Connect(echo_target_);
  auto blocking = [](cp_invocation *inv, void *) {
    EXPECT_FALSE(cp_invocation_is_async(inv));
    EXPECT_EQ(CP_ESTATE, cp_invocation_proceed_async(inv, nullptr, nullptr));
    EXPECT_EQ(CP_ESTATE, cp_invocation_complete(inv, 0));
    EXPECT_NE(nullptr, cp_invocation_alloc(inv, 16));
    return cp_invocation_proceed(inv);
  };
  ASSERT_EQ(0, cp_client_add_interceptor(client_, blocking, nullptr));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("b");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(
                   client_, &req, &resp, nullptr, &st));
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
}

}  // namespace
