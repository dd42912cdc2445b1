// Internal core helpers: per-call arena, monotonic clock, service lookup.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

extern "C" {
#include "core/arena.h"
#include "core/clock.h"
#include "cplugin/service.h"
}

TEST(Arena, AllocationsAreZeroedAlignedAndDistinct) {
  cp_arena a;
  cp_arena_init(&a);
  char *prev = nullptr;
  for (int i = 0; i < 1000; i++) {
    size_t size = static_cast<size_t>(i % 97) + 1;
    auto *p = static_cast<unsigned char *>(cp_arena_alloc(&a, size));
    ASSERT_NE(nullptr, p);
    EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(p) % 16);
    for (size_t j = 0; j < size; j++) {
      ASSERT_EQ(0, p[j]);
    }
    memset(p, 0xab, size);
    EXPECT_NE(prev, reinterpret_cast<char *>(p));
    prev = reinterpret_cast<char *>(p);
  }
  void *big = cp_arena_alloc(&a, 1 << 20);
  ASSERT_NE(nullptr, big);
  cp_arena_release(&a);
}

TEST(Arena, StrndupCopiesAndTerminates) {
  cp_arena a;
  cp_arena_init(&a);
  char *s = cp_arena_strndup(&a, "hello world", 5);
  ASSERT_NE(nullptr, s);
  EXPECT_STREQ("hello", s);
  EXPECT_EQ(nullptr, cp_arena_alloc(&a, SIZE_MAX));
  cp_arena_release(&a);
}

TEST(Clock, MonotonicAndDeadlines) {
  int64_t a = cp_clock_monotonic_ns();
  int64_t b = cp_clock_monotonic_ns();
  EXPECT_LE(a, b);
  EXPECT_EQ(INT64_MAX, cp_deadline_after_ms(a, 0));
  EXPECT_EQ(INT64_MAX, cp_deadline_after_ms(a, -5));
  EXPECT_EQ(a + 250000000, cp_deadline_after_ms(a, 250));
  EXPECT_EQ(INT64_MAX, cp_deadline_after_ms(a, INT64_MAX / 2));
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
