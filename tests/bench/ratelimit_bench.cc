// Rate limiter benchmarks (Google Benchmark), the guide's BenchmarkRateLimiter:
//   BM_RateLimiter_Allow/<key>         every thread checks the same key:
//                                      test_key ("test-key", as upstream's
//                                      benchmark) or policy_key (46 bytes,
//                                      the rate policy's shape, bench_util.h)
//   BM_RateLimiter_MultipleKeys/<keys> 1 000, 10 000 or 100 000 keys in a
//                                      fixed random order, each thread
//                                      checking its own share of them:
//                                      short_keys ("key-<n>") or
//                                      policy_keys; policy_keys_bucket_order:
//                                      the policy keys in the order their
//                                      buckets were created, each thread's
//                                      share consecutive buckets (no cache
//                                      line written by two threads)
//   BM_SharedLease_Take/<keys>         the extra step of a host whose limits
//                                      are shared through Redis
//                                      (ratelimit/lease_table.h): one
//                                      leased token of a policy key with
//                                      the Redis prefix, 1 or 10 000 keys;
//                                      the tests grant leases themselves
//                                      (there is no store)
// at 1, 2, 4 and 8 threads (real time; items/s is the aggregate), with the
// default clock (CLOCK_MONOTONIC_COARSE). Memory per bucket is measured in
// memory_bench.cc. Run with tools/bench.sh.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

extern "C" {
#include "cplugin/ratelimit.h"
#include "ratelimit/lease_table.h"
}

namespace {

using cplugin_bench::kSizes;
using cplugin_bench::OneToEightThreads;

// Generous enough that checks are admitted: the benchmark measures the
// admitting path (lookup, arithmetic, compare-and-swap).
constexpr cp_rate_limit kLimit = {UINT32_MAX, UINT32_MAX};
constexpr int kShort = 0;
constexpr int kPolicyShaped = 1;

// Keys packed in fixed-size records, so that the benchmark's own memory
// traffic stays small next to the limiter's.
struct Key {
  char bytes[cplugin_bench::kPolicyKeyMax];
  uint32_t len;
};

Key MakeKey(int shape, uint64_t i) {
  Key key{};
  if (shape == kShort) {
    std::string s =
        i == 0 ? std::string("test-key") : "key-" + std::to_string(i);
    memcpy(key.bytes, s.data(), s.size());
    key.len = static_cast<uint32_t>(s.size());
    return key;
  }
  char id[64];
  size_t id_len = cplugin_bench::MakeRuntimeId(i, id);
  key.len =
      static_cast<uint32_t>(cplugin_bench::PolicyKey(id, id_len, key.bytes));
  return key;
}

// The keys in the order their buckets were created (neighbouring keys have
// neighbouring buckets, two to a cache line) and in a fixed random order.
struct Fixture {
  cp_rate_limiter *limiter = nullptr;
  std::vector<Key> keys;
  std::vector<Key> shuffled;
};

// One limiter per (key count, shape), built by Setup (before the threads
// start) and kept for the process's lifetime.
Fixture &LimiterWith(int64_t keys, int shape) {
  static Fixture fixtures[4][2];
  int slot = keys == 1 ? 0 : keys == 1000 ? 1 : keys == 10000 ? 2 : 3;
  Fixture &f = fixtures[slot][shape];
  if (f.limiter == nullptr) {
    cp_rate_limiter_options o;
    cp_rate_limiter_options_init(&o);
    o.sweep_interval_ms = 0;
    o.max_buckets = static_cast<size_t>(keys) + 16;
    if (cp_rate_limiter_create(&f.limiter, &o) != 0) {
      fprintf(stderr, "cp_rate_limiter_create failed\n");
      abort();
    }
    for (int64_t i = 0; i < keys; i++) {
      Key key = MakeKey(shape, static_cast<uint64_t>(i));
      f.keys.push_back(key);
      cplugin_bench::Admitted(f.limiter, key.bytes, key.len, kLimit);
    }
    f.shuffled = f.keys;
    cplugin_bench::Shuffle(&f.shuffled);
  }
  return f;
}

void Report(benchmark::State &state, int64_t ok) {
  if (ok != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a check was not admitted");
  }
  state.SetItemsProcessed(state.iterations());
}

// The key shape is the captured argument; Setup cannot see it, so each
// shape has its own Setup.
template <int Shape>
void SetupAllow(const benchmark::State &) {
  LimiterWith(1, Shape);
}

void BM_RateLimiter_Allow(benchmark::State &state, int shape) {
  Fixture &f = LimiterWith(1, shape);
  const Key key = f.keys[0];
  int64_t ok = 0;
  for (auto _ : state) {
    ok += cplugin_bench::Admitted(f.limiter, key.bytes, key.len, kLimit);
  }
  Report(state, ok);
}

BENCHMARK_CAPTURE(BM_RateLimiter_Allow, test_key, kShort)
    ->Setup(SetupAllow<kShort>)
    ->Apply(OneToEightThreads);
BENCHMARK_CAPTURE(BM_RateLimiter_Allow, policy_key, kPolicyShaped)
    ->Setup(SetupAllow<kPolicyShaped>)
    ->Apply(OneToEightThreads);

template <int Shape>
void SetupMultipleKeys(const benchmark::State &state) {
  LimiterWith(state.range(0), Shape);
}

void BM_RateLimiter_MultipleKeys(benchmark::State &state, int shape,
                                 bool in_bucket_order) {
  Fixture &f = LimiterWith(state.range(0), shape);
  const std::vector<Key> &keys = in_bucket_order ? f.keys : f.shuffled;
  // Each thread checks its own share of the keys.
  cplugin_bench::Slice slice(state, keys.size());
  int64_t ok = 0;
  for (auto _ : state) {
    const Key &key = keys[slice.Next()];
    ok += cplugin_bench::Admitted(f.limiter, key.bytes, key.len, kLimit);
  }
  Report(state, ok);
}

BENCHMARK_CAPTURE(BM_RateLimiter_MultipleKeys, short_keys, kShort, false)
    ->ArgName("keys")
    ->ArgsProduct({kSizes})
    ->Setup(SetupMultipleKeys<kShort>)
    ->Apply(OneToEightThreads);
BENCHMARK_CAPTURE(BM_RateLimiter_MultipleKeys, policy_keys, kPolicyShaped,
                  false)
    ->ArgName("keys")
    ->ArgsProduct({kSizes})
    ->Setup(SetupMultipleKeys<kPolicyShaped>)
    ->Apply(OneToEightThreads);
// The same keys, each thread's share a run of consecutive buckets: no two
// threads write one cache line, the difference to policy_keys is what
// neighbouring buckets on different threads cost.
BENCHMARK_CAPTURE(BM_RateLimiter_MultipleKeys, policy_keys_bucket_order,
                  kPolicyShaped, true)
    ->ArgName("keys")
    ->ArgsProduct({kSizes})
    ->Setup(SetupMultipleKeys<kPolicyShaped>)
    ->Apply(OneToEightThreads);

// One lease table per key count, its keys shaped as the shared store builds
// them: prefix, rule path, NUL, then the caller's part of a policy key.
struct LeaseFixture {
  cpi_lease_table *table = nullptr;
  std::vector<Key> keys;
};

LeaseFixture &LeasesWith(int64_t keys) {
  static LeaseFixture fixtures[2];
  LeaseFixture &f = fixtures[keys == 1 ? 0 : 1];
  if (f.table == nullptr) {
    if (cpi_lease_table_create(&f.table, static_cast<size_t>(keys) + 16, 50) !=
        0) {
      fprintf(stderr, "cpi_lease_table_create failed\n");
      abort();
    }
    static const char kHead[] = "cplugin:rl:/cplugin.load.v1.LoadService/Echo";
    for (int64_t i = 0; i < keys; i++) {
      Key policy = MakeKey(kPolicyShaped, static_cast<uint64_t>(i));
      // The policy key's tag, then what follows its rule group (2 bytes).
      Key key{};
      memcpy(key.bytes, kHead, sizeof kHead);  // with its NUL
      key.bytes[sizeof kHead] = policy.bytes[0];
      memcpy(key.bytes + sizeof kHead + 1, policy.bytes + 3, policy.len - 3);
      key.len = static_cast<uint32_t>(sizeof kHead + 1 + policy.len - 3);
      static_assert(
          sizeof kHead + cplugin_bench::kPolicyKeyMax / 2 < sizeof key.bytes,
          "room for a prefixed key of a 46-byte policy key");
      f.keys.push_back(key);
    }
    cplugin_bench::Shuffle(&f.keys);
  }
  return f;
}

void SetupLeases(const benchmark::State &state) {
  LeasesWith(state.range(0));
}

// Plays the store: grants every queued lease a billion tokens.
void GrantQueued(cpi_lease_table *t) {
  cpi_lease_request reqs[16];
  int64_t wake = 0;
  size_t n;
  while ((n = cpi_lease_collect(t, reqs, 16, 0, &wake)) > 0) {
    for (size_t i = 0; i < n; i++) {
      cpi_lease_apply(t, &reqs[i], true, 1000000000, 0, 0);
    }
  }
}

void BM_SharedLease_Take(benchmark::State &state) {
  LeaseFixture &f = LeasesWith(state.range(0));
  cplugin_bench::Slice slice(state, f.keys.size());
  int64_t ok = 0;
  int64_t retry = 0;
  bool queued = false;
  for (auto _ : state) {
    const Key &key = f.keys[slice.Next()];
    cpi_lease_verdict v = cpi_lease_take(f.table, key.bytes, key.len, kLimit,
                                         true, 0, &retry, &queued);
    ok += v == CPI_LEASE_ALLOW;
    if (queued && state.thread_index() == 0) {
      GrantQueued(f.table);
    }
  }
  // Takes that found the allowance spent before the grant count as done:
  // the benchmark measures the take, not the store.
  state.SetItemsProcessed(state.iterations());
  if (ok == 0) {
    state.SkipWithError("no take was admitted");
  }
}

BENCHMARK(BM_SharedLease_Take)
    ->ArgName("keys")
    ->Arg(1)
    ->Arg(10000)
    ->Setup(SetupLeases)
    ->Apply(OneToEightThreads);

}  // namespace

BENCHMARK_MAIN();
