/* Sweep marks; see sweep_mark.h. */
#include "core/sweep_mark.h"

#include <time.h>

int64_t cpi_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cpi_sweep_mark_init(cpi_sweep_mark *m) {
  atomic_init(&m->unix_ms, cpi_unix_ms());
  atomic_init(&m->sweeps, 0);
}

void cpi_sweep_mark_done(cpi_sweep_mark *m) {
  atomic_store_explicit(&m->unix_ms, cpi_unix_ms(), memory_order_relaxed);
  atomic_fetch_add_explicit(&m->sweeps, 1, memory_order_relaxed);
}

int64_t cpi_sweep_mark_unix_ms(const cpi_sweep_mark *m) {
  return atomic_load_explicit(&m->unix_ms, memory_order_relaxed);
}

uint64_t cpi_sweep_mark_count(const cpi_sweep_mark *m) {
  return atomic_load_explicit(&m->sweeps, memory_order_relaxed);
}
