/* Condition variables whose timed waits run on CLOCK_MONOTONIC (internal),
 * so that a step of the wall clock neither cuts a wait short nor stretches
 * it. Every timed wait in the library goes through these. */
#ifndef CPLUGIN_CORE_MONOTONIC_COND_H
#define CPLUGIN_CORE_MONOTONIC_COND_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* pthread_cond_init with CLOCK_MONOTONIC as the clock of timed waits. */
void cpi_cond_init_monotonic(pthread_cond_t *cv);

/* The instant `ns` (cpi_clock_monotonic_ns's scale, >= 0) as a deadline for
 * pthread_cond_timedwait on such a condition variable. */
struct timespec cpi_monotonic_timespec(int64_t ns);

/* The deadline `ms` (>= 0) from now; saturates far in the future. */
struct timespec cpi_monotonic_after_ms(int64_t ms);

#endif /* CPLUGIN_CORE_MONOTONIC_COND_H */
