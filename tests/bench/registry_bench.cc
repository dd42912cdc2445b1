// Registry benchmarks (Google Benchmark): the in-process lookup the router
// uses (cp_registry_resolve) with 1k and 10k providers of one type under
// each strategy, by provider ID, and across many types; and the memory one
// registration costs (counters, measured with mallinfo2). Run with
// tools/bench.sh; figures go to docs/registry.md.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/registry.h"
}

namespace {

cp_registry_service Logger(const cp_metadata *md, size_t n) {
  return cp_registry_service{"logger", "1.0.0", "/logger.v1.Logger/", md, n};
}

// A registry holding `providers` registrations of "logger" (one runtime
// each, with a base_url), built once per size and shared by the threads.
struct Fixture {
  cp_registry *reg = nullptr;
  std::vector<std::string> ids;
};

Fixture &WithProviders(size_t providers) {
  static Fixture fixtures[2];
  Fixture &f = fixtures[providers == 1000 ? 0 : 1];
  if (f.reg == nullptr) {
    cp_registry_options o;
    cp_registry_options_init(&o);
    o.max_registrations = providers;
    o.random_seed = 1;
    cp_registry_create(&f.reg, &o);
    cp_metadata md[] = {{"base_url", "http://10.1.2.3:50051"}};
    cp_registry_service svc = Logger(md, 1);
    for (size_t i = 0; i < providers; i++) {
      f.ids.push_back("logger-" + std::to_string(1000000 + i) + "-0123456789");
      cp_registry_register_as_host(f.reg, f.ids.back().c_str(), &svc, nullptr);
    }
  }
  return f;
}

void BM_Resolve(benchmark::State &state) {
  Fixture &f = WithProviders(static_cast<size_t>(state.range(0)));
  auto strategy = static_cast<cp_select_strategy>(state.range(1));
  if (state.thread_index() == 0) {
    cp_registry_set_strategy(f.reg, "logger", strategy);
  }
  auto ep = std::make_unique<cp_registry_endpoint>();
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(f.reg, "logger", nullptr, ep.get()) != 0;
    benchmark::DoNotOptimize(ep->provider_id[0]);
  }
  if (failures != 0) {
    state.SkipWithError("resolve failed");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Resolve)
    ->ArgNames({"providers", "strategy"})
    ->ArgsProduct({{1000, 10000},
                   {CP_SELECT_FIRST, CP_SELECT_ROUND_ROBIN, CP_SELECT_RANDOM,
                    CP_SELECT_WEIGHTED}})
    ->ThreadRange(1, 2)
    ->UseRealTime();

void BM_ResolveByProvider(benchmark::State &state) {
  Fixture &f = WithProviders(static_cast<size_t>(state.range(0)));
  auto ep = std::make_unique<cp_registry_endpoint>();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t n = f.ids.size();
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(f.reg, "logger", f.ids[i % n].c_str(),
                                    ep.get()) != 0;
    i++;
  }
  if (failures != 0) {
    state.SkipWithError("resolve failed");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ResolveByProvider)
    ->ArgName("providers")
    ->Arg(1000)
    ->Arg(10000)
    ->ThreadRange(1, 2)
    ->UseRealTime();

// 10k providers spread over 1000 types: lookups hit many cache lines.
void BM_ResolveAcrossTypes(benchmark::State &state) {
  static cp_registry *reg = nullptr;
  static std::vector<std::string> types;
  if (reg == nullptr) {
    cp_registry_options o;
    cp_registry_options_init(&o);
    cp_registry_create(&reg, &o);
    cp_metadata md[] = {{"base_url", "http://10.1.2.3:50051"}};
    for (int t = 0; t < 1000; t++) {
      types.push_back("service-" + std::to_string(t));
    }
    for (int p = 0; p < 10000; p++) {
      std::string owner = "plugin-" + std::to_string(p);
      cp_registry_service svc = {types[static_cast<size_t>(p % 1000)].c_str(),
                                 "1.0.0", "/svc.v1.Svc/", md, 1};
      cp_registry_register_as_host(reg, owner.c_str(), &svc, nullptr);
    }
  }
  auto ep = std::make_unique<cp_registry_endpoint>();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  int64_t failures = 0;
  for (auto _ : state) {
    failures += cp_registry_resolve(reg, types[i % types.size()].c_str(),
                                    nullptr, ep.get()) != 0;
    i += 13;
  }
  if (failures != 0) {
    state.SkipWithError("resolve failed");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ResolveAcrossTypes)->ThreadRange(1, 2)->UseRealTime();

size_t HeapInUse() {
  return mallinfo2().uordblks;
}

// Heap bytes per registration, malloc's headers and the tables' share
// included: `runtimes` runtimes register `per_runtime` services each (a
// base_url, a typical version and path). bytes_per_registration is the
// marginal cost of a registration by a runtime already known;
// bytes_per_runtime what a runtime with one registration costs.
void BM_RegistrationMemory(benchmark::State &state) {
  const size_t runtimes = 1000;
  const size_t per_runtime = 10;
  double per_reg = 0;
  double per_runtime_one = 0;
  for (auto _ : state) {
    cp_registry_options o;
    cp_registry_options_init(&o);
    cp_registry *reg = nullptr;
    cp_registry_create(&reg, &o);
    std::vector<std::string> owners;
    std::vector<std::string> types;
    for (size_t r = 0; r < runtimes; r++) {
      owners.push_back("plugin-" + std::to_string(r) + "-0123456789abcdef");
    }
    for (size_t t = 0; t < per_runtime; t++) {
      types.push_back("service-" + std::to_string(t));
    }
    cp_metadata md[] = {{"base_url", "http://10.1.2.3:50051"}};
    size_t before = HeapInUse();
    for (size_t r = 0; r < runtimes; r++) {
      cp_registry_service svc = {types[0].c_str(), "1.0.0", "/svc.v1.Service/",
                                 md, 1};
      cp_registry_register_as_host(reg, owners[r].c_str(), &svc, nullptr);
    }
    size_t first = HeapInUse();
    for (size_t t = 1; t < per_runtime; t++) {
      for (size_t r = 0; r < runtimes; r++) {
        cp_registry_service svc = {types[t].c_str(), "1.0.0",
                                   "/svc.v1.Service/", md, 1};
        cp_registry_register_as_host(reg, owners[r].c_str(), &svc, nullptr);
      }
    }
    size_t after = HeapInUse();
    per_runtime_one = static_cast<double>(first - before) / runtimes;
    per_reg = static_cast<double>(after - first) /
              static_cast<double>(runtimes * (per_runtime - 1));
    cp_registry_stats st;
    cp_registry_get_stats(reg, &st);
    if (st.registrations != runtimes * per_runtime) {
      state.SkipWithError("registrations failed");
    }
    cp_registry_destroy(reg);
  }
  state.counters["bytes_per_registration"] = per_reg;
  state.counters["bytes_per_runtime"] = per_runtime_one;
}

BENCHMARK(BM_RegistrationMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
