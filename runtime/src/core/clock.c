/* Monotonic time in integer nanoseconds. */
#include "core/clock.h"

#include <time.h>

int64_t cp_clock_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cp_deadline_after_ms(int64_t now_ns, int64_t ms) {
  if (ms <= 0) {
    return INT64_MAX;
  }
  if (ms > (INT64_MAX - now_ns) / 1000000) {
    return INT64_MAX;
  }
  return now_ns + ms * 1000000;
}
