// Helpers shared by the benchmarks in tests/bench: runtime IDs and rate
// limiter keys shaped like the real ones, the thread counts every timed
// benchmark runs at, and the sizes of the scalability runs.
#ifndef CPLUGIN_TESTS_BENCH_BENCH_UTIL_H
#define CPLUGIN_TESTS_BENCH_BENCH_UTIL_H

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <random>
#include <vector>

#include "cplugin/ratelimit.h"

namespace cplugin_bench {

// The thread counts of the guide's `-cpu=1,2,4,8`, measured in real time
// (wall clock): a run's items/s is the aggregate over its threads.
inline void OneToEightThreads(benchmark::internal::Benchmark *b) {
  b->Threads(1)->Threads(2)->Threads(4)->Threads(8)->UseRealTime();
}

// Live tokens, buckets, registrations or plugins of the scalability runs.
constexpr std::initializer_list<int64_t> kSizes = {1000, 10000, 100000};

// A thread's own share of n items, [n*t/T, n*(t+1)/T) for thread t of T,
// walked round and round. Threads never touch the same item (two threads
// walking one array at an offset drift into lockstep and then measure their
// own cache-line ping-pong), and the measured loop divides nothing.
class Slice {
 public:
  Slice(const benchmark::State &state, size_t n) {
    size_t t = static_cast<size_t>(state.thread_index());
    size_t threads = static_cast<size_t>(state.threads());
    begin_ = n * t / threads;
    end_ = n * (t + 1) / threads;
    if (end_ == begin_) {
      end_ = begin_ + 1 <= n ? begin_ + 1 : n;
      begin_ = end_ - 1;
    }
    at_ = begin_;
  }
  size_t Next() {
    size_t i = at_;
    if (++at_ == end_) {
      at_ = begin_;
    }
    return i;
  }

 private:
  size_t begin_;
  size_t end_;
  size_t at_;
};

// Puts a fixture's items in a fixed pseudo-random order, so that walking
// them visits the structure under test in no particular order (not, say,
// bucket after bucket in the order they were allocated).
template <typename T>
void Shuffle(std::vector<T> *items) {
  std::mt19937_64 rng(20261126);
  std::shuffle(items->begin(), items->end(), rng);
}

// A runtime ID of the token store's shape ("<self_id>-<16 hex>"), distinct
// for every i. Returns its length.
inline size_t MakeRuntimeId(uint64_t i, char (&out)[64]) {
  // An odd multiplier is a bijection on 64 bits: no two i share an ID.
  uint64_t suffix = (i + 1) * 0x9e3779b97f4a7c15ull;
  int n = snprintf(out, sizeof out, "bench-plugin-%016llx",
                   static_cast<unsigned long long>(suffix));
  return static_cast<size_t>(n);
}

// The key the rate policy (runtime/src/ratelimit/policy.c) gives a call by
// an authenticated runtime: a tag byte 'i', the rule group (2 bytes), the
// identity provider "runtime-token", a NUL and the runtime ID; 46 bytes for
// a MakeRuntimeId ID (29 bytes). Returns its length.
constexpr size_t kPolicyKeyMax = 128;
inline size_t PolicyKey(const char *runtime_id, size_t id_len,
                        char (&out)[kPolicyKeyMax]) {
  static const char kHead[] = "i\x02\x00runtime-token";  // + its NUL
  size_t head = sizeof kHead;
  if (id_len > kPolicyKeyMax - head) {
    id_len = kPolicyKeyMax - head;
  }
  memcpy(out, kHead, head);
  memcpy(out + head, runtime_id, id_len);
  return head + id_len;
}

// One rate-limit check: true when admitted (an error counts as not).
inline bool Admitted(cp_rate_limiter *limiter, const char *key, size_t len,
                     cp_rate_limit limit) {
  cp_rate_result r = CP_RATE_DENY;
  return cp_rate_limiter_check(limiter, key, len, limit, &r, nullptr) == 0 &&
         r == CP_RATE_ALLOW;
}

}  // namespace cplugin_bench

#endif  // CPLUGIN_TESTS_BENCH_BENCH_UTIL_H
