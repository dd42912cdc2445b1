// Internal core helpers: per-call arena, monotonic clock, service lookup,
// interned strings.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "core/arena.h"
#include "core/clock.h"
#include "core/intern.h"
#include "cplugin/errors.h"
#include "cplugin/service.h"
}

TEST(Arena, AllocationsAreZeroedAlignedAndDistinct) {
  cp_arena a;
  cpi_arena_init(&a);
  char *prev = nullptr;
  for (int i = 0; i < 1000; i++) {
    size_t size = static_cast<size_t>(i % 97) + 1;
    auto *p = static_cast<unsigned char *>(cpi_arena_alloc(&a, size));
    ASSERT_NE(nullptr, p);
    EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(p) % 16);
    for (size_t j = 0; j < size; j++) {
      ASSERT_EQ(0, p[j]);
    }
    memset(p, 0xab, size);
    EXPECT_NE(prev, reinterpret_cast<char *>(p));
    prev = reinterpret_cast<char *>(p);
  }
  void *big = cpi_arena_alloc(&a, 1 << 20);
  ASSERT_NE(nullptr, big);
  cpi_arena_release(&a);
}

TEST(Arena, StrndupCopiesAndTerminates) {
  cp_arena a;
  cpi_arena_init(&a);
  char *s = cpi_arena_strndup(&a, "hello world", 5);
  ASSERT_NE(nullptr, s);
  EXPECT_STREQ("hello", s);
  EXPECT_EQ(nullptr, cpi_arena_alloc(&a, SIZE_MAX));
  cpi_arena_release(&a);
}

TEST(Clock, MonotonicAndDeadlines) {
  int64_t a = cpi_clock_monotonic_ns();
  int64_t b = cpi_clock_monotonic_ns();
  EXPECT_LE(a, b);
  EXPECT_EQ(INT64_MAX, cpi_deadline_after_ms(a, 0));
  EXPECT_EQ(INT64_MAX, cpi_deadline_after_ms(a, -5));
  EXPECT_EQ(a + 250000000, cpi_deadline_after_ms(a, 250));
  EXPECT_EQ(INT64_MAX, cpi_deadline_after_ms(a, INT64_MAX / 2));
}

// The coarse clock shares CLOCK_MONOTONIC's epoch and never runs ahead of
// it (it lags by at most a tick; the bound here is only "same epoch").
// The one due-time helper: saturating, negative spans count as none, and
// millisecond spans keep every nanosecond (no rounding to seconds).
TEST(Clock, DueTimesSaturateInsteadOfOverflowing) {
  EXPECT_EQ(0, cpi_ms_to_ns(0));
  EXPECT_EQ(0, cpi_ms_to_ns(-5));
  EXPECT_EQ(INT64_C(9223372036854) * 1000000,
            cpi_ms_to_ns(INT64_C(9223372036854)));
  EXPECT_EQ(INT64_MAX, cpi_ms_to_ns(INT64_C(9223372036855)));
  EXPECT_EQ(INT64_MAX, cpi_ms_to_ns(INT64_MAX));

  EXPECT_EQ(1001, cpi_time_after_ns(1000, 1));
  EXPECT_EQ(1000, cpi_time_after_ns(1000, 0));
  EXPECT_EQ(1000, cpi_time_after_ns(1000, -7));
  EXPECT_EQ(INT64_MAX, cpi_time_after_ns(INT64_MAX - 1, 2));
  EXPECT_EQ(INT64_MAX, cpi_time_after_ns(1, INT64_MAX));
  // A peer's lifetime of INT64_MAX ms, halved, lands at the end of time
  // rather than wrapping into the past.
  EXPECT_EQ(INT64_MAX,
            cpi_time_after_ns(INT64_MAX / 2 + 1, cpi_ms_to_ns(INT64_MAX) / 2));
  // The deadline form keeps "0 = none".
  EXPECT_EQ(INT64_MAX, cpi_deadline_after_ms(5, 0));
  EXPECT_EQ(5 + 2000000, cpi_deadline_after_ms(5, 2));
}

TEST(Clock, CoarseClockSharesTheMonotonicEpoch) {
  const cp_clock *coarse = cpi_clock_coarse();
  ASSERT_NE(nullptr, coarse);
  EXPECT_EQ(coarse, cpi_clock_coarse());
  int64_t before = cpi_clock_monotonic_ns();
  int64_t c = cp_clock_now_ns(coarse);
  int64_t after = cpi_clock_monotonic_ns();
  EXPECT_LE(c, after);
  // Read after `before`, so only the clock's lag separates them, however
  // long this thread was descheduled.
  EXPECT_LT(before - c, 1000000000) << "not the monotonic epoch";
}

// A sleep lasts at least what was asked (nanosleep's guarantee, kept across
// signals); nothing here bounds it from above.
TEST(Clock, SleepLastsAtLeastTheTimeAsked) {
  int64_t start = cpi_clock_monotonic_ns();
  cpi_sleep_ns(20000000);
  EXPECT_GE(cpi_clock_monotonic_ns() - start, 20000000);
  cpi_sleep_ns(0);  // both return at once
  cpi_sleep_ns(-5);
}

TEST(Service, FindMethodByPath) {
  cp_method_desc get = {};
  get.path = "/p.S/Get";
  cp_method_desc put = {};
  put.path = "/p.S/Put";
  const cp_method_desc *methods[] = {&get, &put};
  cp_service_desc svc = {"p.S", "/p.S/", 2, methods};
  EXPECT_EQ(&put, cp_service_find_method(&svc, "/p.S/Put"));
  EXPECT_EQ(&get, cp_service_find_method(&svc, "/p.S/Get"));
  EXPECT_EQ(nullptr, cp_service_find_method(&svc, "/p.S/Nope"));
  EXPECT_EQ(nullptr, cp_service_find_method(nullptr, "/p.S/Get"));
  EXPECT_EQ(nullptr, cp_service_find_method(&svc, nullptr));
}

namespace {

class InternTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_siphash_key key = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    cpi_intern_init(&t_, &key);
  }
  void TearDown() override { cpi_intern_release(&t_); }

  uint32_t Add(const std::string &s) {
    uint32_t id = 0;
    EXPECT_EQ(0, cpi_intern_add(&t_, s.data(), s.size(), &id));
    return id;
  }
  std::string Str(uint32_t id) {
    return std::string(cpi_intern_str(&t_, id), cpi_intern_len(&t_, id));
  }

  cp_intern t_;
};

}  // namespace

TEST_F(InternTest, EqualStringsShareOneCopyUntilTheLastPut) {
  EXPECT_EQ(0u, cpi_intern_count(&t_));
  uint32_t a = Add("kv-plugin");
  uint32_t b = Add(std::string("kv-plugin-x", 9));  // not NUL-terminated
  EXPECT_NE(0u, a);
  EXPECT_EQ(a, b);
  EXPECT_EQ(1u, cpi_intern_count(&t_));
  EXPECT_STREQ("kv-plugin", cpi_intern_str(&t_, a));
  cpi_intern_put(&t_, a);
  EXPECT_EQ(1u, cpi_intern_count(&t_));
  EXPECT_STREQ("kv-plugin", cpi_intern_str(&t_, a));
  cpi_intern_put(&t_, b);
  EXPECT_EQ(0u, cpi_intern_count(&t_));
}

TEST_F(InternTest, LengthsTellApartPrefixesEmptyAndEmbeddedNul) {
  uint32_t empty = Add("");
  uint32_t a = Add("a");
  uint32_t ab = Add("ab");
  uint32_t nul = Add(std::string("a\0b", 3));
  EXPECT_EQ(4u, cpi_intern_count(&t_));
  EXPECT_NE(empty, a);
  EXPECT_NE(a, ab);
  EXPECT_NE(a, nul);
  EXPECT_EQ("", Str(empty));
  EXPECT_STREQ("", cpi_intern_str(&t_, empty));
  EXPECT_EQ(std::string("a\0b", 3), Str(nul));
  EXPECT_EQ(3u, cpi_intern_len(&t_, nul));
  EXPECT_EQ(empty, Add(""));
  EXPECT_EQ(nul, Add(std::string("a\0b", 3)));
}

TEST_F(InternTest, FreedIdsAreReusedForOtherStrings) {
  uint32_t a = Add("alpha");
  uint32_t b = Add("beta");
  cpi_intern_put(&t_, a);
  uint32_t c = Add("gamma");
  EXPECT_EQ(a, c);  // the freed entry, not a new one
  EXPECT_EQ("gamma", Str(c));
  EXPECT_EQ("beta", Str(b));
  EXPECT_NE(a, Add("alpha"));  // a new entry now: a's id is gamma's
}

// Many strings through several rehashes, removed in an interleaved order:
// every remaining string is still found under its id, and equal adds find
// it again instead of copying.
TEST_F(InternTest, ManyStringsThroughGrowthAndRemoval) {
  const int n = 10000;
  std::vector<uint32_t> ids;
  for (int i = 0; i < n; i++) {
    ids.push_back(Add("name-" + std::to_string(i)));
  }
  EXPECT_EQ(static_cast<size_t>(n), cpi_intern_count(&t_));
  for (int i = 0; i < n; i += 3) {
    cpi_intern_put(&t_, ids[static_cast<size_t>(i)]);
  }
  for (int i = 0; i < n; i++) {
    if (i % 3 == 0) {
      continue;
    }
    uint32_t id = ids[static_cast<size_t>(i)];
    ASSERT_EQ("name-" + std::to_string(i), Str(id)) << i;
    ASSERT_EQ(id, Add("name-" + std::to_string(i))) << i;
    cpi_intern_put(&t_, id);
  }
  EXPECT_EQ(static_cast<size_t>(n - (n + 2) / 3), cpi_intern_count(&t_));
}

TEST_F(InternTest, ReleaseFreesStringsStillReferenced) {
  Add("left");
  Add("left");
  Add("over");
  cpi_intern_release(&t_);  // leaks would show under valgrind and ASan
  EXPECT_EQ(0u, cpi_intern_count(&t_));
  EXPECT_EQ("again", Str(Add("again")));  // usable after release
}

TEST_F(InternTest, OverlongStringsAreRejected) {
  uint32_t id = 0;
  // The length is checked before the bytes are read.
  EXPECT_EQ(CP_EINVAL, cpi_intern_add(&t_, "x", size_t{UINT32_MAX}, &id));
  EXPECT_EQ(0u, cpi_intern_count(&t_));
}
