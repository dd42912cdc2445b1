/* Thread slots: each thread that updates a metric owns one small integer, so
 * that striped metric cells have a single writer per stripe (internal).
 *
 * Slots are process-wide (0 .. CP_METRIC_MAX_SLOTS-1) and handed out on a
 * thread's first update; a slot returns to the pool when its thread exits.
 * A thread that finds every slot taken, or that updates metrics after its
 * slot was released at exit, gets CP_METRIC_SHARED_SLOT and must use atomic
 * read-modify-write on the shared stripe instead. */
#ifndef CPLUGIN_METRICS_SLOTS_H
#define CPLUGIN_METRICS_SLOTS_H

#include <limits.h>

#define CP_METRIC_MAX_SLOTS 256u
#define CP_METRIC_SHARED_SLOT UINT_MAX

/* Acquires a slot for the calling thread on its first call (or returns the
 * shared one); later calls return the same slot. */
unsigned cpi_metric_slot_acquire(void);

/* Slots currently held by live threads (for tests). */
unsigned cpi_metric_slots_in_use(void);

#ifndef __cplusplus /* C11 thread-locals; tests in C++ use the functions */
/* 0 = no slot yet; k + 1 = slot k; CP_METRIC_SHARED_SLOT = use the shared
 * stripe. initial-exec keeps the read a single %fs-relative load: the default
 * model for -fPIC code calls __tls_get_addr, which would cost more than the
 * increment itself. */
extern _Thread_local unsigned cpi_metric_tls_slot
    __attribute__((tls_model("initial-exec")));

/* The calling thread's slot, or CP_METRIC_SHARED_SLOT. Never blocks; the
 * first call on a thread takes the slow path once. */
static inline unsigned cp_metric_slot(void) {
  unsigned v = cpi_metric_tls_slot;
  if (v - 1u < CP_METRIC_MAX_SLOTS) {
    return v - 1u;
  }
  return cpi_metric_slot_acquire();
}

#endif /* __cplusplus */

#endif /* CPLUGIN_METRICS_SLOTS_H */
