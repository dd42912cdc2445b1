/* Monotonic condition variables and their deadlines. */
#include "core/monotonic_cond.h"

#include "core/clock.h"

void cpi_cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
}

struct timespec cpi_monotonic_timespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

struct timespec cpi_monotonic_after_ms(int64_t ms) {
  return cpi_monotonic_timespec(
      cpi_time_after_ns(cpi_clock_monotonic_ns(), cpi_ms_to_ns(ms)));
}
