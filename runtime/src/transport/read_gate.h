/* The anonymous read gate (internal): admits the request reads of calls
 * without an identity into a bounded number of slots, per server and per
 * peer key, queues the rest in arrival order, and cancels a read that
 * stalls while others wait. See cp_server_limit_anonymous_reads.
 *
 * It knows nothing of gRPC: what it admits is a cp_read_gate_entry that the
 * caller embeds in its call, and it starts and cancels reads through the
 * callbacks it was given. */
#ifndef CPLUGIN_TRANSPORT_READ_GATE_H
#define CPLUGIN_TRANSPORT_READ_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_read_gate cp_read_gate;

typedef struct cp_read_gate_entry cp_read_gate_entry;
struct cp_read_gate_entry {
  const char *peer;         /* set by the caller before enter */
  cp_read_gate_entry *next; /* the gate's: its wait list */
  uint64_t key;             /* the gate's: the peer's key, hashed */
  bool gated;               /* the gate's: holds or waits for a slot */
};

typedef struct cp_read_gate_ops {
  /* Starts the read of an admitted entry; may run on any thread that
   * enters, leaves or opens the gate, with no gate lock held. */
  void (*start)(cp_read_gate_entry *entry);
  /* Asks a stalled read to end; it then completes and leaves as usual.
   * Runs on the gate's reaper thread with the gate locked: it must not
   * call back into the gate. */
  void (*cancel)(cp_read_gate_entry *entry);
} cp_read_gate_ops;

/* `limits` and `ops` are copied. Returns NULL when out of memory, without
 * random bytes for its hash key, or when the reaper thread cannot start. */
cp_read_gate *cpi_read_gate_new(const cp_anonymous_read_limits *limits,
                                const cp_read_gate_ops *ops);

/* Admits `entry` (its read starts now, on this thread) or queues it. */
void cpi_read_gate_enter(cp_read_gate *gate, cp_read_gate_entry *entry);

/* The read of an entry that entered completed: frees its slot and starts
 * the reads of waiting entries that now fit. No-op for entries that never
 * entered or that were started by cpi_read_gate_open. */
void cpi_read_gate_leave(cp_read_gate *gate, cp_read_gate_entry *entry);

/* From now on every entry is started at once; the waiting ones start now.
 * For shutdown, so that no call stays unread. */
void cpi_read_gate_open(cp_read_gate *gate);

/* Stops the reaper and frees the gate. No entry may be waiting. */
void cpi_read_gate_free(cp_read_gate *gate);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TRANSPORT_READ_GATE_H */
