// The log-linear histogram against exact quantiles of the same values
// (sorted, nearest rank): at most 1% relative error over 1 us .. 60 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

extern "C" {
#include "hist.h"
}

namespace {

// Nearest rank of q = permille / 1000 among n values, in integers.
int64_t Exact(const std::vector<int64_t> &sorted, int permille) {
  uint64_t n = sorted.size();
  uint64_t rank = (static_cast<uint64_t>(permille) * n + 999) / 1000;
  if (rank < 1) {
    rank = 1;
  }
  return sorted[rank - 1];
}

void ExpectClose(int64_t exact, int64_t got, const char *what) {
  double err =
      std::fabs(static_cast<double>(got - exact)) / static_cast<double>(exact);
  EXPECT_LE(err, 0.01) << what << ": exact " << exact << " got " << got;
}

void CompareAll(const std::vector<int64_t> &values) {
  ctl_hist *h = ctl_hist_create();
  ASSERT_NE(nullptr, h);
  for (int64_t v : values) {
    ctl_hist_record(h, v);
  }
  std::vector<int64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(sorted.size(), ctl_hist_count(h));
  for (int permille : {1, 10, 100, 250, 500, 750, 900, 950, 990, 999, 1000}) {
    int64_t exact = Exact(sorted, permille);
    int64_t got = ctl_hist_quantile(h, permille / 1000.0);
    ExpectClose(exact, got, ("q=" + std::to_string(permille)).c_str());
  }
  EXPECT_EQ(sorted.front(), ctl_hist_min(h));
  EXPECT_EQ(sorted.back(), ctl_hist_max(h));
  double sum = 0;
  for (int64_t v : values) {
    sum += static_cast<double>(v);
  }
  EXPECT_NEAR(sum / values.size(), ctl_hist_mean(h), 1e-6 * sum);
  ctl_hist_destroy(h);
}

TEST(HistTest, LogUniformOverTheWholeRange) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exp10(3.0, std::log10(6e10));
  std::vector<int64_t> values;
  for (int i = 0; i < 200000; i++) {
    values.push_back(static_cast<int64_t>(std::pow(10.0, exp10(rng))));
  }
  CompareAll(values);
}

TEST(HistTest, LatencyLikeDistribution) {
  // Most calls around 200 us, a long tail to 50 ms.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> body(std::log(200e3), 0.3);
  std::exponential_distribution<double> tail(1 / 5e6);
  std::vector<int64_t> values;
  for (int i = 0; i < 100000; i++) {
    double v = i % 100 == 0 ? 1e6 + tail(rng) : body(rng);
    values.push_back(static_cast<int64_t>(std::min(v, 5e7)));
  }
  CompareAll(values);
}

TEST(HistTest, ExactBelow256AndSingleValues) {
  ctl_hist *h = ctl_hist_create();
  for (int64_t v = 0; v < 256; v++) {
    ctl_hist_record(h, v);
  }
  EXPECT_EQ(127, ctl_hist_quantile(h, 0.5));  // rank 128 of 0..255
  EXPECT_EQ(255, ctl_hist_quantile(h, 1.0));
  EXPECT_EQ(0, ctl_hist_quantile(h, 0.0));
  ctl_hist_destroy(h);

  for (int64_t v : {INT64_C(1000), INT64_C(1234567), INT64_C(59999999999)}) {
    ctl_hist *one = ctl_hist_create();
    ctl_hist_record(one, v);
    // One value: min and max are exact, so every quantile is exact.
    EXPECT_EQ(v, ctl_hist_quantile(one, 0.5));
    EXPECT_EQ(v, ctl_hist_quantile(one, 0.999));
    ctl_hist_destroy(one);
  }
}

TEST(HistTest, EmptyHistogram) {
  ctl_hist *h = ctl_hist_create();
  EXPECT_EQ(0u, ctl_hist_count(h));
  EXPECT_EQ(0, ctl_hist_quantile(h, 0.99));
  EXPECT_EQ(0, ctl_hist_min(h));
  EXPECT_EQ(0, ctl_hist_max(h));
  EXPECT_EQ(0.0, ctl_hist_mean(h));
  ctl_hist_destroy(h);
}

TEST(HistTest, ClampsOutOfRangeValues) {
  ctl_hist *h = ctl_hist_create();
  ctl_hist_record(h, -5);
  ctl_hist_record(h, CTL_HIST_MAX_NS * 10);
  EXPECT_EQ(2u, ctl_hist_count(h));
  EXPECT_EQ(1u, ctl_hist_clamped(h));
  EXPECT_EQ(0, ctl_hist_min(h));
  EXPECT_EQ(CTL_HIST_MAX_NS, ctl_hist_max(h));
  EXPECT_EQ(CTL_HIST_MAX_NS, ctl_hist_quantile(h, 1.0));
  ctl_hist_destroy(h);
}

TEST(HistTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> d(1000, 100000000);
  ctl_hist *a = ctl_hist_create();
  ctl_hist *b = ctl_hist_create();
  ctl_hist *both = ctl_hist_create();
  for (int i = 0; i < 50000; i++) {
    int64_t v = d(rng);
    ctl_hist_record(i % 3 == 0 ? a : b, v);
    ctl_hist_record(both, v);
  }
  ctl_hist *merged = ctl_hist_create();
  ctl_hist_merge(merged, a);
  ctl_hist_merge(merged, b);
  EXPECT_EQ(ctl_hist_count(both), ctl_hist_count(merged));
  EXPECT_EQ(ctl_hist_min(both), ctl_hist_min(merged));
  EXPECT_EQ(ctl_hist_max(both), ctl_hist_max(merged));
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(ctl_hist_quantile(both, q), ctl_hist_quantile(merged, q));
  }
  for (ctl_hist *h : {a, b, both, merged}) {
    ctl_hist_destroy(h);
  }
}

TEST(HistTest, ConcurrentRecordersLoseNothing) {
  ctl_hist *h = ctl_hist_create();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([h, t] {
      for (int i = 0; i < 100000; i++) {
        ctl_hist_record(h, 1000 + t * 1000 + i % 7);
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(400000u, ctl_hist_count(h));
  EXPECT_EQ(1000, ctl_hist_min(h));
  EXPECT_EQ(4006, ctl_hist_max(h));
  ctl_hist_destroy(h);
}

}  // namespace
