/* When a periodic sweep last finished (internal): the wall-clock time an
 * operator's "sweeper stalled" alert compares with now
 * (cplugin_sweep_last_success_timestamp_seconds).
 *
 * A mark starts at its owner's creation, so a sweeper that never ran looks
 * as old as its owner, not as old as the epoch.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef CPLUGIN_CORE_SWEEP_MARK_H
#define CPLUGIN_CORE_SWEEP_MARK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct cpi_sweep_mark {
  _Atomic int64_t unix_ms; /* last finished sweep, or creation */
  atomic_uint_fast64_t sweeps;
} cpi_sweep_mark;

/* Wall-clock milliseconds since the Unix epoch. */
int64_t cpi_unix_ms(void);

/* Stamps `m` with now and no sweeps. */
void cpi_sweep_mark_init(cpi_sweep_mark *m);

/* A sweep finished now. */
void cpi_sweep_mark_done(cpi_sweep_mark *m);

int64_t cpi_sweep_mark_unix_ms(const cpi_sweep_mark *m);
uint64_t cpi_sweep_mark_count(const cpi_sweep_mark *m);

#endif /* CPLUGIN_CORE_SWEEP_MARK_H */
