/* Monotonic time in integer nanoseconds (internal). */
#ifndef CPLUGIN_CORE_CLOCK_H
#define CPLUGIN_CORE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t cpi_clock_monotonic_ns(void);

/* now + ms, saturating at INT64_MAX; ms <= 0 gives INT64_MAX ("no deadline").
 */
int64_t cpi_deadline_after_ms(int64_t now_ns, int64_t ms);

#endif /* CPLUGIN_CORE_CLOCK_H */
