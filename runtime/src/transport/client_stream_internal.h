/* Client stream internals (internal). The files form layers, each calling
 * only those below it:
 *   client_stream_finish.c    the one-call finish of a client stream
 *   client_duplex.c           sending (client-streaming, bidirectional)
 *   client_stream.c           reading, cancel and destroy of any stream
 *   client_stream_async.c     streams whose start runs asynchronously
 *   client_stream_lifetime.c  allocation and the client's list of streams */
#ifndef CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H
#define CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cplugin/client.h"
#include "transport/client_internal.h"

/* One stream: a private completion queue, plucked per tag. A duplex stream
 * may have a reader (recv/status tags, under recv_mu) and a sender
 * (send/close tags, under send_mu) plucking at once; gRPC allows up to
 * GRPC_MAX_COMPLETION_QUEUE_PLUCKERS concurrent pluckers of distinct tags. */
struct cp_client_stream {
  cp_client *client;
  cp_client_stream *next_open; /* client->streams, under client->mu */
  cp_client_stream *prev_open;
  const cp_method_desc *method;
  grpc_completion_queue *cq;
  grpc_call *gcall;
  cp_trailers *out_trailers; /* the caller's, filled at the end */

  /* Reading side, under recv_mu. */
  pthread_mutex_t recv_mu;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code code;
  grpc_slice details;
  bool initial_md_requested;
  /* The first message, received early by cpi_client_stream_await_first and
   * handed out by the first cp_client_stream_next. */
  ProtobufCMessage *first;
  int end_rc;
  cp_status final;
  /* Set (after end_rc and final) once the status arrived; the sender reads
   * it without recv_mu to refuse sends on an ended call. */
  atomic_bool ended;

  /* Sending side (duplex streams only), under send_mu. */
  pthread_mutex_t send_mu;
  bool send_pending;         /* a SEND_MESSAGE batch awaits its completion */
  grpc_byte_buffer *send_bb; /* its message, kept until it completed */
  bool send_failed;          /* a send batch failed: the call is over */
  bool half_closed;          /* cp_client_stream_close_send succeeded */

  /* The blocking stream's tags, and what their waits sleep on when the
   * client does not poll (client_wait.c). */
  cpi_wait_tag start_tag;
  cpi_wait_tag recv_tag;
  cpi_wait_tag status_tag;
  cpi_wait_tag send_tag;
  cpi_wait_tag close_tag;
  pthread_mutex_t wait_mu;
  pthread_cond_t wait_cv;

  /* Set for a stream started asynchronously (client_stream_async.c): its
   * call completes on the client's queue instead of `cq` (NULL). */
  struct cp_astream *async;
};

/* --- lifetime (client_stream_lifetime.c) --- */

/* A new stream of `method` without queue or call (an asynchronous stream's
 * are made per attempt). NULL when out of memory. */
cp_client_stream *cpi_client_stream_new(cp_client *client,
                                        const cp_method_desc *method,
                                        cp_trailers *out_trailers);

/* A new stream of `method` with its queue and call (deadline `deadline_ns`,
 * CLOCK_MONOTONIC), nothing started yet. NULL when out of memory. */
cp_client_stream *cpi_client_stream_alloc(cp_client *client,
                                          const cp_method_desc *method,
                                          cp_trailers *out_trailers,
                                          int64_t deadline_ns);

/* Starts the RECV_STATUS_ON_CLIENT batch that every stream keeps pending,
 * completing with `tag` (a blocking stream's &s->status_tag, or an
 * asynchronous stream's own). */
grpc_call_error cpi_client_stream_start_status(cp_client_stream *s, void *tag);

/* Lists the stream among the client's open streams so cp_client_close
 * cancels it. Returns true when the client closed meanwhile: the caller
 * cancels the stream itself. */
bool cpi_client_stream_link(cp_client_stream *s);

/* Removes the stream from the client's list of open streams. */
void cpi_client_stream_unlink(cp_client_stream *s);

/* The next stream in the client's list of open streams (client->mu held). */
cp_client_stream *cpi_client_stream_next_open(cp_client_stream *stream);

/* Frees a stream whose batches all completed (never linked, or unlinked). */
void cpi_client_stream_free(cp_client_stream *s);

/* --- asynchronous streams (client_stream_async.c) --- */

/* The completion of a batch started with cp_client_stream_batch_tag on an
 * asynchronous stream, waited for by a sender. */
bool cpi_astream_wait_tag(cp_client_stream *s, void *tag);
grpc_call_error cpi_astream_start_batch(cp_client_stream *s, const grpc_op *ops,
                                        size_t n, void *tag);

/* Before a send or half-close: waits until the stream's start went through
 * its interceptors. 0 when it did; CP_ECLOSED when the stream ended first;
 * CP_ESTATE on the client's callback thread before the start (waiting there
 * would deadlock). */
int cpi_astream_wait_open(cp_client_stream *s);

/* cp_client_stream_cancel and cp_client_stream_destroy of an asynchronous
 * stream. */
void cpi_astream_cancel(cp_client_stream *s);
void cpi_astream_destroy(cp_client_stream *s);

/* --- any stream (client_stream.c) --- */

/* Waits for the completion of `tag` (one of the stream's *_tag fields) on
 * the stream's queue, or, for an asynchronous stream, for the callback
 * thread to report it; its success. */
bool cpi_client_stream_pluck(cp_client_stream *s, cpi_wait_tag *tag);

/* Starts a sender's batch whose tag field is `tag` (send_tag, close_tag),
 * for the blocking queue or, on an asynchronous stream, counted among its
 * pending batches. */
grpc_call_error cpi_client_stream_start_batch(cp_client_stream *s,
                                              const grpc_op *ops, size_t n,
                                              void *tag);

/* Waits for the final status and records the end (recv_mu held or the
 * stream otherwise exclusive). Returns 0 or CP_ERPC. */
int cpi_client_stream_await_status(cp_client_stream *s);

/* A start whose batches were not all accepted (`start`, `status`: what
 * starting them returned): cancels the call, drains the accepted ones and
 * frees the stream. */
void cpi_client_stream_abandon(cp_client_stream *s, grpc_call_error start,
                               grpc_call_error status);

/* Waits for a pending send (send_mu held or the stream exclusive). Returns
 * false when the stream's sending failed: the call is over. */
bool cpi_client_stream_settle_send(cp_client_stream *s);

#endif /* CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H */
