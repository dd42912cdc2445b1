// Rate limiter benchmarks (Google Benchmark): checks on one key (every
// thread on the same bucket) and on 10 000 keys (threads spread over them),
// at 1, 2, 4 and 8 threads, with the default clock
// (CLOCK_MONOTONIC_COARSE). Keys are either short ("test-key", as upstream's
// benchmark) or shaped like the rate policy's keys (tag, group, provider,
// runtime ID: 44 bytes). Counters: bucket_bytes (state per key) and
// bytes_per_key (state, index and fixed overhead over the live keys). Run with
// tools/bench.sh; figures go to docs/performance.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/ratelimit.h"
}

namespace {

// Generous enough that checks are admitted: the benchmark measures the
// admitting path (lookup, arithmetic, compare-and-swap).
constexpr cp_rate_limit kLimit = {UINT32_MAX, UINT32_MAX};
constexpr int kShort = 0;
constexpr int kPolicyShaped = 1;

std::string MakeKey(int shape, int i) {
  if (shape == kShort) {
    return i == 0 ? std::string("test-key") : "key-" + std::to_string(i);
  }
  char id[32];
  snprintf(id, sizeof id, "plugin-%d-%016x", i % 97, i * 2654435761u);
  return std::string("i\x02\x00runtime-token", 16) + '\0' + id;
}

// Keys packed in fixed-size records, so that the benchmark's own memory
// traffic stays small next to the limiter's.
struct Key {
  char bytes[52];
  uint32_t len;
};

struct Fixture {
  cp_rate_limiter *limiter = nullptr;
  std::vector<Key> keys;
};

// One limiter per (key count, shape), built once and shared by the threads.
Fixture &LimiterWith(int keys, int shape) {
  static Fixture fixtures[2][2];
  Fixture &f = fixtures[keys == 1 ? 0 : 1][shape];
  if (f.limiter == nullptr) {
    cp_rate_limiter_options o;
    cp_rate_limiter_options_init(&o);
    o.sweep_interval_ms = 0;
    cp_rate_limiter_create(&f.limiter, &o);
    for (int i = 0; i < keys; i++) {
      std::string k = MakeKey(shape, i);
      Key key{};
      key.len = static_cast<uint32_t>(k.size());
      memcpy(key.bytes, k.data(), k.size());
      f.keys.push_back(key);
      cp_rate_limiter_check(f.limiter, key.bytes, key.len, kLimit, nullptr);
    }
  }
  return f;
}

void Report(benchmark::State &state, cp_rate_limiter *limiter, int64_t ok) {
  if (ok != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a check was not admitted");
  }
  state.SetItemsProcessed(state.iterations());
  cp_rate_limiter_stats st;
  cp_rate_limiter_stats_get(limiter, &st);
  state.counters["bucket_bytes"] = benchmark::Counter(
      static_cast<double>(st.bucket_bytes), benchmark::Counter::kAvgThreads);
  if (st.buckets > 1) {
    state.counters["bytes_per_key"] = benchmark::Counter(
        static_cast<double>(st.memory_bytes) / static_cast<double>(st.buckets),
        benchmark::Counter::kAvgThreads);
  }
}

void BM_RateLimiter_Allow(benchmark::State &state) {
  Fixture &f = LimiterWith(1, static_cast<int>(state.range(0)));
  const Key key = f.keys[0];
  int64_t ok = 0;
  for (auto _ : state) {
    ok += cp_rate_limiter_check(f.limiter, key.bytes, key.len, kLimit,
                                nullptr) == CP_RATE_ALLOW;
  }
  Report(state, f.limiter, ok);
}

BENCHMARK(BM_RateLimiter_Allow)
    ->ArgName("policy_key")
    ->Arg(kShort)
    ->Arg(kPolicyShaped)
    ->ThreadRange(1, 8)
    ->UseRealTime();

void BM_RateLimiter_MultipleKeys(benchmark::State &state) {
  Fixture &f = LimiterWith(10000, static_cast<int>(state.range(0)));
  // Each thread walks its own stride of the keys.
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t n = f.keys.size();
  int64_t ok = 0;
  for (auto _ : state) {
    const Key &key = f.keys[i % n];
    ok += cp_rate_limiter_check(f.limiter, key.bytes, key.len, kLimit,
                                nullptr) == CP_RATE_ALLOW;
    i++;
  }
  Report(state, f.limiter, ok);
}

BENCHMARK(BM_RateLimiter_MultipleKeys)
    ->ArgName("policy_key")
    ->Arg(kShort)
    ->Arg(kPolicyShaped)
    ->ThreadRange(1, 8)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
