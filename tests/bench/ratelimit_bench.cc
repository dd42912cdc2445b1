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

}  // namespace

BENCHMARK_MAIN();
