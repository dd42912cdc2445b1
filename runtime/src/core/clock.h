/* Monotonic time in integer nanoseconds (internal). */
#ifndef CPLUGIN_CORE_CLOCK_H
#define CPLUGIN_CORE_CLOCK_H

#include <stdint.h>

#include "cplugin/clock.h"

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t cpi_clock_monotonic_ns(void);

/* now + ms, saturating at INT64_MAX; ms <= 0 gives INT64_MAX ("no deadline").
 */
int64_t cpi_deadline_after_ms(int64_t now_ns, int64_t ms);

/* ms in nanoseconds, saturating at INT64_MAX; ms <= 0 gives 0. For
 * durations that may come from a peer (a token lifetime), where the plain
 * product could overflow. */
static inline int64_t cpi_ms_to_ns(int64_t ms) {
  if (ms <= 0) {
    return 0;
  }
  return ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000;
}

/* The instant `ns` after `now_ns` (ns < 0 counts as 0), saturating at
 * INT64_MAX: the one way the library computes a due time. Inline: the rate
 * limiter's refill arithmetic runs it on every check. */
static inline int64_t cpi_time_after_ns(int64_t now_ns, int64_t ns) {
  if (ns <= 0) {
    return now_ns;
  }
  return ns > INT64_MAX - now_ns ? INT64_MAX : now_ns + ns;
}

/* CLOCK_MONOTONIC_COARSE as a cp_clock: the same epoch as
 * cpi_clock_monotonic_ns, a few milliseconds behind at most, and a fraction
 * of its cost; for checks on hot paths that need no more than millisecond
 * precision (token expiry, bucket refill). Static; any thread. */
const cp_clock *cpi_clock_coarse(void);

/* Called with a cp_manual_clock's clock after each advance or set, so that
 * what waits on that clock (core/housekeeper.c) looks again. One hook per
 * process; setting the same one again is harmless. */
typedef void (*cpi_clock_moved_fn)(const cp_clock *clock);
void cpi_clock_set_moved_hook(cpi_clock_moved_fn hook);

/* Sleeps `ns` nanoseconds (<= 0 returns at once), resuming after signals. */
void cpi_sleep_ns(int64_t ns);

#endif /* CPLUGIN_CORE_CLOCK_H */
