// Token store benchmarks (Google Benchmark): validation with 1k/10k/100k live
// tokens at 1, 2, 4 and 8 threads, and token generation. Run with
// tools/bench.sh; figures go to docs/performance.md.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/tokens.h"
}

namespace {

// Presented credentials, packed in fixed-size records so that the benchmark's
// own memory traffic stays small next to the store's.
struct Credential {
  char id[48];
  uint32_t id_len;
  char token[CP_TOKEN_LEN];
};

struct Fixture {
  cp_token_store *store = nullptr;
  std::vector<Credential> creds;
};

// One store per live-token count, built once and shared by the threads.
Fixture &StoreWith(size_t live) {
  static Fixture fixtures[3];
  size_t slot = live == 1000 ? 0 : live == 10000 ? 1 : 2;
  Fixture &f = fixtures[slot];
  if (f.store == nullptr) {
    cp_token_store_options o;
    cp_token_store_options_init(&o);
    o.max_tokens = live + 16;
    o.sweep_interval_ms = 0;
    cp_token_store_create(&f.store, &o);
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    for (size_t i = 0; i < live; i++) {
      cp_token_store_issue(f.store, "bench-plugin", id, sizeof id, token);
      Credential c{};
      c.id_len = static_cast<uint32_t>(strlen(id));
      memcpy(c.id, id, c.id_len);
      memcpy(c.token, token, CP_TOKEN_LEN);
      f.creds.push_back(c);
    }
  }
  return f;
}

enum Case { kValid, kEarlyMismatch, kLateMismatch, kUnknownId };

void BM_ValidateToken(benchmark::State &state) {
  Fixture &f = StoreWith(static_cast<size_t>(state.range(0)));
  Case which = static_cast<Case>(state.range(1));
  // Each thread walks its own stride of identities.
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  std::vector<Credential> creds = f.creds;
  for (Credential &c : creds) {
    if (which == kEarlyMismatch) {
      c.token[0] = c.token[0] == 'A' ? 'B' : 'A';
    } else if (which == kLateMismatch) {
      c.token[41] = c.token[41] == 'A' ? 'Q' : 'A';
    } else if (which == kUnknownId) {
      memcpy(c.id + c.id_len - 16, "0123456789abcdef", 16);
    }
  }
  size_t n = creds.size();
  int64_t ok = 0;
  for (auto _ : state) {
    const Credential &c = creds[i % n];
    ok +=
        cp_token_store_validate(f.store, c.id, c.id_len, c.token, CP_TOKEN_LEN);
    i++;
  }
  benchmark::DoNotOptimize(ok);
  if ((which == kValid) != (ok == static_cast<int64_t>(state.iterations()))) {
    state.SkipWithError("validation result differs from the case");
  }
  state.SetItemsProcessed(state.iterations());
}

void ValidateArgs(benchmark::internal::Benchmark *b) {
  b->ArgNames({"live", "case"});
  for (int64_t live : {1000, 10000, 100000}) {
    for (int64_t c : {kValid, kEarlyMismatch, kLateMismatch, kUnknownId}) {
      b->Args({live, c});
    }
  }
}

BENCHMARK(BM_ValidateToken)
    ->Apply(ValidateArgs)
    ->ThreadRange(1, 8)
    ->UseRealTime();

void BM_GenerateToken(benchmark::State &state) {
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  o.max_tokens = 1u << 30;
  o.sweep_interval_ms = 0;
  cp_token_store *store = nullptr;
  cp_token_store_create(&store, &o);
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  int failures = 0;
  for (auto _ : state) {
    failures +=
        cp_token_store_issue(store, "bench-plugin", id, sizeof id, token) != 0;
  }
  if (failures != 0) {
    state.SkipWithError("issue failed");
  }
  state.SetItemsProcessed(state.iterations());
  cp_token_store_destroy(store);
}

BENCHMARK(BM_GenerateToken)->ThreadRange(1, 8)->UseRealTime();

// Heap bytes per live identity (table slots, retired tables, the ID string),
// measured with mallinfo2 around issuing `live` identities.
void BM_TokenMemory(benchmark::State &state) {
  size_t live = static_cast<size_t>(state.range(0));
  double per_token = 0;
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    cp_token_store_options o;
    cp_token_store_options_init(&o);
    o.max_tokens = live;
    o.sweep_interval_ms = 0;
    cp_token_store *store = nullptr;
    cp_token_store_create(&store, &o);
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    for (size_t i = 0; i < live; i++) {
      cp_token_store_issue(store, "bench-plugin", id, sizeof id, token);
    }
    size_t after = mallinfo2().uordblks;
    per_token = static_cast<double>(after - before) / static_cast<double>(live);
    cp_token_store_destroy(store);
  }
  state.counters["bytes_per_token"] = per_token;
}

BENCHMARK(BM_TokenMemory)->Arg(1000)->Arg(10000)->Arg(100000)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
