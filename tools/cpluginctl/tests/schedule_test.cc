// Open-loop schedule arithmetic: constant rates, linear ramps.
#include <gtest/gtest.h>

#include <cmath>

extern "C" {
#include "schedule.h"
}

namespace {

TEST(ScheduleTest, ConstantRate) {
  ctl_segment s = {"steady", 1000, 1000, 60};
  EXPECT_EQ(60000u, ctl_segment_slots(&s));
  EXPECT_EQ(0, ctl_segment_offset_ns(&s, 0));
  EXPECT_EQ(1000000, ctl_segment_offset_ns(&s, 1));  // 1 ms apart
  EXPECT_EQ(59999000000, ctl_segment_offset_ns(&s, 59999));
}

TEST(ScheduleTest, FractionalRatesAndShortSegments) {
  ctl_segment slow = {"slow", 0.5, 0.5, 10};
  EXPECT_EQ(5u, ctl_segment_slots(&slow));
  EXPECT_EQ(2000000000, ctl_segment_offset_ns(&slow, 1));
  ctl_segment tiny = {"tiny", 1, 1, 0.1};  // less than one call: still one
  EXPECT_EQ(1u, ctl_segment_slots(&tiny));
}

TEST(ScheduleTest, RampSendsTheIntegralOfItsRate) {
  // 100 -> 5000 req/s over 10 s: (100 + 5000) / 2 * 10 = 25500 calls.
  ctl_segment ramp = {"ramp", 100, 5000, 10};
  EXPECT_EQ(25500u, ctl_segment_slots(&ramp));
  // Monotonic, starting at 0, ending within the segment.
  int64_t prev = -1;
  for (uint64_t k = 0; k < 25500; k += 17) {
    int64_t t = ctl_segment_offset_ns(&ramp, k);
    EXPECT_GT(t, prev);
    prev = t;
  }
  EXPECT_LE(ctl_segment_offset_ns(&ramp, 25499), INT64_C(10000000000));
  // N(t) = 100 t + 245 t^2: N(5 s) = 6625 calls are due by 5 s.
  int64_t t5 = ctl_segment_offset_ns(&ramp, 6625);
  EXPECT_NEAR(5e9, static_cast<double>(t5), 1e3);
  // The gap between calls shrinks: 1/100 s at first, 1/5000 s at the end.
  double first = static_cast<double>(ctl_segment_offset_ns(&ramp, 1));
  EXPECT_NEAR(9.7664e6, first, 1e3);  // (-100 + sqrt(10980)) / 490 s
  double last = static_cast<double>(ctl_segment_offset_ns(&ramp, 25499) -
                                    ctl_segment_offset_ns(&ramp, 25498));
  EXPECT_NEAR(2e5, last, 1e3);
}

TEST(ScheduleTest, DownwardRamp) {
  ctl_segment down = {"down", 5000, 100, 10};
  EXPECT_EQ(25500u, ctl_segment_slots(&down));
  int64_t prev = -1;
  for (uint64_t k = 0; k < 25500; k += 13) {
    int64_t t = ctl_segment_offset_ns(&down, k);
    EXPECT_GT(t, prev);
    prev = t;
  }
  EXPECT_LE(ctl_segment_offset_ns(&down, 25499), INT64_C(10000000000));
}

}  // namespace
