// Token store benchmarks (Google Benchmark), the guide's BenchmarkValidateToken
// and token generation:
//   BM_ValidateToken                 a valid token, 1 000 / 10 000 / 100 000
//                                    live identities in a fixed random
//                                    order, each thread presenting its own
//                                    share of them
//   BM_ValidateToken_WrongTokenEarly a wrong token, first byte differing
//   BM_ValidateToken_WrongTokenLate  a wrong token, byte 41 differing
//   BM_ValidateToken_UnknownID       a runtime ID the store never issued
//   BM_GenerateToken                 cp_token_store_issue into one store
//                                    shared by the threads
// BM_ValidateToken and BM_GenerateToken run at 1, 2, 4 and 8 threads (real
// time; items/s is the aggregate), the failing cases at 1 thread (they show
// that early and late mismatches cost the same). Memory per live token is
// measured in memory_bench.cc. Run with tools/bench.sh.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_util.h"

extern "C" {
#include "cplugin/tokens.h"
}

namespace {

using cplugin_bench::kSizes;
using cplugin_bench::OneToEightThreads;

// Presented credentials, packed in fixed-size records so that the benchmark's
// own memory traffic stays small next to the store's.
struct Credential {
  char id[48];
  uint32_t id_len;
  char token[CP_TOKEN_LEN];
};

enum Case { kValid, kWrongEarly, kWrongLate, kUnknownId, kCases };

struct Fixture {
  cp_token_store *store = nullptr;
  std::vector<Credential> creds[kCases];
};

// One store per live-token count, built by Setup (before the threads start)
// and kept for the process's lifetime, with the credentials of every case.
Fixture &StoreWith(int64_t live) {
  static Fixture fixtures[3];
  Fixture &f = fixtures[live == 1000 ? 0 : live == 10000 ? 1 : 2];
  if (f.store != nullptr) {
    return f;
  }
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  o.max_tokens = static_cast<size_t>(live) + 16;
  o.sweep_interval_ms = 0;
  if (cp_token_store_create(&f.store, &o) != 0) {
    fprintf(stderr, "cp_token_store_create failed\n");
    abort();
  }
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  for (int64_t i = 0; i < live; i++) {
    if (cp_token_store_issue(f.store, "bench-plugin", id, sizeof id, token) !=
        0) {
      fprintf(stderr, "cp_token_store_issue failed\n");
      abort();
    }
    Credential c{};
    c.id_len = static_cast<uint32_t>(strlen(id));
    memcpy(c.id, id, c.id_len);
    memcpy(c.token, token, CP_TOKEN_LEN);
    for (int which = 0; which < kCases; which++) {
      Credential v = c;
      if (which == kWrongEarly) {
        v.token[0] = v.token[0] == 'A' ? 'B' : 'A';
      } else if (which == kWrongLate) {
        v.token[41] = v.token[41] == 'A' ? 'Q' : 'A';
      } else if (which == kUnknownId) {
        memcpy(v.id + v.id_len - 16, "0123456789abcdef", 16);
      }
      f.creds[which].push_back(v);
    }
  }
  for (std::vector<Credential> &creds : f.creds) {
    cplugin_bench::Shuffle(&creds);  // the same order for every case
  }
  return f;
}

void SetupStore(const benchmark::State &state) {
  StoreWith(state.range(0));
}

void Validate(benchmark::State &state, Case which) {
  Fixture &f = StoreWith(state.range(0));
  const std::vector<Credential> &creds = f.creds[which];
  // Each thread presents its own share of the identities.
  cplugin_bench::Slice slice(state, creds.size());
  int64_t ok = 0;
  for (auto _ : state) {
    const Credential &c = creds[slice.Next()];
    ok +=
        cp_token_store_validate(f.store, c.id, c.id_len, c.token, CP_TOKEN_LEN);
  }
  benchmark::DoNotOptimize(ok);
  if ((which == kValid) != (ok == static_cast<int64_t>(state.iterations()))) {
    state.SkipWithError("validation result differs from the case");
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ValidateToken(benchmark::State &state) {
  Validate(state, kValid);
}
void BM_ValidateToken_WrongTokenEarly(benchmark::State &state) {
  Validate(state, kWrongEarly);
}
void BM_ValidateToken_WrongTokenLate(benchmark::State &state) {
  Validate(state, kWrongLate);
}
void BM_ValidateToken_UnknownID(benchmark::State &state) {
  Validate(state, kUnknownId);
}

BENCHMARK(BM_ValidateToken)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStore)
    ->Apply(OneToEightThreads);
BENCHMARK(BM_ValidateToken_WrongTokenEarly)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStore)
    ->UseRealTime();
BENCHMARK(BM_ValidateToken_WrongTokenLate)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStore)
    ->UseRealTime();
BENCHMARK(BM_ValidateToken_UnknownID)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStore)
    ->UseRealTime();

// Generation: every thread issues into one store, created fresh for each run
// (Setup) so that earlier runs do not leave it larger, and destroyed after
// it (Teardown).
cp_token_store *g_issue_store = nullptr;

void SetupIssueStore(const benchmark::State &) {
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  // Far more than a run issues (~1 us each, runs of about a second).
  o.max_tokens = size_t{1} << 22;
  o.sweep_interval_ms = 0;
  if (cp_token_store_create(&g_issue_store, &o) != 0) {
    fprintf(stderr, "cp_token_store_create failed\n");
    abort();
  }
}

void TeardownIssueStore(const benchmark::State &) {
  cp_token_store_destroy(g_issue_store);
  g_issue_store = nullptr;
}

void BM_GenerateToken(benchmark::State &state) {
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_token_store_issue(g_issue_store, "bench-plugin", id,
                                     sizeof id, token) != 0;
  }
  if (failures != 0) {
    state.SkipWithError("issue failed");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_GenerateToken)
    ->Setup(SetupIssueStore)
    ->Teardown(TeardownIssueStore)
    ->Apply(OneToEightThreads);

}  // namespace

BENCHMARK_MAIN();
