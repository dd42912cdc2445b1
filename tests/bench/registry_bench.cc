// Registry benchmarks (Google Benchmark): the in-process lookup the router
// uses (cp_registry_resolve), at 1, 2, 4 and 8 threads (real time; items/s
// is the aggregate):
//   BM_Resolve/<strategy>   1 000 / 10 000 / 100 000 providers of one type,
//                           picked by the type's strategy (first,
//                           round_robin, random, weighted)
//   BM_ResolveByProvider    the same registries, a given provider's
//                           registration (providers in a fixed random
//                           order, each thread asking for its own share)
//   BM_ResolveAcrossTypes   10 000 providers spread over 1 000 types
// Memory per registration is measured in memory_bench.cc. Run with
// tools/bench.sh; figures go to docs/registry.md and docs/performance.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

extern "C" {
#include "cplugin/registry.h"
}

namespace {

using cplugin_bench::kSizes;
using cplugin_bench::OneToEightThreads;

// A registry holding `providers` registrations of "logger" (one runtime
// each, with a base_url), built by Setup (before the threads start) and kept
// for the process's lifetime.
struct Fixture {
  cp_registry *reg = nullptr;
  std::vector<std::string> ids;
};

Fixture &WithProviders(int64_t providers) {
  static Fixture fixtures[3];
  Fixture &f = fixtures[providers == 1000 ? 0 : providers == 10000 ? 1 : 2];
  if (f.reg != nullptr) {
    return f;
  }
  cp_registry_options o;
  cp_registry_options_init(&o);
  o.max_registrations = static_cast<size_t>(providers);
  o.random_seed = 1;
  if (cp_registry_create(&f.reg, &o) != 0) {
    fprintf(stderr, "cp_registry_create failed\n");
    abort();
  }
  cp_metadata md[] = {{"base_url", "http://10.1.2.3:50051"}};
  cp_registry_service svc = {"logger", "1.0.0", "/logger.v1.Logger/", md, 1};
  for (int64_t i = 0; i < providers; i++) {
    char id[64];
    cplugin_bench::MakeRuntimeId(static_cast<uint64_t>(i), id);
    f.ids.emplace_back(id);
    if (cp_registry_register_as_host(f.reg, id, &svc, nullptr) != 0) {
      fprintf(stderr, "cp_registry_register_as_host failed\n");
      abort();
    }
  }
  cplugin_bench::Shuffle(&f.ids);
  return f;
}

void Check(benchmark::State &state, int64_t failures) {
  if (failures != 0) {
    state.SkipWithError("resolve failed");
  }
  state.SetItemsProcessed(state.iterations());
}

// The strategy is the captured argument; Setup cannot see it, so each
// strategy has its own Setup.
template <cp_select_strategy S>
void SetupStrategy(const benchmark::State &state) {
  cp_registry_set_strategy(WithProviders(state.range(0)).reg, "logger", S);
}

void BM_Resolve(benchmark::State &state, cp_select_strategy) {
  Fixture &f = WithProviders(state.range(0));
  auto ep = std::make_unique<cp_registry_endpoint>();
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(f.reg, "logger", nullptr, ep.get()) != 0;
    benchmark::DoNotOptimize(ep->provider_id[0]);
  }
  Check(state, failures);
}

BENCHMARK_CAPTURE(BM_Resolve, first, CP_SELECT_FIRST)
    ->ArgName("providers")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStrategy<CP_SELECT_FIRST>)
    ->Apply(OneToEightThreads);
BENCHMARK_CAPTURE(BM_Resolve, round_robin, CP_SELECT_ROUND_ROBIN)
    ->ArgName("providers")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStrategy<CP_SELECT_ROUND_ROBIN>)
    ->Apply(OneToEightThreads);
BENCHMARK_CAPTURE(BM_Resolve, random, CP_SELECT_RANDOM)
    ->ArgName("providers")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStrategy<CP_SELECT_RANDOM>)
    ->Apply(OneToEightThreads);
BENCHMARK_CAPTURE(BM_Resolve, weighted, CP_SELECT_WEIGHTED)
    ->ArgName("providers")
    ->ArgsProduct({kSizes})
    ->Setup(SetupStrategy<CP_SELECT_WEIGHTED>)
    ->Apply(OneToEightThreads);

void SetupProviders(const benchmark::State &state) {
  WithProviders(state.range(0));
}

void BM_ResolveByProvider(benchmark::State &state) {
  Fixture &f = WithProviders(state.range(0));
  auto ep = std::make_unique<cp_registry_endpoint>();
  cplugin_bench::Slice slice(state, f.ids.size());
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(f.reg, "logger",
                                    f.ids[slice.Next()].c_str(), ep.get()) != 0;
  }
  Check(state, failures);
}

BENCHMARK(BM_ResolveByProvider)
    ->ArgName("providers")
    ->ArgsProduct({kSizes})
    ->Setup(SetupProviders)
    ->Apply(OneToEightThreads);

// 10k providers spread over 1000 types (in a fixed random order, each
// thread asking for its own share): lookups hit many cache lines.
struct TypesFixture {
  cp_registry *reg = nullptr;
  std::vector<std::string> types;
};

TypesFixture &AcrossTypes() {
  static TypesFixture f;
  if (f.reg != nullptr) {
    return f;
  }
  cp_registry_options o;
  cp_registry_options_init(&o);
  if (cp_registry_create(&f.reg, &o) != 0) {
    fprintf(stderr, "cp_registry_create failed\n");
    abort();
  }
  cp_metadata md[] = {{"base_url", "http://10.1.2.3:50051"}};
  for (int t = 0; t < 1000; t++) {
    f.types.push_back("service-" + std::to_string(t));
  }
  for (int p = 0; p < 10000; p++) {
    char owner[64];
    cplugin_bench::MakeRuntimeId(static_cast<uint64_t>(p), owner);
    cp_registry_service svc = {f.types[static_cast<size_t>(p % 1000)].c_str(),
                               "1.0.0", "/svc.v1.Svc/", md, 1};
    cp_registry_register_as_host(f.reg, owner, &svc, nullptr);
  }
  cplugin_bench::Shuffle(&f.types);
  return f;
}

void SetupAcrossTypes(const benchmark::State &) {
  AcrossTypes();
}

void BM_ResolveAcrossTypes(benchmark::State &state) {
  TypesFixture &f = AcrossTypes();
  auto ep = std::make_unique<cp_registry_endpoint>();
  cplugin_bench::Slice slice(state, f.types.size());
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(f.reg, f.types[slice.Next()].c_str(),
                                    nullptr, ep.get()) != 0;
  }
  Check(state, failures);
}

BENCHMARK(BM_ResolveAcrossTypes)
    ->Setup(SetupAcrossTypes)
    ->Apply(OneToEightThreads);

}  // namespace

BENCHMARK_MAIN();
