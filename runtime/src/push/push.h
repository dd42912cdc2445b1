/* Latest-wins delivery of state to server streams (internal), shared by the
 * registry's WatchService and the health services' Watch.
 *
 * A watcher wants the *current* state, not every intermediate one. Each
 * cp_push wraps one server stream and holds one pending message: offering a
 * new message replaces the pending one (counted as coalesced), so a slow
 * reader costs one slot, never an unbounded queue, and never silently misses
 * the final state.
 *
 * Memory. A message is encoded once, when its cp_shared_msg is made, and
 * every push sends those same bytes (cpi_stream_send_encoded: no copy per
 * stream). A stream takes a message only when it holds none, so a push
 * holds at most two messages: the one its stream is writing and the latest
 * pending one. The stream's own queue limits (stream_queue_messages/_bytes)
 * never come into play for pushes.
 *
 * Sending. cpi_push_hub_flush() sends pending messages, never blocking. When
 * the stream still holds a message (CP_EAGAIN) the new one stays pending and
 * the push is parked on the hub's stalled list; the next offer retries it at
 * once, and a retry timer on the process's housekeeping thread
 * (core/housekeeper.h), armed by the stall, offers the parked pushes to
 * flush again every `retry_interval_ms` until their streams drain. Nothing
 * runs periodically while no stream is stalled.
 *
 * Ordering. At most one thread sends on a push at a time (a `sending` flag),
 * so messages reach the stream in offer order; a message whose dedupe key
 * equals that of the last message sent is dropped (unchanged state).
 *
 * Lifetime. A push is reference counted. When the last reference goes, the
 * stream is finished with the code given to cpi_push_close (or CANCELLED):
 * the stream is therefore finished exactly once and never while another
 * thread may still send on it. When a send finds the stream closed or
 * failing, the owner's `closed_fn` runs once (outside every lock) so that it
 * can unlink its watcher.
 *
 * Locks. The hub's mutex, each push's mutex and the stream's are leaves:
 * cpi_push_offer and cpi_push_close may be called with the owner's locks held. cpi_push_hub_flush
 * and cpi_push_unref must be called without owner locks (they call into the
 * stream and the owner's closed_fn).
 */
#ifndef CPLUGIN_PUSH_PUSH_H
#define CPLUGIN_PUSH_PUSH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cplugin/server.h"
#include "transport/encoded.h"

/* An immutable message shared by the pushes it was offered to. */
typedef struct cp_shared_msg cp_shared_msg;
struct cp_shared_msg {
  atomic_size_t refs;
  /* Messages with the same non-zero key carry the same state. */
  uint64_t key;
  const ProtobufCMessage *msg;
  cp_encoded *enc;     /* msg's bytes, sent to every push */
  atomic_bool counted; /* first offer seen (cp_push_stats.encoded) */
  /* Frees the message; NULL = free(m) (message in the same block). */
  void (*free_fn)(cp_shared_msg *m);
};

/* Sets one reference and encodes `msg` (which the caller may free once the
 * last reference is gone). Returns 0, or CP_ENOMEM/CP_EINVAL with nothing
 * to undo but the caller's block. */
int cpi_shared_msg_init(cp_shared_msg *m, const ProtobufCMessage *msg,
                        uint64_t key);
void cpi_shared_msg_ref(cp_shared_msg *m);
void cpi_shared_msg_unref(cp_shared_msg *m);

typedef struct cp_push_hub cp_push_hub;
typedef struct cp_push cp_push;

/* Runs once when a send finds the stream closed or failing. */
typedef void (*cp_push_closed_fn)(cp_push *push, cp_stream *stream, void *user);

typedef struct cp_push_stats {
  uint64_t offered;   /* messages offered */
  uint64_t encoded;   /* distinct messages offered, each encoded once */
  uint64_t coalesced; /* pending messages replaced before being sent */
  uint64_t sent;      /* messages the streams accepted */
  uint64_t stalls;    /* sends refused with CP_EAGAIN */
  /* The most event bytes one push held at once (pending + in its stream),
   * as seen after each offer and send: at most two messages. */
  uint64_t max_held_bytes;
} cp_push_stats;

/* Returns 0, CP_EINVAL, CP_ENOMEM, or CP_ESYS (no housekeeping thread). */
int cpi_push_hub_create(cp_push_hub **out, int64_t retry_interval_ms);

/* Stops the retries (waiting for one in progress; none runs after it
 * returns, and none starts again); flushes from the caller still work.
 * Idempotent. Owners call it before tearing down what their closed_fn
 * touches. */
void cpi_push_hub_stop(cp_push_hub *hub);

/* Stops the retries and drops the hub's references. Every push must have
 * been closed by its owner. NULL allowed. */
void cpi_push_hub_destroy(cp_push_hub *hub);

/* Sends what is pending on every push queued by cpi_push_offer. */
void cpi_push_hub_flush(cp_push_hub *hub);

void cpi_push_hub_stats(cp_push_hub *hub, cp_push_stats *out);

/* Wraps `stream`, which the push keeps (cp_stream_keep; so only from the
 * stream's handler), with one reference. Returns NULL when out of memory or
 * the stream cannot be kept (the stream is then still the handler's). */
cp_push *cpi_push_create(cp_push_hub *hub, cp_stream *stream,
                         cp_push_closed_fn closed_fn, void *user);

void cpi_push_ref(cp_push *p);

/* Drops a reference; the last one finishes the stream and frees the push. */
void cpi_push_unref(cp_push *p);

/* Makes `m` the pending message (taking a reference) and queues the push on
 * its hub for the next cpi_push_hub_flush. Ignored once closed. */
void cpi_push_offer(cp_push *p, cp_shared_msg *m);

/* No more sends; the stream will end with `code` and `message` (a string
 * that outlives the push, e.g. a literal) when the last reference goes. The
 * first close wins. */
void cpi_push_close(cp_push *p, cp_status_code code, const char *message);

cp_stream *cpi_push_stream(const cp_push *p);

#endif /* CPLUGIN_PUSH_PUSH_H */
