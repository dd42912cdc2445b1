// The rate limiter on its own: token-bucket semantics with an injected
// clock, exactness under threads, eviction, the full-table policy, the
// sweeper thread; and the peer-address parser the rate policy keys on.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/clock.h"
#include "cplugin/errors.h"
#include "cplugin/ratelimit.h"
#include "cplugin/ratelimit_policy.h"
#include "core/siphash.h"
}
#include "wait.h"

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

cp_rate_limit Limit(uint32_t rate, uint32_t burst) {
  cp_rate_limit l;
  l.rate_per_sec = rate;
  l.burst = burst;
  return l;
}

class RateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override { cp_manual_clock_init(&clock_, 1000 * kSec); }

  void TearDown() override { cp_rate_limiter_destroy(limiter_); }

  // A limiter on the manual clock without a sweeper thread.
  void Create(size_t max_buckets = 100000, int64_t idle_ms = 300000,
              int64_t sweep_ms = 0) {
    cp_rate_limiter_options o;
    cp_rate_limiter_options_init(&o);
    o.max_buckets = max_buckets;
    o.idle_evict_ms = idle_ms;
    o.sweep_interval_ms = sweep_ms;
    o.clock = &clock_.clock;
    ASSERT_EQ(0, cp_rate_limiter_create(&limiter_, &o));
  }

  // The result of one check; an error shows as CP_EINVAL.
  int Check(const std::string &key, cp_rate_limit limit,
            int64_t *retry = nullptr) {
    return CheckWith(limiter_, key.data(), key.size(), limit, retry);
  }

  static int CheckWith(cp_rate_limiter *l, const char *key, size_t len,
                       cp_rate_limit limit, int64_t *retry = nullptr) {
    cp_rate_result r = CP_RATE_ALLOW;
    int rc = cp_rate_limiter_check(l, key, len, limit, &r, retry);
    if (rc != 0) {
      EXPECT_EQ(CP_RATE_DENY, r) << "an error must never admit";
      return rc;
    }
    return r;
  }

  // Checks `n` times at the current time; returns how many were allowed.
  int Admitted(const std::string &key, cp_rate_limit limit, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
      ok += Check(key, limit) == CP_RATE_ALLOW;
    }
    return ok;
  }

  void Advance(int64_t ns) { cp_manual_clock_advance(&clock_, ns); }

  cp_manual_clock clock_;
  cp_rate_limiter *limiter_ = nullptr;
};

TEST_F(RateLimiterTest, NewBucketStartsFullThenDenies) {
  Create();
  // Upstream's TokenBucketLimiter_Allow: rate 10, burst 5.
  for (int i = 0; i < 5; i++) {
    int64_t retry = -1;
    EXPECT_EQ(CP_RATE_ALLOW, Check("k", Limit(10, 5), &retry)) << i;
    EXPECT_EQ(0, retry);
  }
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(10, 5)));
  Advance(150 * kMs);
  EXPECT_EQ(CP_RATE_ALLOW, Check("k", Limit(10, 5)));
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(10, 5)));
  EXPECT_EQ(1u, cp_rate_limiter_count(limiter_));
}

TEST_F(RateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  Create();
  EXPECT_EQ(20, Admitted("k", Limit(10, 20), 100));
  Advance(500 * kMs);  // 5 tokens
  EXPECT_EQ(5, Admitted("k", Limit(10, 20), 100));
  Advance(3600 * kSec);  // far more than the burst
  EXPECT_EQ(20, Admitted("k", Limit(10, 20), 100));
  // Refill is continuous: 99 ms is not yet a token at 10/s, 100 ms is.
  Advance(99 * kMs);
  EXPECT_EQ(0, Admitted("k", Limit(10, 20), 1));
  Advance(1 * kMs);
  EXPECT_EQ(1, Admitted("k", Limit(10, 20), 1));
}

TEST_F(RateLimiterTest, EightChecksAtEightPerSecondAdmitExactlyEight) {
  Create();
  // Burst 1: every check lands exactly when its token arrives.
  int admitted = 0;
  for (int i = 0; i < 8; i++) {
    admitted += Check("a", Limit(8, 1)) == CP_RATE_ALLOW;
    Advance(125 * kMs);
  }
  EXPECT_EQ(8, admitted);
  // Over ten seconds at exactly the rate: 80 of 80, no drift.
  admitted = 0;
  for (int i = 0; i < 80; i++) {
    admitted += Check("a", Limit(8, 1)) == CP_RATE_ALLOW;
    admitted += Check("a", Limit(8, 1)) == CP_RATE_ALLOW;  // one too many
    Advance(125 * kMs);
  }
  EXPECT_EQ(80, admitted);
  // Burst 8: eight at once, then nothing until the first token returns.
  EXPECT_EQ(8, Admitted("b", Limit(8, 8), 20));
  Advance(125 * kMs - 1);
  EXPECT_EQ(0, Admitted("b", Limit(8, 8), 1));
  Advance(1);
  EXPECT_EQ(1, Admitted("b", Limit(8, 8), 1));
}

TEST_F(RateLimiterTest, NonDividingRatesNeverAdmitMoreThanTheRate) {
  Create();
  // 1e9 / 3 is not an integer: a token is worth 333333334 ns (rounded up).
  EXPECT_EQ(CP_RATE_ALLOW, Check("k", Limit(3, 1)));
  Advance(333333333);
  int64_t retry = 0;
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(3, 1), &retry));
  EXPECT_EQ(1, retry);
  Advance(1);
  EXPECT_EQ(CP_RATE_ALLOW, Check("k", Limit(3, 1)));

  // Dense checks (every millisecond) for 10 s, burst 1: at most the rate in
  // every whole second. (At 999/s a token takes 1.001 ms, so checks each
  // millisecond get one token every 2 ms: the bound is all that holds.)
  for (uint32_t rate : {3u, 7u, 999u}) {
    std::string key = "dense-" + std::to_string(rate);
    std::vector<int> per_second(10, 0);
    for (int ms = 0; ms < 10000; ms++) {
      per_second[ms / 1000] += Check(key, Limit(rate, 1)) == CP_RATE_ALLOW;
      Advance(kMs);
    }
    int total = 0;
    for (int n : per_second) {
      EXPECT_LE(n, static_cast<int>(rate)) << rate;
      total += n;
    }
    EXPECT_LE(total, static_cast<int>(rate) * 10) << rate;
    if (rate < 10) {
      EXPECT_GE(total, static_cast<int>(rate) * 10 - 1) << rate;
    }
  }
}

TEST_F(RateLimiterTest, RateZeroIsAOneTimeBudget) {
  Create();
  EXPECT_EQ(3, Admitted("k", Limit(0, 3), 10));
  Advance(24 * 3600 * kSec);
  int64_t retry = 0;
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(0, 3), &retry));
  // No sweeper to renew the budget: no token will ever come.
  EXPECT_EQ(CP_RATE_RETRY_NEVER, retry);
}

TEST_F(RateLimiterTest, BurstZeroAlwaysDenies) {
  Create();
  int64_t retry = 0;
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(1000, 0), &retry));
  EXPECT_EQ(CP_RATE_RETRY_NEVER, retry);
  Advance(3600 * kSec);
  EXPECT_EQ(CP_RATE_DENY, Check("k", Limit(1000, 0)));
  EXPECT_EQ(0u, cp_rate_limiter_count(limiter_));  // nothing to remember
}

TEST_F(RateLimiterTest, ChangedLimitTakesEffectOnTheNextCheck) {
  Create();
  // Upstream's DynamicLimits: 1/s burst 1 exhausted; 200 ms later the
  // limit is 100/s burst 10, and the next check is allowed.
  EXPECT_EQ(CP_RATE_ALLOW, Check("dyn", Limit(1, 1)));
  EXPECT_EQ(CP_RATE_DENY, Check("dyn", Limit(1, 1)));
  Advance(200 * kMs);
  EXPECT_EQ(CP_RATE_ALLOW, Check("dyn", Limit(100, 10)));

  // Tokens used are carried over: 2 of burst 10 used, then burst 5 leaves 3.
  EXPECT_EQ(2, Admitted("shrink", Limit(1, 10), 2));
  EXPECT_EQ(3, Admitted("shrink", Limit(1, 5), 10));
  // A faster rate refills faster from the next check on.
  EXPECT_EQ(1, Admitted("fast", Limit(1, 1), 5));
  int64_t retry = 0;
  EXPECT_EQ(CP_RATE_DENY, Check("fast", Limit(10, 1), &retry));
  EXPECT_EQ(100 * kMs, retry);
  Advance(100 * kMs);
  EXPECT_EQ(CP_RATE_ALLOW, Check("fast", Limit(10, 1)));

  // A larger one-time budget grants the difference; switching back to the
  // smaller one and up again never hands out more.
  EXPECT_EQ(5, Admitted("budget", Limit(0, 5), 10));
  EXPECT_EQ(3, Admitted("budget", Limit(0, 8), 10));
  EXPECT_EQ(0, Admitted("budget", Limit(0, 2), 10));
  EXPECT_EQ(0, Admitted("budget", Limit(0, 8), 10));
  // From a one-time budget to a refilling limit: the used tokens refill.
  EXPECT_EQ(2, Admitted("mixed", Limit(0, 2), 5));
  EXPECT_EQ(0, Admitted("mixed", Limit(10, 2), 5));
  Advance(100 * kMs);
  EXPECT_EQ(1, Admitted("mixed", Limit(10, 2), 5));
  // And back: a fraction of a used token counts as used.
  Advance(50 * kMs);
  EXPECT_EQ(0, Admitted("mixed", Limit(0, 2), 5));
  EXPECT_EQ(3, Admitted("mixed", Limit(0, 5), 5));
}

TEST_F(RateLimiterTest, RetryAfterIsTheWaitForTheNextToken) {
  Create();
  int64_t retry = 0;
  EXPECT_EQ(5, Admitted("r", Limit(1, 5), 5));
  EXPECT_EQ(CP_RATE_DENY, Check("r", Limit(1, 5), &retry));
  EXPECT_EQ(1 * kSec, retry);
  Advance(300 * kMs);
  EXPECT_EQ(CP_RATE_DENY, Check("r", Limit(1, 5), &retry));
  EXPECT_EQ(700 * kMs, retry);
  Advance(retry);
  EXPECT_EQ(CP_RATE_ALLOW, Check("r", Limit(1, 5), &retry));
  EXPECT_EQ(0, retry);
  // NULL is accepted for the out-parameter.
  EXPECT_EQ(CP_RATE_DENY, Check("r", Limit(1, 5), nullptr));
}

TEST_F(RateLimiterTest, DifferentKeysAreIndependent) {
  Create();
  EXPECT_EQ(2, Admitted("alice", Limit(1, 2), 5));
  EXPECT_EQ(2, Admitted("bob", Limit(1, 2), 5));
  // Keys are bytes: a prefix, an embedded NUL and the empty key are keys.
  std::string with_nul("alice\0x", 7);
  EXPECT_EQ(2, Admitted(with_nul, Limit(1, 2), 5));
  EXPECT_EQ(2, Admitted("alic", Limit(1, 2), 5));
  EXPECT_EQ(2, Admitted("", Limit(1, 2), 5));
  EXPECT_EQ(CP_RATE_ALLOW, CheckWith(limiter_, nullptr, 0, Limit(1, 3)));
  EXPECT_EQ(5u, cp_rate_limiter_count(limiter_));
  // Many keys (the index grows), each with its own budget.
  for (int i = 0; i < 20000; i++) {
    ASSERT_EQ(CP_RATE_ALLOW, Check("key-" + std::to_string(i), Limit(1, 1)));
  }
  for (int i = 0; i < 20000; i++) {
    ASSERT_EQ(CP_RATE_DENY, Check("key-" + std::to_string(i), Limit(1, 1)));
  }
  EXPECT_EQ(20005u, cp_rate_limiter_count(limiter_));
}

TEST_F(RateLimiterTest, BadInputNeverCrashes) {
  Create();
  int64_t retry = 0;
  EXPECT_EQ(CP_EINVAL, CheckWith(nullptr, "k", 1, Limit(1, 1), &retry));
  EXPECT_EQ(CP_RATE_RETRY_NEVER, retry);
  EXPECT_EQ(CP_EINVAL, CheckWith(limiter_, nullptr, 3, Limit(1, 1)));
  std::string huge(CP_RATE_KEY_MAX + 1, 'x');
  EXPECT_EQ(CP_EINVAL, Check(huge, Limit(1, 1)));
  huge.resize(CP_RATE_KEY_MAX);
  EXPECT_EQ(CP_RATE_ALLOW, Check(huge, Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, CheckWith(limiter_, "k", SIZE_MAX, Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_check(limiter_, "k", 1, Limit(1, 1),
                                             nullptr, nullptr));
  // Extreme limits.
  EXPECT_EQ(CP_RATE_ALLOW, Check("max", Limit(UINT32_MAX, UINT32_MAX)));
  EXPECT_EQ(CP_RATE_ALLOW, Check("max", Limit(1, UINT32_MAX)));
  EXPECT_EQ(CP_RATE_ALLOW, Check("max", Limit(0, UINT32_MAX)));
  // 3 used, 1 ns per token, burst 1: the key waits for refill.
  EXPECT_EQ(CP_RATE_DENY, Check("max", Limit(UINT32_MAX, 1)));
  Advance(3);
  EXPECT_EQ(CP_RATE_ALLOW, Check("max", Limit(UINT32_MAX, 1)));
  EXPECT_EQ(0u, cp_rate_limiter_count(nullptr));
  EXPECT_EQ(0u, cp_rate_limiter_sweep(nullptr));
  cp_rate_limiter_destroy(nullptr);

  cp_rate_limiter *l = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_create(nullptr, nullptr));
  cp_rate_limiter_options o;
  cp_rate_limiter_options_init(&o);
  o.max_buckets = 0;
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_create(&l, &o));
  o.max_buckets = CP_RATE_MAX_BUCKETS_LIMIT + 1;
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_create(&l, &o));
  cp_rate_limiter_options_init(&o);
  o.idle_evict_ms = -1;
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_create(&l, &o));
  cp_rate_limiter_options_init(&o);
  o.sweep_interval_ms = INT64_MAX;
  EXPECT_EQ(CP_EINVAL, cp_rate_limiter_create(&l, &o));
  EXPECT_EQ(nullptr, l);
  // Defaults, with NULL options.
  ASSERT_EQ(0, cp_rate_limiter_create(&l, nullptr));
  EXPECT_EQ(CP_RATE_ALLOW, CheckWith(l, "k", 1, Limit(1, 1)));
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(l, &st);
  EXPECT_EQ(100000u, st.max_buckets);
  cp_rate_limiter_destroy(l);
  cp_rate_limiter_get_stats(nullptr, &st);
  EXPECT_EQ(0u, st.buckets);
  cp_rate_limiter_get_stats(nullptr, nullptr);
}

TEST_F(RateLimiterTest, MemoryPerBucketIsMeasured) {
  Create();
  EXPECT_EQ(static_cast<size_t>(CP_RATE_BUCKET_BYTES),
            cp_rate_limiter_bytes_per_bucket());
  EXPECT_LE(cp_rate_limiter_bytes_per_bucket(), 64u);
  for (int i = 0; i < 10000; i++) {
    Check("key-" + std::to_string(i), Limit(1, 1));
  }
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(limiter_, &st);
  EXPECT_EQ(10000u, st.buckets);
  EXPECT_EQ(static_cast<size_t>(CP_RATE_BUCKET_BYTES), st.bucket_bytes);
  // State, index and fixed overhead together.
  EXPECT_LE(st.memory_bytes / st.buckets, 64u) << st.memory_bytes;
  RecordProperty("bytes_per_key",
                 static_cast<int>(st.memory_bytes / st.buckets));
}

// Every sweep is counted and stamped with the wall clock (the operator's
// cplugin_sweep_last_success_timestamp_seconds{sweeper="rate_limit_buckets"});
// before the first, the creation stands in.
TEST_F(RateLimiterTest, SweepsAreCountedAndStamped) {
  Create(100, /*idle_ms=*/60000);
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(limiter_, &st);
  EXPECT_EQ(0u, st.sweeps);
  const int64_t created = st.last_sweep_unix_ms;
  EXPECT_GT(created, 0);
  Check("k", Limit(1, 1));
  Advance(61 * kSec);
  EXPECT_EQ(1u, cp_rate_limiter_sweep(limiter_));
  EXPECT_EQ(0u, cp_rate_limiter_sweep(limiter_));
  cp_rate_limiter_get_stats(limiter_, &st);
  EXPECT_EQ(2u, st.sweeps);
  EXPECT_GE(st.last_sweep_unix_ms, created);
}

// --- eviction and the full-table policy --------------------------------------

TEST_F(RateLimiterTest, IdleBucketsAreEvictedOnlyWhenEvictionIsInvisible) {
  Create(100, /*idle_ms=*/60000);
  EXPECT_EQ(3, Admitted("used", Limit(1, 3), 3));   // full again at +3 s
  EXPECT_EQ(1, Admitted("light", Limit(1, 3), 1));  // full again at +1 s
  Advance(59 * kSec);
  EXPECT_EQ(0u, cp_rate_limiter_sweep(limiter_));
  Advance(2 * kSec);  // "light" has been full for 60 s, "used" for 58 s
  EXPECT_EQ(1u, cp_rate_limiter_sweep(limiter_));
  EXPECT_EQ(1u, cp_rate_limiter_count(limiter_));
  Advance(2 * kSec);
  EXPECT_EQ(1u, cp_rate_limiter_sweep(limiter_));
  EXPECT_EQ(0u, cp_rate_limiter_count(limiter_));
  // A key that keeps being denied is never idle.
  EXPECT_EQ(1, Admitted("busy", Limit(0, 1), 1));
  for (int i = 0; i < 10; i++) {
    Advance(30 * kSec);
    EXPECT_EQ(0, Admitted("busy", Limit(0, 1), 1));
    EXPECT_EQ(0u, cp_rate_limiter_sweep(limiter_));
  }
  // An evicted key starts full, as it would have been anyway.
  EXPECT_EQ(3, Admitted("used", Limit(1, 3), 10));
}

TEST_F(RateLimiterTest, RateZeroBudgetIsRenewedByIdleEviction) {
  Create(100, /*idle_ms=*/60000, /*sweep_ms=*/3600000);
  int64_t retry = 0;
  EXPECT_EQ(2, Admitted("once", Limit(0, 2), 5));
  EXPECT_EQ(CP_RATE_DENY, Check("once", Limit(0, 2), &retry));
  // Staying away for idle_evict + one sweep period renews the budget.
  EXPECT_EQ((60000 + 3600000) * kMs, retry);
  Advance(59 * kSec);
  EXPECT_EQ(0u, cp_rate_limiter_sweep(limiter_));  // last check 59 s ago
  Advance(1 * kSec);
  EXPECT_EQ(1u, cp_rate_limiter_sweep(limiter_));
  EXPECT_EQ(2, Admitted("once", Limit(0, 2), 5));
}

TEST_F(RateLimiterTest, FullTableRejectsNewKeysOnly) {
  Create(/*max_buckets=*/4, /*idle_ms=*/1000);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(CP_RATE_ALLOW, Check("k" + std::to_string(i), Limit(10, 2)));
  }
  int64_t retry = 0;
  EXPECT_EQ(CP_RATE_DENY_FULL, Check("new", Limit(10, 2), &retry));
  EXPECT_EQ(1000 * kMs, retry);  // the idle-eviction period
  EXPECT_EQ(CP_RATE_DENY_FULL, Check("other", Limit(10, 2)));
  // Known keys keep their own budgets.
  EXPECT_EQ(CP_RATE_ALLOW, Check("k0", Limit(10, 2)));
  EXPECT_EQ(CP_RATE_DENY, Check("k0", Limit(10, 2)));
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(limiter_, &st);
  EXPECT_EQ(4u, st.buckets);
  EXPECT_EQ(2u, st.full_denials);
  // Once idle buckets are evicted, new keys get buckets again.
  Advance(2 * kSec);
  EXPECT_EQ(4u, cp_rate_limiter_sweep(limiter_));
  EXPECT_EQ(CP_RATE_ALLOW, Check("new", Limit(10, 2)));
  EXPECT_EQ(1u, cp_rate_limiter_count(limiter_));
}

TEST_F(RateLimiterTest, EvictionRecyclesBucketsThroughManyGenerations) {
  Create(/*max_buckets=*/5000, /*idle_ms=*/0);
  for (int gen = 0; gen < 5; gen++) {
    for (int i = 0; i < 5000; i++) {
      std::string key = "g" + std::to_string(gen) + "-" + std::to_string(i);
      ASSERT_EQ(CP_RATE_ALLOW, Check(key, Limit(1000, 1))) << key;
      ASSERT_EQ(CP_RATE_DENY, Check(key, Limit(1000, 1))) << key;
    }
    EXPECT_EQ(CP_RATE_DENY_FULL, Check("extra", Limit(1000, 1)));
    Advance(1 * kSec);
    EXPECT_EQ(5000u, cp_rate_limiter_sweep(limiter_));
    EXPECT_EQ(0u, cp_rate_limiter_count(limiter_));
  }
}

// The IDs of this process's threads (/proc/self/task).
std::set<std::string> Threads() {
  std::set<std::string> ids;
  DIR *d = opendir("/proc/self/task");
  if (d == nullptr) {
    return ids;
  }
  while (dirent *e = readdir(d)) {
    if (e->d_name[0] != '.') {
      ids.insert(e->d_name);
    }
  }
  closedir(d);
  return ids;
}

// The threads in `now` that were not in `before`.
std::set<std::string> Added(const std::set<std::string> &before,
                            const std::set<std::string> &now) {
  std::set<std::string> added;
  for (const std::string &id : now) {
    if (before.count(id) == 0) {
      added.insert(id);
    }
  }
  return added;
}

std::string Describe(const std::set<std::string> &ids) {
  std::string out = std::to_string(ids.size()) + " thread(s):";
  for (const std::string &id : ids) {
    out += " " + id;
  }
  return out;
}

// A joined thread can still be listed in /proc/self/task for a moment (the
// kernel wakes pthread_join before it unlists the thread), so a thread's
// end is waited for.
::testing::AssertionResult NoThreadsBeyond(const std::set<std::string> &before,
                                           const std::string &what) {
  return cp_test::WaitFor(
      what, [&] { return Added(before, Threads()).empty(); },
      [&] { return "still running: " + Describe(Added(before, Threads())); });
}

TEST_F(RateLimiterTest, SweeperThreadEvictsAndStopsOnDestroy) {
  std::set<std::string> before = Threads();
  Create(100, /*idle_ms=*/0, /*sweep_ms=*/5);
  // The sweeper is listed once pthread_create returned.
  EXPECT_EQ(1u, Added(before, Threads()).size()) << Describe(Threads());
  EXPECT_EQ(CP_RATE_ALLOW, Check("k", Limit(1000, 1)));
  Advance(1 * kSec);
  EXPECT_TRUE(cp_test::WaitFor(
      "the sweeper thread to evict the idle bucket",
      [&] { return cp_rate_limiter_count(limiter_) == 0; },
      [&] {
        return std::to_string(cp_rate_limiter_count(limiter_)) + " bucket(s)";
      }));
  EXPECT_EQ(0u, cp_rate_limiter_count(limiter_));
  cp_rate_limiter_destroy(limiter_);
  limiter_ = nullptr;
  EXPECT_TRUE(NoThreadsBeyond(before, "the sweeper thread to end"));

  // Destroy does not wait for a long sweep period to pass.
  Create(100, 0, /*sweep_ms=*/3600 * 1000);
  auto start = std::chrono::steady_clock::now();
  cp_rate_limiter_destroy(limiter_);
  limiter_ = nullptr;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(NoThreadsBeyond(before, "the second sweeper thread to end"));
}

// --- threads
// -------------------------------------------------------------------

constexpr int kThreads = 8;

TEST_F(RateLimiterTest, OneKeyFromManyThreadsIsExact) {
  Create();
  std::atomic<int> admitted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      while (!go.load()) {
      }
      for (int i = 0; i < 2000; i++) {
        admitted += Check("hot", Limit(0, 1000)) == CP_RATE_ALLOW;
      }
    });
  }
  go = true;
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(1000, admitted.load());

  // With a refilling limit and a clock that does not move: the burst, once.
  admitted = 0;
  threads.clear();
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; i++) {
        admitted += Check("hot2", Limit(5, 1000)) == CP_RATE_ALLOW;
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(1000, admitted.load());
}

// Index shards double in place while readers probe them: a writer adds
// 60 000 keys (every shard grows several times) while other threads spend
// one-time budgets of keys that already exist. A lookup that missed its
// key during a growth would create a second bucket and admit too much.
TEST_F(RateLimiterTest, BudgetsStayExactWhileTheIndexGrows) {
  Create();
  const int keys = 64;
  for (int k = 0; k < keys; k++) {
    ASSERT_EQ(CP_RATE_ALLOW,
              Check("budget-" + std::to_string(k), Limit(0, 50)));
  }
  std::atomic<bool> go{false};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    while (!go.load()) {
    }
    for (int i = 0; i < 60000; i++) {
      Check("filler-" + std::to_string(i), Limit(1, 1));
    }
  });
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&] {
      while (!go.load()) {
      }
      for (int round = 0; round < 40; round++) {
        for (int k = 0; k < keys; k++) {
          admitted += Check("budget-" + std::to_string(k), Limit(0, 50)) ==
                      CP_RATE_ALLOW;
        }
      }
    });
  }
  go = true;
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(keys * 49, admitted.load());  // the first check took one each
  EXPECT_EQ(static_cast<size_t>(keys + 60000), cp_rate_limiter_count(limiter_));
}

TEST(RateLimiterRealClock, OneKeyFromManyThreadsNeverExceedsTheRate) {
  cp_rate_limiter_options o;
  cp_rate_limiter_options_init(&o);
  o.sweep_interval_ms = 0;
  o.clock = cp_clock_system();
  cp_rate_limiter *l = nullptr;
  ASSERT_EQ(0, cp_rate_limiter_create(&l, &o));
  const cp_rate_limit limit = Limit(20000, 100);
  std::atomic<int64_t> admitted{0};
  int64_t start = cp_clock_now_ns(cp_clock_system());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; i++) {
        cp_rate_result r = CP_RATE_DENY;
        admitted += cp_rate_limiter_check(l, "k", 1, limit, &r, nullptr) == 0 &&
                    r == CP_RATE_ALLOW;
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  int64_t elapsed = cp_clock_now_ns(cp_clock_system()) - start;
  // The burst plus one token per 50 us of elapsed time, at most.
  EXPECT_LE(admitted.load(), 100 + elapsed / 50000 + 1);
  EXPECT_GE(admitted.load(), 100);
  cp_rate_limiter_destroy(l);
}

TEST_F(RateLimiterTest, SwitchingLimitsConcurrentlyNeverHandsOutTokens) {
  Create();
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    cp_rate_limit limit = t % 2 == 0 ? Limit(0, 100) : Limit(0, 50);
    threads.emplace_back([&, limit] {
      for (int i = 0; i < 2000; i++) {
        admitted += Check("flip", limit) == CP_RATE_ALLOW;
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(100, admitted.load());
}

TEST_F(RateLimiterTest, DistinctKeysFromManyThreadsAreEachExact) {
  Create();
  constexpr int kKeys = 2000;
  std::vector<std::atomic<int>> admitted(kKeys);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      // Every thread touches every key, in a different order.
      for (int i = 0; i < kKeys; i++) {
        int k = (i * 7 + t * 251) % kKeys;
        std::string key = "key-" + std::to_string(k);
        admitted[k] += Check(key, Limit(1, 3)) == CP_RATE_ALLOW;
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  for (int k = 0; k < kKeys; k++) {
    ASSERT_EQ(3, admitted[k].load()) << k;
  }
  EXPECT_EQ(static_cast<size_t>(kKeys), cp_rate_limiter_count(limiter_));
}

TEST_F(RateLimiterTest, SweepsRacingChecksKeepBusyKeysExact) {
  Create(/*max_buckets=*/1 << 20, /*idle_ms=*/0);
  constexpr int kHot = 16;
  std::vector<std::atomic<int>> admitted(kHot);
  std::atomic<bool> stop{false};
  std::atomic<int> cold{0};
  std::atomic<size_t> evicted{0};
  std::vector<std::thread> threads;
  // Churn: short-lived keys become idle at once and are evicted while the
  // hot keys are checked, so index entries move under the readers. At most
  // 500 000 keys of 100 ns each: the clock moves less than one hot-key
  // token (1 s) in all.
  threads.emplace_back([&] {
    for (int i = 0; i < 500000 && !stop.load(); i++) {
      Check("cold-" + std::to_string(i), Limit(1000000000, 1));
      Advance(100);
      cold++;
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      evicted += cp_rate_limiter_sweep(limiter_);
    }
  });
  // The workers keep checking the hot keys until the churn and the sweeps
  // have happened under them: the sweeper is a thread of its own, so how far
  // it got is waited for, not assumed.
  std::atomic<bool> enough{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; t++) {
    workers.emplace_back([&] {
      for (int round = 0; round < 3000 || !enough.load(); round++) {
        for (int k = 0; k < kHot; k++) {
          admitted[k] +=
              Check("hot-" + std::to_string(k), Limit(1, 500)) == CP_RATE_ALLOW;
        }
      }
    });
  }
  EXPECT_TRUE(cp_test::WaitFor(
      "50 000 cold keys and more than 1000 evictions while the hot keys are "
      "checked",
      [&] { return cold.load() >= 50000 && evicted.load() > 1000; },
      [&] {
        return std::to_string(cold.load()) + " cold keys, " +
               std::to_string(evicted.load()) + " evicted";
      }));
  enough = true;
  for (auto &th : workers) {
    th.join();
  }
  stop = true;
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_GT(evicted.load(), 1000u);  // the race did happen
  for (int k = 0; k < kHot; k++) {
    EXPECT_EQ(500, admitted[k].load()) << k;
  }
}

// The check path's hash (cpi_siphash13, word loads) agrees byte for byte with
// a plain byte-at-a-time SipHash-1-3 written here from the paper, at every
// length and at unaligned starts.
uint64_t Rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

void SipRound(uint64_t v[4]) {
  v[0] += v[1];
  v[1] = Rotl(v[1], 13) ^ v[0];
  v[0] = Rotl(v[0], 32);
  v[2] += v[3];
  v[3] = Rotl(v[3], 16) ^ v[2];
  v[0] += v[3];
  v[3] = Rotl(v[3], 21) ^ v[0];
  v[2] += v[1];
  v[1] = Rotl(v[1], 17) ^ v[2];
  v[2] = Rotl(v[2], 32);
}

uint64_t ReferenceSipHash13(const cp_siphash_key &k, const unsigned char *p,
                            size_t len) {
  uint64_t v[4] = {k.k0 ^ 0x736f6d6570736575ULL, k.k1 ^ 0x646f72616e646f6dULL,
                   k.k0 ^ 0x6c7967656e657261ULL, k.k1 ^ 0x7465646279746573ULL};
  size_t blocks = len / 8;
  for (size_t b = 0; b <= blocks; b++) {
    uint64_t m = 0;
    size_t n = b < blocks ? 8 : len % 8;
    for (size_t i = 0; i < n; i++) {
      m |= static_cast<uint64_t>(p[b * 8 + i]) << (8 * i);
    }
    if (b == blocks) {
      m |= static_cast<uint64_t>(len & 0xff) << 56;
    }
    v[3] ^= m;
    SipRound(v);
    v[0] ^= m;
  }
  v[2] ^= 0xff;
  for (int i = 0; i < 3; i++) {
    SipRound(v);
  }
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

TEST(RateKeyHash, IsSipHash13) {
  unsigned char data[600];
  for (size_t i = 0; i < sizeof data; i++) {
    data[i] = static_cast<unsigned char>(i * 31 + 7);
  }
  const cp_siphash_key keys[] = {{0, 0},
                                 {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL},
                                 {~0ULL, 0x123456789abcdef0ULL}};
  for (const cp_siphash_key &k : keys) {
    for (size_t len = 0; len <= sizeof data; len++) {
      ASSERT_EQ(ReferenceSipHash13(k, data, len), cpi_siphash13(&k, data, len))
          << len;
      // Unaligned starts too.
      if (len < sizeof data) {
        ASSERT_EQ(ReferenceSipHash13(k, data + 1, len),
                  cpi_siphash13(&k, data + 1, len));
      }
    }
  }
}

// --- the peer-address parser
// ----------------------------------------------------

std::string Peer(const char *peer, unsigned bits = 128) {
  char out[128];
  int n = cp_rate_peer_address(peer, bits, out, sizeof out);
  if (n < 0) {
    return "EINVAL";
  }
  EXPECT_EQ(static_cast<size_t>(n), strlen(out));
  return out;
}

TEST(RatePeerAddress, DropsThePort) {
  EXPECT_EQ("127.0.0.1", Peer("ipv4:127.0.0.1:53412"));
  EXPECT_EQ("10.1.2.3", Peer("ipv4:10.1.2.3:1"));
  EXPECT_EQ("::1", Peer("ipv6:[::1]:5555"));
  EXPECT_EQ("::1", Peer("ipv6:%5B::1%5D:5555"));
  EXPECT_EQ("::1", Peer("ipv6:%5b::1%5d:5555"));
  EXPECT_EQ("2001:db8::1", Peer("ipv6:[2001:0db8:0:0::1]:443"));
  EXPECT_EQ("fe80::1", Peer("ipv6:[fe80::1%eth0]:80"));
  EXPECT_EQ("fe80::1", Peer("ipv6:%5Bfe80::1%25eth0%5D:80"));
  // A dual-stack listener's view of an IPv4 client is the IPv4 address.
  EXPECT_EQ("192.0.2.7", Peer("ipv6:[::ffff:192.0.2.7]:9000"));
}

TEST(RatePeerAddress, UnixSocketsAreKeptWhole) {
  EXPECT_EQ("unix:/tmp/host.sock", Peer("unix:/tmp/host.sock"));
  EXPECT_EQ("unix:", Peer("unix:"));
  EXPECT_EQ("unix-abstract:cp", Peer("unix-abstract:cp"));
}

TEST(RatePeerAddress, Ipv6PrefixSelectsTheNetwork) {
  EXPECT_EQ("2001:db8:1:2::",
            Peer("ipv6:[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1", 64));
  EXPECT_EQ(Peer("ipv6:[2001:db8:1:2::5]:1", 64),
            Peer("ipv6:[2001:db8:1:2:ffff::9]:2", 64));
  EXPECT_EQ("2001:db8::", Peer("ipv6:[2001:db8:ffff::1]:1", 32));
  EXPECT_EQ("2001:c00::", Peer("ipv6:[2001:dbf::1]:1", 23));
  EXPECT_EQ("::", Peer("ipv6:[2001:db8::1]:1", 0));
  EXPECT_EQ("::1", Peer("ipv6:[::1]:1", 128));
  // IPv4 (also mapped) is never truncated.
  EXPECT_EQ("192.0.2.7", Peer("ipv6:[::ffff:192.0.2.7]:9000", 0));
  EXPECT_EQ("192.0.2.7", Peer("ipv4:192.0.2.7:1", 0));
}

TEST(RatePeerAddress, RejectsAnythingElse) {
  for (const char *bad :
       {"", "ipv4:", "ipv4:127.0.0.1", "ipv4:127.0.0.1:", "ipv4:127.0.0.1:x",
        "ipv4:127.0.0.1:123456", "ipv4:1.2.3:80", "ipv4:1.2.3.4.5:80",
        "ipv4:[::1]:80", "ipv6:::1:80", "ipv6:[::1]",
        "ipv6:[::1]:", "ipv6:[::1:80", "ipv6:[zz::1]:80", "ipv6:%5B::1:80",
        "ipv6:[127.0.0.1]:80", "dns:localhost:80", "127.0.0.1:80",
        "IPV4:127.0.0.1:80"}) {
    EXPECT_EQ("EINVAL", Peer(bad)) << bad;
  }
  char out[8];
  EXPECT_EQ(CP_EINVAL, cp_rate_peer_address(nullptr, 64, out, sizeof out));
  EXPECT_EQ(CP_EINVAL, cp_rate_peer_address("ipv4:1.2.3.4:5", 64, nullptr, 8));
  EXPECT_EQ(CP_EINVAL, cp_rate_peer_address("ipv4:1.2.3.4:5", 64, out, 0));
  EXPECT_EQ(CP_EINVAL, cp_rate_peer_address("ipv4:1.2.3.4:5", 129, out, 8));
  // Too small for the address: an error, never a truncated key.
  EXPECT_EQ(CP_EINVAL,
            cp_rate_peer_address("ipv4:10.20.30.40:5", 64, out, sizeof out));
  EXPECT_EQ(7, cp_rate_peer_address("ipv4:1.2.3.4:5", 64, out, sizeof out));
  std::string long_path = "unix:/" + std::string(5000, 'p');
  std::vector<char> big(6000);
  EXPECT_EQ(
      static_cast<int>(long_path.size()),
      cp_rate_peer_address(long_path.c_str(), 64, big.data(), big.size()));
  std::string long_v6 = "ipv6:[" + std::string(5000, ':') + "]:1";
  EXPECT_EQ("EINVAL", Peer(long_v6.c_str()));
}

}  // namespace
