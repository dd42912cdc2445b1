// Memory benchmarks (Google Benchmark): bytes per item with 1 000, 10 000
// and 100 000 items, each measured once (Iterations(1): they measure state,
// not time) on a fresh structure, fixed overhead included:
//   BM_TokenMemory         bytes_per_token: a cp_token_store that issued N
//                          identities (one plugin name, as N instances of
//                          one plugin)
//   BM_TokenMemoryDistinctNames  the same with a name of its own for each
//                          identity ("plugin-<i>"): the store keeps one copy
//                          per distinct name, so this is its worst case
//   BM_BucketMemory        bytes_per_bucket: a cp_rate_limiter tracking N
//                          keys of the rate policy's shape (bench_util.h)
//   BM_RegistrationMemory  bytes_per_registration: a cp_registry with N
//                          runtimes, one registration each ("logger" with a
//                          base_url, as in registry_bench);
//                          bytes_per_extra_registration: then a second
//                          registration by each of those runtimes
//   BM_PluginMemory        bytes_per_plugin: N plugins as a host holds them,
//                          all in one state: each one identity, one bucket
//                          keyed by that identity and one registration owned
//                          by it, the registry subscribed to the store (as
//                          cp_host wires them). Measured together, not summed.
// Each structure's capacity is N (max_tokens, max_buckets,
// max_registrations), and background sweeps are off.
//
// bytes_per_* is memory the process really holds, fixed overhead included:
// the growth of the bytes in use in malloc's arena (chunks with their
// headers), plus the growth of resident anonymous memory outside malloc's
// heap mapping - malloc's separately mapped large blocks and the tables a
// structure maps itself (the token store and the rate limiter reserve room
// for `max_*` items and touch pages as items arrive) count by the pages
// really touched, exactly (the kernel walks the page tables for
// /proc/self/smaps). Reserved pages never touched do not count, and neither
// does free heap memory reused. heap_bytes_per_* is malloc's own count for
// comparison (mallinfo2: uordblks + hblkhd): it misses memory mapped without
// malloc, and counts malloc's mapped blocks whole, touched or not.
// Run with tools/bench.sh.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

extern "C" {
#include "cplugin/ratelimit.h"
#include "cplugin/registry.h"
#include "cplugin/tokens.h"
}

namespace {

using cplugin_bench::kSizes;

constexpr cp_rate_limit kLimit = {1000, 2000};  // the host's default rule
const cp_metadata kMetadata[] = {{"base_url", "http://10.1.2.3:50051"}};
const cp_registry_service kLogger = {"logger", "1.0.0", "/logger.v1.Logger/",
                                     kMetadata, 1};
const cp_registry_service kCache = {"cache", "1.0.0", "/cache.v1.Cache/",
                                    kMetadata, 1};

// Resident anonymous bytes outside malloc's heap (brk) mapping: malloc's
// separately mapped blocks and whatever a structure mapped itself, counted
// by the pages that are really there. The kernel counts them by walking the
// page tables (/proc/self/smaps, "Anonymous:" of every mapping but [heap]),
// so the figure is exact. Read with read(2) into a static buffer whose pages
// are touched once beforehand: measuring allocates and touches nothing.
// Returns false when the file cannot be read whole.
bool ResidentOutsideHeap(size_t *out) {
  static char buf[8 << 20];
  static bool touched = false;
  if (!touched) {
    memset(buf, 0, sizeof buf);
    touched = true;
  }
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  size_t len = 0;
  ssize_t n;
  while (len < sizeof buf - 1 &&
         (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (len == sizeof buf - 1) {
    return false;
  }
  buf[len] = '\0';
  size_t total_kb = 0;
  bool in_heap = false;
  bool seen = false;
  for (char *line = buf; *line != '\0';) {
    char *end = strchr(line, '\n');
    if (end != nullptr) {
      *end = '\0';
    }
    if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
      size_t ll = strlen(line);
      in_heap = ll >= 6 && strcmp(line + ll - 6, "[heap]") == 0;
    } else {
      unsigned long long kb = 0;
      if (sscanf(line, "Anonymous: %llu kB", &kb) == 1) {
        seen = true;
        if (!in_heap) {
          total_kb += kb;
        }
      }
    }
    if (end == nullptr) {
      break;
    }
    line = end + 1;
  }
  *out = total_kb * 1024;
  return seen;
}

// What the process holds:
//   arena      bytes in use in malloc's arenas (mallinfo2 uordblks: chunks
//              with their headers; the benchmarks run on the main thread,
//              whose arena is the [heap] mapping)
//   outside    resident anonymous bytes outside [heap] (see above)
//   malloc     malloc's own count, uordblks + hblkhd (its mapped blocks at
//              their full size, touched or not)
struct Usage {
  size_t arena;
  size_t outside;
  size_t malloc;
};

Usage Now() {
  Usage u{};
  ResidentOutsideHeap(&u.outside);
  struct mallinfo2 mi = mallinfo2();
  u.arena = mi.uordblks;
  u.malloc = mi.uordblks + mi.hblkhd;
  return u;
}

double PerItem(size_t from, size_t to, size_t n) {
  return (static_cast<double>(to) - static_cast<double>(from)) /
         static_cast<double>(n);
}

// Sets bytes_per_<item> (arena + outside) and heap_bytes_per_<item>
// (malloc's count).
void Report(benchmark::State &state, const char *item, Usage from, Usage to,
            size_t n) {
  state.counters[std::string("bytes_per_") + item] =
      PerItem(from.arena + from.outside, to.arena + to.outside, n);
  state.counters[std::string("heap_bytes_per_") + item] =
      PerItem(from.malloc, to.malloc, n);
}

cp_token_store *NewStore(size_t capacity) {
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  o.max_tokens = capacity;
  o.sweep_interval_ms = 0;
  cp_token_store *store = nullptr;
  if (cp_token_store_create(&store, &o) != 0) {
    fprintf(stderr, "cp_token_store_create failed\n");
    abort();
  }
  return store;
}

cp_rate_limiter *NewLimiter(size_t capacity) {
  cp_rate_limiter_options o;
  cp_rate_limiter_options_init(&o);
  o.max_buckets = capacity;
  o.sweep_interval_ms = 0;
  cp_rate_limiter *limiter = nullptr;
  if (cp_rate_limiter_create(&limiter, &o) != 0) {
    fprintf(stderr, "cp_rate_limiter_create failed\n");
    abort();
  }
  return limiter;
}

cp_registry *NewRegistry(size_t capacity, cp_token_store *tokens) {
  cp_registry_options o;
  cp_registry_options_init(&o);
  o.max_registrations = capacity;
  o.tokens = tokens;
  o.random_seed = 1;
  cp_registry *reg = nullptr;
  if (cp_registry_create(&reg, &o) != 0) {
    fprintf(stderr, "cp_registry_create failed\n");
    abort();
  }
  return reg;
}

// Checks that the measure works (it reads /proc/self/smaps) and sees what
// it should, and pays the one-time costs that are nobody's per-item memory
// (OpenSSL's random generator, first-use buffers, lazily bound symbols)
// before anything is measured.
bool Prepare(benchmark::State &state) {
  static int ready = -1;
  if (ready < 0) {
    size_t probe = 0;
    bool seen = ResidentOutsideHeap(&probe);
    Usage before = Now();
    // 1 MiB mapped and touched, 256 KiB mapped and not touched, 1000 small
    // blocks of 100 bytes (112 with malloc's header).
    const size_t mib = size_t{1} << 20;
    void *touched = mmap(nullptr, mib, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *untouched = mmap(nullptr, mib / 4, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::vector<void *> blocks(1000);
    Usage mid = Now();
    for (void *&b : blocks) {
      b = malloc(100);
      memset(b, 1, 100);
    }
    if (touched != MAP_FAILED) {
      memset(touched, 1, mib);
    }
    Usage after = Now();
    size_t arena = after.arena - mid.arena;
    size_t outside = after.outside - before.outside;
    seen = seen && touched != MAP_FAILED && untouched != MAP_FAILED &&
           outside >= mib && outside < mib + mib / 8 &&
           arena >= 100 * blocks.size() && arena <= 128 * blocks.size();
    for (void *b : blocks) {
      free(b);
    }
    if (touched != MAP_FAILED) {
      munmap(touched, mib);
    }
    if (untouched != MAP_FAILED) {
      munmap(untouched, mib / 4);
    }
    cp_token_store *store = NewStore(16);
    cp_rate_limiter *limiter = NewLimiter(16);
    cp_registry *reg = NewRegistry(16, store);
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    char key[cplugin_bench::kPolicyKeyMax];
    cp_token_store_issue(store, "bench-plugin", id, sizeof id, token);
    cp_token_store_validate(store, id, strlen(id), token, CP_TOKEN_LEN);
    size_t len = cplugin_bench::PolicyKey(id, strlen(id), key);
    cplugin_bench::Admitted(limiter, key, len, kLimit);
    cp_registry_register_as_host(reg, id, &kLogger, nullptr);
    cp_registry_destroy(reg);
    cp_rate_limiter_destroy(limiter);
    cp_token_store_destroy(store);
    ready = seen ? 1 : 0;
  }
  if (ready == 0) {
    state.SkipWithError("memory cannot be measured here (/proc/self/smaps)");
  }
  return ready == 1;
}

// Issues n tokens, all under one plugin name or each under its own, and
// reports what they hold.
void TokenMemory(benchmark::State &state, bool distinct_names) {
  size_t n = static_cast<size_t>(state.range(0));
  if (!Prepare(state)) {
    return;
  }
  for (auto _ : state) {
    Usage before = Now();
    cp_token_store *store = NewStore(n);
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    for (size_t i = 0; i < n; i++) {
      char name[32] = "bench-plugin";
      if (distinct_names) {
        snprintf(name, sizeof name, "plugin-%zu", i);
      }
      cp_token_store_issue(store, name, id, sizeof id, token);
    }
    Report(state, "token", before, Now(), n);
    if (cp_token_store_count(store) != n) {
      state.SkipWithError("issue failed");
    }
    cp_token_store_destroy(store);
  }
}

void BM_TokenMemory(benchmark::State &state) {
  TokenMemory(state, false);
}

BENCHMARK(BM_TokenMemory)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_BucketMemory(benchmark::State &state) {
  size_t n = static_cast<size_t>(state.range(0));
  if (!Prepare(state)) {
    return;
  }
  for (auto _ : state) {
    Usage before = Now();
    cp_rate_limiter *limiter = NewLimiter(n);
    for (size_t i = 0; i < n; i++) {
      char id[64];
      size_t id_len = cplugin_bench::MakeRuntimeId(i, id);
      char key[cplugin_bench::kPolicyKeyMax];
      size_t len = cplugin_bench::PolicyKey(id, id_len, key);
      cplugin_bench::Admitted(limiter, key, len, kLimit);
    }
    Report(state, "bucket", before, Now(), n);
    if (cp_rate_limiter_count(limiter) != n) {
      state.SkipWithError("a bucket was not created");
    }
    cp_rate_limiter_destroy(limiter);
  }
}

BENCHMARK(BM_BucketMemory)
    ->ArgName("buckets")
    ->ArgsProduct({kSizes})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_RegistrationMemory(benchmark::State &state) {
  size_t n = static_cast<size_t>(state.range(0));
  if (!Prepare(state)) {
    return;
  }
  for (auto _ : state) {
    Usage before = Now();
    cp_registry *reg = NewRegistry(2 * n, nullptr);
    char id[64];
    for (size_t i = 0; i < n; i++) {
      cplugin_bench::MakeRuntimeId(i, id);
      cp_registry_register_as_host(reg, id, &kLogger, nullptr);
    }
    Usage first = Now();
    for (size_t i = 0; i < n; i++) {
      cplugin_bench::MakeRuntimeId(i, id);
      cp_registry_register_as_host(reg, id, &kCache, nullptr);
    }
    Usage after = Now();
    Report(state, "registration", before, first, n);
    Report(state, "extra_registration", first, after, n);
    cp_registry_stats st;
    cp_registry_get_stats(reg, &st);
    if (st.registrations != 2 * n || st.runtimes != n) {
      state.SkipWithError("a registration failed");
    }
    cp_registry_destroy(reg);
  }
}

BENCHMARK(BM_RegistrationMemory)
    ->ArgName("registrations")
    ->ArgsProduct({kSizes})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_PluginMemory(benchmark::State &state) {
  size_t n = static_cast<size_t>(state.range(0));
  if (!Prepare(state)) {
    return;
  }
  for (auto _ : state) {
    Usage before = Now();
    cp_token_store *store = NewStore(n);
    cp_rate_limiter *limiter = NewLimiter(n);
    cp_registry *reg = NewRegistry(n, store);
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    char key[cplugin_bench::kPolicyKeyMax];
    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
      failures += cp_token_store_issue(store, "bench-plugin", id, sizeof id,
                                       token) != 0;
      size_t len = cplugin_bench::PolicyKey(id, strlen(id), key);
      failures += !cplugin_bench::Admitted(limiter, key, len, kLimit);
      failures += cp_registry_register_as_host(reg, id, &kLogger, nullptr) != 0;
    }
    Report(state, "plugin", before, Now(), n);
    if (failures != 0) {
      state.SkipWithError("a plugin's identity, bucket or registration failed");
    }
    cp_registry_destroy(reg);
    cp_rate_limiter_destroy(limiter);
    cp_token_store_destroy(store);
  }
}

BENCHMARK(BM_PluginMemory)
    ->ArgName("plugins")
    ->ArgsProduct({kSizes})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// Last, so that the benchmarks above run in the state they always ran in
// (malloc adjusts its mmap threshold to the blocks freed before).
void BM_TokenMemoryDistinctNames(benchmark::State &state) {
  TokenMemory(state, true);
}

BENCHMARK(BM_TokenMemoryDistinctNames)
    ->ArgName("live")
    ->ArgsProduct({kSizes})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
