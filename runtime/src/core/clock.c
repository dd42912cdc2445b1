/* Monotonic time in integer nanoseconds. */
#include "core/clock.h"

#include <stdatomic.h>

#include "cplugin/clock.h"

#include <errno.h>
#include <time.h>

int64_t cpi_clock_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cpi_deadline_after_ms(int64_t now_ns, int64_t ms) {
  return ms <= 0 ? INT64_MAX : cpi_time_after_ns(now_ns, cpi_ms_to_ns(ms));
}

static int64_t coarse_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const cp_clock coarse_clock = {coarse_now, NULL};

const cp_clock *cpi_clock_coarse(void) {
  return &coarse_clock;
}

void cpi_sleep_ns(int64_t ns) {
  if (ns <= 0) {
    return;
  }
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int64_t system_now(void *ctx) {
  (void)ctx;
  return cpi_clock_monotonic_ns();
}

static const cp_clock system_clock = {system_now, NULL};

const cp_clock *cp_clock_system(void) {
  return &system_clock;
}

int64_t cp_clock_now_ns(const cp_clock *clock) {
  if (clock == NULL) {
    return cpi_clock_monotonic_ns();
  }
  return clock->now_ns(clock->user);
}

static int64_t manual_now(void *ctx) {
  cp_manual_clock *mc = ctx;
  return __atomic_load_n(&mc->now, __ATOMIC_ACQUIRE);
}

void cp_manual_clock_init(cp_manual_clock *mc, int64_t start_ns) {
  mc->clock.now_ns = manual_now;
  mc->clock.user = mc;
  __atomic_store_n(&mc->now, start_ns, __ATOMIC_RELEASE);
}

static _Atomic(cpi_clock_moved_fn) moved_hook;

void cpi_clock_set_moved_hook(cpi_clock_moved_fn hook) {
  atomic_store(&moved_hook, hook);
}

static void moved(const cp_manual_clock *mc) {
  cpi_clock_moved_fn hook = atomic_load(&moved_hook);
  if (hook != NULL) {
    hook(&mc->clock);
  }
}

void cp_manual_clock_advance(cp_manual_clock *mc, int64_t delta_ns) {
  __atomic_fetch_add(&mc->now, delta_ns, __ATOMIC_ACQ_REL);
  moved(mc);
}

void cp_manual_clock_set(cp_manual_clock *mc, int64_t now_ns) {
  __atomic_store_n(&mc->now, now_ns, __ATOMIC_RELEASE);
  moved(mc);
}
