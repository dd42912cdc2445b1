// The metrics registry: counter, gauge and histogram arithmetic, label
// bounds and the overflow series, exact sums under concurrent updates, and
// the Prometheus text exposition (exact text, escaping, number formatting).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "cplugin/metrics.h"
#include "metrics/buckets.h"
#include "metrics/names.h"
#include "metrics/slots.h"
#include "metrics/textbuf.h"
}

namespace {

std::string Render(cp_metric_registry *r) {
  char *text = nullptr;
  size_t len = 0;
  EXPECT_EQ(0, cp_metric_registry_render(r, &text, &len));
  std::string out(text != nullptr ? text : "", len);
  cp_metric_text_free(text);
  return out;
}

std::string Format(bool negative, uint64_t magnitude, cp_metric_unit unit) {
  char buf[CP_METRIC_VALUE_CHARS];
  size_t n = cpi_metric_format(buf, negative, magnitude, unit);
  EXPECT_EQ(strlen(buf), n);
  return std::string(buf, n);
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, cp_metric_registry_create(&r_, nullptr));
  }
  void TearDown() override { cp_metric_registry_destroy(r_); }

  cp_metric_family *Family(cp_metric_type type, const char *name,
                           std::vector<const char *> labels = {},
                           size_t max_series = 0,
                           std::vector<int64_t> buckets = {},
                           cp_metric_unit unit = CP_METRIC_UNIT_NONE,
                           const char *help = "help") {
    cp_metric_family_options o;
    cp_metric_family_options_init(&o);
    o.name = name;
    o.help = help;
    o.label_names = labels.data();
    o.label_count = labels.size();
    o.max_series = max_series;
    o.buckets = buckets.data();
    o.bucket_count = buckets.size();
    o.unit = unit;
    cp_metric_family *f = nullptr;
    EXPECT_EQ(0, cp_metric_family_create(&f, r_, type, &o)) << name;
    return f;
  }

  int Create(cp_metric_type type, const char *name,
             std::vector<const char *> labels = {},
             std::vector<int64_t> buckets = {}) {
    cp_metric_family_options o;
    cp_metric_family_options_init(&o);
    o.name = name;
    o.label_names = labels.data();
    o.label_count = labels.size();
    o.buckets = buckets.data();
    o.bucket_count = buckets.size();
    cp_metric_family *f = nullptr;
    int rc = cp_metric_family_create(&f, r_, type, &o);
    EXPECT_EQ(rc == 0, f != nullptr);
    return rc;
  }

  cp_metric_registry *r_ = nullptr;
};

TEST_F(MetricsTest, CounterAddsExactly) {
  cp_metric_family *f = Family(CP_METRIC_COUNTER, "c_total");
  cp_counter *c = cp_counter_get(f, nullptr);
  ASSERT_NE(nullptr, c);
  EXPECT_EQ(c, cp_counter_get(f, nullptr));
  EXPECT_EQ(0u, cp_counter_value(c));
  cp_counter_inc(c);
  cp_counter_add(c, 41);
  cp_counter_add(c, 0);
  EXPECT_EQ(42u, cp_counter_value(c));
}

TEST_F(MetricsTest, GaugeSetsAndAdds) {
  cp_metric_family *f = Family(CP_METRIC_GAUGE, "g");
  cp_gauge *g = cp_gauge_get(f, nullptr);
  cp_gauge_set(g, 10);
  cp_gauge_add(g, -15);
  EXPECT_EQ(-5, cp_gauge_value(g));
  cp_gauge_set(g, INT64_MIN);
  EXPECT_EQ(INT64_MIN, cp_gauge_value(g));
}

TEST_F(MetricsTest, HistogramBucketsCountAndSum) {
  cp_metric_family *f = Family(CP_METRIC_HISTOGRAM, "h", {}, 0, {10, 20, 30});
  cp_histogram *h = cp_histogram_get(f, nullptr);
  for (int64_t v : {0, 10, 11, 20, 30, 31, -5, 1000}) {
    cp_histogram_observe(h, v);
  }
  cp_histogram_snapshot s;
  cp_histogram_read(h, &s);
  ASSERT_EQ(3u, s.bucket_count);
  EXPECT_EQ(10, s.bounds[0]);
  EXPECT_EQ(3u, s.buckets[0]);  // 0, 10, -5 (counted as 0)
  EXPECT_EQ(2u, s.buckets[1]);  // 11, 20
  EXPECT_EQ(1u, s.buckets[2]);  // 30
  EXPECT_EQ(2u, s.buckets[3]);  // 31, 1000
  EXPECT_EQ(8u, s.count);
  EXPECT_EQ(1102u, s.sum);
}

TEST_F(MetricsTest, BucketSearchMatchesLinearScan) {
  std::vector<int64_t> bounds;
  for (size_t n = 1; n <= CP_METRIC_MAX_BUCKETS; n++) {
    bounds.push_back(static_cast<int64_t>(n) * 10);
    for (int64_t v = -1; v <= static_cast<int64_t>(n) * 10 + 11; v++) {
      size_t want = 0;
      while (want < n && bounds[want] < v) {
        want++;
      }
      ASSERT_EQ(want, cpi_histogram_bucket(bounds.data(), n, v))
          << "n=" << n << " v=" << v;
    }
  }
}

TEST_F(MetricsTest, SameLabelValuesSameSeries) {
  cp_metric_family *f = Family(CP_METRIC_COUNTER, "req_total", {"a", "b"});
  const char *x[] = {"1", "2"};
  const char *x2[] = {"1", "2"};
  const char *y[] = {"12", ""};  // same bytes concatenated: still distinct
  cp_counter *cx = cp_counter_get(f, x);
  EXPECT_EQ(cx, cp_counter_get(f, x2));
  cp_counter *cy = cp_counter_get(f, y);
  EXPECT_NE(cx, cy);
  cp_counter_add(cx, 3);
  cp_counter_add(cy, 4);
  EXPECT_EQ(3u, cp_counter_value(cx));
  EXPECT_EQ(4u, cp_counter_value(cy));
}

TEST_F(MetricsTest, OverflowSeriesCapsTheLabelSet) {
  cp_metric_family *f = Family(CP_METRIC_COUNTER, "peer_total", {"peer"}, 2);
  const char *a[] = {"a"};
  const char *b[] = {"b"};
  cp_counter *ca = cp_counter_get(f, a);
  cp_counter *cb = cp_counter_get(f, b);
  ASSERT_NE(ca, cb);
  cp_counter *first = nullptr;
  for (int i = 0; i < 1000; i++) {
    std::string v = "attacker-" + std::to_string(i);
    const char *vals[] = {v.c_str()};
    cp_counter *c = cp_counter_get(f, vals);
    if (first == nullptr) {
      first = c;
    }
    ASSERT_EQ(first, c) << "every new combination shares one series";
    cp_counter_inc(c);
  }
  EXPECT_NE(ca, first);
  EXPECT_NE(cb, first);
  // Existing combinations keep their own series.
  EXPECT_EQ(ca, cp_counter_get(f, a));
  EXPECT_EQ(
      "# HELP peer_total help\n"
      "# TYPE peer_total counter\n"
      "peer_total{peer=\"a\"} 0\n"
      "peer_total{peer=\"b\"} 0\n"
      "peer_total{peer=\"__overflow__\"} 1000\n",
      Render(r_));
}

TEST_F(MetricsTest, InvalidLabelValuesGoToOverflow) {
  cp_metric_family *f = Family(CP_METRIC_COUNTER, "v_total", {"v"});
  std::string long_value(CP_METRIC_LABEL_VALUE_MAX + 1, 'x');
  std::string max_value(CP_METRIC_LABEL_VALUE_MAX, 'x');
  const char *too_long[] = {long_value.c_str()};
  const char *max_ok[] = {max_value.c_str()};
  const char *not_utf8[] = {"\xff\xfe"};
  const char *overlong[] = {"\xc0\xaf"};
  const char *surrogate[] = {"\xed\xa0\x80"};
  const char *null_value[] = {nullptr};
  cp_counter *ov = cp_counter_get(f, too_long);
  ASSERT_NE(nullptr, ov);
  EXPECT_EQ(ov, cp_counter_get(f, not_utf8));
  EXPECT_EQ(ov, cp_counter_get(f, overlong));
  EXPECT_EQ(ov, cp_counter_get(f, surrogate));
  EXPECT_EQ(ov, cp_counter_get(f, null_value));
  EXPECT_EQ(ov, cp_counter_get(f, nullptr));
  EXPECT_NE(ov, cp_counter_get(f, max_ok));
  const char *utf8[] = {"caf\xc3\xa9 \xf0\x9f\x98\x80"};
  EXPECT_NE(ov, cp_counter_get(f, utf8));
}

TEST_F(MetricsTest, RejectsBadFamilies) {
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, ""));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "1abc"));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "a-b"));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "x", {"__reserved"}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "x", {"9"}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "x", {"a:b"}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "x", {"a", "a"}));
  EXPECT_EQ(CP_EINVAL,
            Create(CP_METRIC_COUNTER, "x", {"a", "b", "c", "d", "e"}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_HISTOGRAM, "x", {"le"}, {1}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_HISTOGRAM, "x", {}, {}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_HISTOGRAM, "x", {}, {2, 2}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_HISTOGRAM, "x", {}, {3, 1}));
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_COUNTER, "x", {}, {1}));
  EXPECT_EQ(CP_EINVAL, Create(static_cast<cp_metric_type>(7), "x"));
  std::vector<int64_t> many(CP_METRIC_MAX_BUCKETS + 1);
  for (size_t i = 0; i < many.size(); i++) {
    many[i] = static_cast<int64_t>(i);
  }
  EXPECT_EQ(CP_EINVAL, Create(CP_METRIC_HISTOGRAM, "x", {}, many));
  many.pop_back();
  EXPECT_EQ(0, Create(CP_METRIC_HISTOGRAM, "x", {}, many));
  EXPECT_EQ(CP_EEXIST, Create(CP_METRIC_COUNTER, "x"));
  EXPECT_EQ(0, Create(CP_METRIC_COUNTER, "ns:sub_total", {"le"}));

  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = "bad_help";
  o.help = "\xff";
  cp_metric_family *f = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_metric_family_create(&f, r_, CP_METRIC_GAUGE, &o));
  o.help = "ok";
  o.max_series = CP_METRIC_MAX_SERIES_LIMIT + 1;
  o.label_count = 1;
  const char *labels[] = {"a"};
  o.label_names = labels;
  EXPECT_EQ(CP_EINVAL, cp_metric_family_create(&f, r_, CP_METRIC_GAUGE, &o));
  o.unit = static_cast<cp_metric_unit>(9);
  o.max_series = 0;
  EXPECT_EQ(CP_EINVAL, cp_metric_family_create(&f, r_, CP_METRIC_GAUGE, &o));
  EXPECT_EQ(CP_EINVAL,
            cp_metric_family_create(&f, nullptr, CP_METRIC_GAUGE, &o));
  EXPECT_EQ(CP_EINVAL,
            cp_metric_family_create(&f, r_, CP_METRIC_GAUGE, nullptr));
}

TEST_F(MetricsTest, WrongTypesAndNullHandlesAreHarmless) {
  cp_metric_family *c = Family(CP_METRIC_COUNTER, "c_total");
  cp_metric_family *g = Family(CP_METRIC_GAUGE, "g");
  EXPECT_EQ(nullptr, cp_gauge_get(c, nullptr));
  EXPECT_EQ(nullptr, cp_histogram_get(g, nullptr));
  EXPECT_EQ(nullptr, cp_counter_get(nullptr, nullptr));
  cp_counter_inc(nullptr);
  cp_counter_add(nullptr, 5);
  cp_gauge_set(nullptr, 1);
  cp_gauge_add(nullptr, 1);
  cp_histogram_observe(nullptr, 1);
  EXPECT_EQ(0u, cp_counter_value(nullptr));
  EXPECT_EQ(0, cp_gauge_value(nullptr));
  cp_histogram_snapshot s;
  cp_histogram_read(nullptr, &s);
  EXPECT_EQ(0u, s.count);
  char *text = reinterpret_cast<char *>(1);
  EXPECT_EQ(CP_EINVAL, cp_metric_registry_render(nullptr, &text, nullptr));
  EXPECT_EQ(nullptr, text);
  cp_metric_text_free(nullptr);
  cp_metric_registry_destroy(nullptr);
  cp_metric_registry_options ro;
  cp_metric_registry_options_init(&ro);
  ro.stripes = CP_METRIC_MAX_SLOTS + 1;
  cp_metric_registry *r = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_metric_registry_create(&r, &ro));
}

int64_t ReadUser(void *user) {
  return *static_cast<int64_t *>(user);
}

TEST_F(MetricsTest, CallbackSeries) {
  cp_metric_family *g = Family(CP_METRIC_GAUGE, "queue_depth", {"q"}, 2);
  cp_metric_family *c = Family(CP_METRIC_COUNTER, "events_total");
  cp_metric_family *h = Family(CP_METRIC_HISTOGRAM, "lat", {}, 0, {1});
  int64_t depth = 7;
  int64_t negative = -3;
  const char *a[] = {"a"};
  const char *b[] = {"b"};
  const char *cc[] = {"c"};
  EXPECT_EQ(0, cp_metric_family_add_func(g, a, ReadUser, &depth));
  EXPECT_EQ(CP_EEXIST, cp_metric_family_add_func(g, a, ReadUser, &depth));
  EXPECT_EQ(0, cp_metric_family_add_func(g, b, ReadUser, &negative));
  EXPECT_EQ(CP_ELIMIT, cp_metric_family_add_func(g, cc, ReadUser, &depth));
  EXPECT_EQ(CP_EINVAL, cp_metric_family_add_func(g, cc, nullptr, &depth));
  const char *bad[] = {"\xff"};
  EXPECT_EQ(CP_EINVAL, cp_metric_family_add_func(g, bad, ReadUser, &depth));
  EXPECT_EQ(CP_EINVAL, cp_metric_family_add_func(h, nullptr, ReadUser, &depth));
  EXPECT_EQ(0, cp_metric_family_add_func(c, nullptr, ReadUser, &negative));
  EXPECT_EQ(CP_EEXIST,
            cp_metric_family_add_func(c, nullptr, ReadUser, &negative));

  cp_gauge *ga = cp_gauge_get(g, a);
  EXPECT_EQ(7, cp_gauge_value(ga));
  cp_gauge_set(ga, 100);  // ignored: the callback owns the value
  depth = 9;
  EXPECT_EQ(9, cp_gauge_value(ga));
  EXPECT_EQ(0u, cp_counter_value(cp_counter_get(c, nullptr)));
  cp_counter_add(cp_counter_get(c, nullptr), 5);  // no cells: ignored
  EXPECT_EQ(
      "# HELP queue_depth help\n"
      "# TYPE queue_depth gauge\n"
      "queue_depth{q=\"a\"} 9\n"
      "queue_depth{q=\"b\"} -3\n"
      "# HELP events_total help\n"
      "# TYPE events_total counter\n"
      "events_total 0\n",
      Render(r_));
}

TEST_F(MetricsTest, ExpositionExactText) {
  cp_metric_family *req =
      Family(CP_METRIC_COUNTER, "app_requests_total", {"method", "code"}, 0, {},
             CP_METRIC_UNIT_NONE, "Requests by method and code.");
  cp_metric_family *temp = Family(CP_METRIC_GAUGE, "app_temperature", {}, 0, {},
                                  CP_METRIC_UNIT_NONE, "Temperature.");
  cp_metric_family *lat = Family(CP_METRIC_HISTOGRAM, "app_latency_seconds",
                                 {"method"}, 0, {1000000, 2500000, 1000000000},
                                 CP_METRIC_UNIT_NS_AS_SECONDS, "Latency.");
  Family(CP_METRIC_COUNTER, "app_unused_total");  // no series: not written

  const char *get_ok[] = {"/a.B/Get", "OK"};
  const char *get_nf[] = {"/a.B/Get", "NOT_FOUND"};
  cp_counter_add(cp_counter_get(req, get_ok), 3);
  cp_counter_inc(cp_counter_get(req, get_nf));
  cp_gauge_set(cp_gauge_get(temp, nullptr), -12);
  const char *get[] = {"/a.B/Get"};
  cp_histogram *h = cp_histogram_get(lat, get);
  cp_histogram_observe(h, 500000);      // 0.0005 s
  cp_histogram_observe(h, 2000000);     // 0.002 s
  cp_histogram_observe(h, 3000000000);  // 3 s
  EXPECT_EQ(
      "# HELP app_requests_total Requests by method and code.\n"
      "# TYPE app_requests_total counter\n"
      "app_requests_total{method=\"/a.B/Get\",code=\"OK\"} 3\n"
      "app_requests_total{method=\"/a.B/Get\",code=\"NOT_FOUND\"} 1\n"
      "# HELP app_temperature Temperature.\n"
      "# TYPE app_temperature gauge\n"
      "app_temperature -12\n"
      "# HELP app_latency_seconds Latency.\n"
      "# TYPE app_latency_seconds histogram\n"
      "app_latency_seconds_bucket{method=\"/a.B/Get\",le=\"0.001\"} 1\n"
      "app_latency_seconds_bucket{method=\"/a.B/Get\",le=\"0.0025\"} 2\n"
      "app_latency_seconds_bucket{method=\"/a.B/Get\",le=\"1\"} 2\n"
      "app_latency_seconds_bucket{method=\"/a.B/Get\",le=\"+Inf\"} 3\n"
      "app_latency_seconds_sum{method=\"/a.B/Get\"} 3.0025\n"
      "app_latency_seconds_count{method=\"/a.B/Get\"} 3\n",
      Render(r_));
}

TEST_F(MetricsTest, UnlabelledHistogramHasOnlyLe) {
  cp_metric_family *f = Family(CP_METRIC_HISTOGRAM, "h", {}, 0, {5});
  cp_histogram_observe(cp_histogram_get(f, nullptr), 7);
  EXPECT_EQ(
      "# HELP h help\n"
      "# TYPE h histogram\n"
      "h_bucket{le=\"5\"} 0\n"
      "h_bucket{le=\"+Inf\"} 1\n"
      "h_sum 7\n"
      "h_count 1\n",
      Render(r_));
}

TEST_F(MetricsTest, EscapesLabelValuesAndHelp) {
  cp_metric_family *f = Family(CP_METRIC_COUNTER, "esc_total", {"v"}, 0, {},
                               CP_METRIC_UNIT_NONE, "back\\slash\nnew \"q\"");
  const char *v[] = {"a\"b\\c\nd"};
  cp_counter_inc(cp_counter_get(f, v));
  EXPECT_EQ(
      "# HELP esc_total back\\\\slash\\nnew \"q\"\n"
      "# TYPE esc_total counter\n"
      "esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n",
      Render(r_));
}

TEST_F(MetricsTest, EmptyRegistryRendersNothing) {
  EXPECT_EQ("", Render(r_));
}

TEST(MetricsFormat, IntegersAndSeconds) {
  EXPECT_EQ("0", Format(false, 0, CP_METRIC_UNIT_NONE));
  EXPECT_EQ("18446744073709551615",
            Format(false, UINT64_MAX, CP_METRIC_UNIT_NONE));
  EXPECT_EQ("-5", Format(true, 5, CP_METRIC_UNIT_NONE));
  EXPECT_EQ("0", Format(true, 0, CP_METRIC_UNIT_NONE));
  EXPECT_EQ("0", Format(false, 0, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("0.000000001", Format(false, 1, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("0.0015", Format(false, 1500000, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("2.5", Format(false, 2500000000u, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("3", Format(false, 3000000000u, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("-0.25", Format(true, 250000000, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("18446744073.709551615",
            Format(false, UINT64_MAX, CP_METRIC_UNIT_NS_AS_SECONDS));
  EXPECT_EQ("-9223372036.854775808",
            Format(true, uint64_t{1} << 63, CP_METRIC_UNIT_NS_AS_SECONDS));
}

TEST(MetricsNames, Validation) {
  EXPECT_TRUE(cpi_metric_name_valid("a:b_c9"));
  EXPECT_TRUE(cpi_metric_name_valid("_x"));
  EXPECT_FALSE(cpi_metric_name_valid(nullptr));
  EXPECT_FALSE(cpi_metric_name_valid("9a"));
  EXPECT_FALSE(cpi_metric_name_valid("a b"));
  EXPECT_FALSE(
      cpi_metric_name_valid(std::string(CP_METRIC_NAME_MAX + 1, 'a').c_str()));
  EXPECT_TRUE(cpi_metric_label_name_valid("_a"));
  EXPECT_FALSE(cpi_metric_label_name_valid("__a"));
  EXPECT_FALSE(cpi_metric_label_name_valid("a:b"));
  EXPECT_TRUE(cpi_metric_utf8_valid("\xf4\x8f\xbf\xbf", 4));   // U+10FFFF
  EXPECT_FALSE(cpi_metric_utf8_valid("\xf4\x90\x80\x80", 4));  // past it
  EXPECT_FALSE(cpi_metric_utf8_valid("\xe2\x82", 2));          // truncated
  EXPECT_FALSE(cpi_metric_utf8_valid("\xe0\x80\x80", 3));      // overlong
}

// Threads beyond the stripe count share the atomic stripe; either way the
// sum is exact.
void ConcurrentSum(unsigned stripes, int threads) {
  cp_metric_registry_options ro;
  cp_metric_registry_options_init(&ro);
  ro.stripes = stripes;
  cp_metric_registry *r = nullptr;
  ASSERT_EQ(0, cp_metric_registry_create(&r, &ro));
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = "n_total";
  cp_metric_family *cf = nullptr;
  ASSERT_EQ(0, cp_metric_family_create(&cf, r, CP_METRIC_COUNTER, &o));
  int64_t bounds[] = {10, 100};
  o.name = "h";
  o.buckets = bounds;
  o.bucket_count = 2;
  cp_metric_family *hf = nullptr;
  ASSERT_EQ(0, cp_metric_family_create(&hf, r, CP_METRIC_HISTOGRAM, &o));
  cp_counter *c = cp_counter_get(cf, nullptr);
  cp_histogram *h = cp_histogram_get(hf, nullptr);
  const uint64_t per_thread = 200000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([&] {
      for (uint64_t i = 0; i < per_thread; i++) {
        cp_counter_inc(c);
        cp_histogram_observe(h, static_cast<int64_t>(i % 200));
      }
    });
  }
  for (std::thread &t : pool) {
    t.join();
  }
  const uint64_t total = per_thread * static_cast<uint64_t>(threads);
  EXPECT_EQ(total, cp_counter_value(c));
  cp_histogram_snapshot s;
  cp_histogram_read(h, &s);
  EXPECT_EQ(total, s.count);
  // i % 200: 0..10 -> 11 of 200, 11..100 -> 90, 101..199 -> 99.
  EXPECT_EQ(total / 200 * 11, s.buckets[0]);
  EXPECT_EQ(total / 200 * 90, s.buckets[1]);
  EXPECT_EQ(total / 200 * 99, s.buckets[2]);
  EXPECT_EQ(total / 200 * (199 * 200 / 2), s.sum);
  cp_metric_registry_destroy(r);
}

TEST(MetricsConcurrency, OwnedStripesSumExactly) {
  ConcurrentSum(64, 8);
}

TEST(MetricsConcurrency, SharedStripeSumsExactly) {
  ConcurrentSum(1, 8);
}

TEST(MetricsConcurrency, SlotsReturnWhenThreadsExit) {
  unsigned before = cpi_metric_slots_in_use();
  for (int round = 0; round < 3 * static_cast<int>(CP_METRIC_MAX_SLOTS) / 8;
       round++) {
    std::vector<std::thread> pool;
    for (int t = 0; t < 8; t++) {
      pool.emplace_back(
          [] { EXPECT_LT(cpi_metric_slot_acquire(), CP_METRIC_MAX_SLOTS); });
    }
    for (std::thread &t : pool) {
      t.join();
    }
  }
  EXPECT_EQ(before, cpi_metric_slots_in_use());
}

TEST(MetricsConcurrency, LookupsRaceWithInsertionsAndScrapes) {
  cp_metric_registry *r = nullptr;
  ASSERT_EQ(0, cp_metric_registry_create(&r, nullptr));
  const char *labels[] = {"k"};
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = "k_total";
  o.label_names = labels;
  o.label_count = 1;
  o.max_series = 32;
  cp_metric_family *f = nullptr;
  ASSERT_EQ(0, cp_metric_family_create(&f, r, CP_METRIC_COUNTER, &o));
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; t++) {
    pool.emplace_back([f] {
      for (int i = 0; i < 20000; i++) {
        std::string k = std::to_string(i % 40);  // 8 keys overflow
        const char *v[] = {k.c_str()};
        cp_counter_inc(cp_counter_get(f, v));
      }
    });
  }
  pool.emplace_back([r] {
    for (int i = 0; i < 50; i++) {
      char *text = nullptr;
      ASSERT_EQ(0, cp_metric_registry_render(r, &text, nullptr));
      cp_metric_text_free(text);
    }
  });
  for (std::thread &t : pool) {
    t.join();
  }
  // 40 keys, 500 hits each per thread; the 8 keys that found the family
  // full share the overflow series. Nothing is lost either way.
  const char *invalid[] = {"\xff"};
  cp_counter *overflow = cp_counter_get(f, invalid);
  uint64_t total = cp_counter_value(overflow);
  int distinct = 0;
  for (int i = 0; i < 40; i++) {
    std::string k = std::to_string(i);
    const char *v[] = {k.c_str()};
    cp_counter *c = cp_counter_get(f, v);
    if (c != overflow) {
      total += cp_counter_value(c);
      distinct++;
    }
  }
  EXPECT_EQ(32, distinct);
  EXPECT_EQ(4u * 20000u, total);
  cp_metric_registry_destroy(r);
}

}  // namespace
