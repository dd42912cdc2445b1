// Metrics hot-path benchmarks (Google Benchmark) at 1, 2, 4 and 8 threads,
// all threads updating the same series: a striped counter increment, a
// histogram observation, the same on the shared (atomic) stripe, a single
// atomic counter for comparison, the post-hook's record_call, and the cost
// of sampled token timing. Real time (items/s is the aggregate over the
// threads), as every timed benchmark in tests/bench. Run with tools/bench.sh.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "bench_util.h"

extern "C" {
#include "cplugin/metrics.h"
}

namespace {

using cplugin_bench::OneToEightThreads;

struct Fixture {
  cp_metric_registry *registry = nullptr;
  cp_counter *counter = nullptr;
  cp_histogram *histogram = nullptr;
};

// `stripes` 0 = the default (owned stripes), 1 = one owned stripe, so that
// every other thread goes through the shared atomic stripe.
Fixture Make(unsigned stripes) {
  Fixture f;
  cp_metric_registry_options ro;
  cp_metric_registry_options_init(&ro);
  ro.stripes = stripes;
  cp_metric_registry_create(&f.registry, &ro);
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = "bench_total";
  cp_metric_family *cf = nullptr;
  cp_metric_family_create(&cf, f.registry, CP_METRIC_COUNTER, &o);
  static const int64_t kBounds[] = {
      100000,     250000,     500000,     1000000,    2500000,   5000000,
      10000000,   25000000,   50000000,   100000000,  250000000, 500000000,
      1000000000, 2500000000, 5000000000, 10000000000};
  o.name = "bench_seconds";
  o.buckets = kBounds;
  o.bucket_count = sizeof kBounds / sizeof kBounds[0];
  o.unit = CP_METRIC_UNIT_NS_AS_SECONDS;
  cp_metric_family *hf = nullptr;
  cp_metric_family_create(&hf, f.registry, CP_METRIC_HISTOGRAM, &o);
  f.counter = cp_counter_get(cf, nullptr);
  f.histogram = cp_histogram_get(hf, nullptr);
  return f;
}

Fixture &Striped() {
  static Fixture f = Make(0);
  return f;
}

Fixture &Shared() {
  static Fixture f = Make(1);
  return f;
}

void CheckCount(benchmark::State &state, const Fixture &f) {
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    benchmark::DoNotOptimize(cp_counter_value(f.counter));
  }
}

void BM_CounterInc(benchmark::State &state) {
  Fixture &f = Striped();
  for (auto _ : state) {
    cp_counter_inc(f.counter);
  }
  CheckCount(state, f);
}
BENCHMARK(BM_CounterInc)->Apply(OneToEightThreads);

void BM_CounterIncSharedStripe(benchmark::State &state) {
  Fixture &f = Shared();
  for (auto _ : state) {
    cp_counter_inc(f.counter);
  }
  CheckCount(state, f);
}
BENCHMARK(BM_CounterIncSharedStripe)->Apply(OneToEightThreads);

// What an unsharded counter costs: one atomic cell for every thread.
std::atomic<uint64_t> g_single{0};

void BM_SingleAtomicCounter(benchmark::State &state) {
  for (auto _ : state) {
    g_single.fetch_add(1, std::memory_order_relaxed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SingleAtomicCounter)->Apply(OneToEightThreads);

void BM_HistogramObserve(benchmark::State &state) {
  Fixture &f = Striped();
  // Durations spread over the buckets, as request latencies would be.
  int64_t v = 80000 + 7919 * state.thread_index();
  for (auto _ : state) {
    cp_histogram_observe(f.histogram, v);
    v = v < 3000000000 ? v * 3 / 2 : 80000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Apply(OneToEightThreads);

void BM_HistogramObserveSharedStripe(benchmark::State &state) {
  Fixture &f = Shared();
  int64_t v = 80000 + 7919 * state.thread_index();
  for (auto _ : state) {
    cp_histogram_observe(f.histogram, v);
    v = v < 3000000000 ? v * 3 / 2 : 80000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserveSharedStripe)->Apply(OneToEightThreads);

cp_metrics *Standard() {
  static cp_metrics *m = [] {
    cp_metrics *created = nullptr;
    cp_metrics_create(&created, nullptr);
    return created;
  }();
  return m;
}

// What the post-call hook does per call: method label lookup, the
// requests_total counter and the duration histogram.
void BM_RecordCall(benchmark::State &state) {
  cp_metrics *m = Standard();
  // Only the descriptor's address and path matter to the metrics.
  static cp_method_desc method_desc = {};
  method_desc.path = "/bench.v1.Bench/Call";
  const cp_method_desc *method = &method_desc;
  int64_t d = 120000;
  for (auto _ : state) {
    cp_metrics_record_call(m, method, CP_STATUS_OK, d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordCall)->Apply(OneToEightThreads);

// begin/end around nothing: the overhead sampling adds to each validation
// (one in 64 reads the clock twice and observes).
void BM_TokenTimingOverhead(benchmark::State &state) {
  cp_metrics *m = Standard();
  for (auto _ : state) {
    int64_t t = cp_metrics_token_validation_begin(m);
    benchmark::ClobberMemory();
    cp_metrics_token_validation_end(m, t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenTimingOverhead)->Apply(OneToEightThreads);

}  // namespace

BENCHMARK_MAIN();
