/* One housekeeping thread per clock for the whole process (internal): a
 * timer heap that runs the periodic and delayed maintenance of every object
 * (token and bucket sweeps, watch retries) instead of a thread each.
 *
 * Sharing. cpi_housekeeper_acquire() returns the process's housekeeper for
 * a clock, started by the first acquire and stopped (joined) by the last
 * release. NULL names the system clock (CLOCK_MONOTONIC), which every
 * object without an injected clock uses, so a host runs one such thread
 * however many stores, limiters and hubs it has.
 *
 * Time. A timer is due on its housekeeper's clock. With a cp_manual_clock
 * the thread runs what is due as soon as the clock is advanced or set (the
 * clock tells it), so tests drive sweeps by moving the clock, not by
 * sleeping; any other injected clock is re-read at least every 100 ms.
 *
 * Callbacks run on the housekeeping thread, one at a time, without any of
 * its locks held. They must not block for long (the other timers wait) and
 * may re-arm or cancel their own timer.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef CPLUGIN_CORE_HOUSEKEEPER_H
#define CPLUGIN_CORE_HOUSEKEEPER_H

#include <stddef.h>
#include <stdint.h>

#include "cplugin/clock.h"

typedef struct cpi_housekeeper cpi_housekeeper;

typedef void (*cpi_timer_fn)(void *user);

/* A timer, embedded in its owner; fields are the housekeeper's. */
typedef struct cpi_timer {
  cpi_housekeeper *hk;
  cpi_timer_fn fn;
  void *user;
  int64_t due_ns;
  size_t slot; /* index in the heap; CPI_TIMER_IDLE when not armed */
} cpi_timer;

#define CPI_TIMER_IDLE ((size_t)-1)

/* The housekeeper of `clock` (NULL: the system clock), with a reference.
 * Returns 0, CP_ENOMEM, or CP_ESYS when its thread cannot start. */
int cpi_housekeeper_acquire(const cp_clock *clock, cpi_housekeeper **out);

/* Drops a reference; the last one joins the thread. Every timer of the
 * caller must be cancelled first. NULL allowed. */
void cpi_housekeeper_release(cpi_housekeeper *hk);

/* Readies `timer` (not armed) to call fn(user) on `hk`'s thread. */
void cpi_timer_init(cpi_timer *timer, cpi_housekeeper *hk, cpi_timer_fn fn,
                    void *user);

/* Arms the timer to run `delay_ns` (>= 0) from now on the housekeeper's
 * clock; an armed timer keeps the earlier of its two due times. Returns 0
 * or CP_ENOMEM (not armed). */
int cpi_timer_arm(cpi_timer *timer, int64_t delay_ns);

/* Disarms the timer. When it returns, the callback is not running and will
 * not run until armed again, except when called from the callback itself,
 * which then simply finishes. */
void cpi_timer_cancel(cpi_timer *timer);

/* How many housekeeping threads run in the process (for tests). */
size_t cpi_housekeeper_threads(void);

#endif /* CPLUGIN_CORE_HOUSEKEEPER_H */
