/* cplugin — an injectable clock.
 *
 * Everything that expires or refills (tokens, rate-limit buckets, grants)
 * reads time through a cp_clock, so tests can move time by hand instead of
 * sleeping. Times are integer nanoseconds on a monotonic scale.
 *
 * Thread safety: now_ns may be called from many threads at once; a clock
 * used by a running object must stay valid and callable until that object is
 * destroyed.
 */
#ifndef CPLUGIN_CLOCK_H
#define CPLUGIN_CLOCK_H

#include <stdint.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a clock: nanoseconds on a monotonic time line. */
typedef int64_t (*cp_clock_now_fn)(void *user);

typedef struct cp_clock {
  cp_clock_now_fn now_ns;
  void *user;
} cp_clock;

/* The process's CLOCK_MONOTONIC clock (the default everywhere). */
CP_API const cp_clock *cp_clock_system(void);

/* Reads `clock`, or the system clock when `clock` is NULL. */
CP_API int64_t cp_clock_now_ns(const cp_clock *clock);

/* A manual clock for tests: starts at `start_ns` and moves only when told.
 * Reads and advances are atomic. */
typedef struct cp_manual_clock {
  cp_clock clock; /* pass &mc.clock where a cp_clock is expected */
  int64_t now;    /* accessed atomically */
} cp_manual_clock;

CP_API void cp_manual_clock_init(cp_manual_clock *mc, int64_t start_ns);
CP_API void cp_manual_clock_advance(cp_manual_clock *mc, int64_t delta_ns);
CP_API void cp_manual_clock_set(cp_manual_clock *mc, int64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_CLOCK_H */
