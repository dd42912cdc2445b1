/* Client internals shared by the transport files (internal). */
#ifndef CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H
#define CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/arena.h"
#include "cplugin/client.h"
#include "transport/client_exec.h"

typedef struct cp_async_call cp_async_call;
typedef struct cp_async_chain cp_async_chain;
typedef struct cp_client_dialer cp_client_dialer;

typedef struct cp_client_interceptor_entry {
  cp_client_interceptor_fn fn;
  cp_client_async_interceptor_fn async_fn; /* NULL: blocking calls only */
  void *user;
} cp_client_interceptor_entry;

struct cp_client {
  /* Replaced only for a dialing client, under its dialer's lock. */
  grpc_channel *channel;
  cp_client_dialer *dialer; /* NULL unless cp_client_create_dialing */
  cp_client_options opts;
  cp_client_interceptor_entry *interceptors;
  size_t interceptor_count;
  atomic_bool closed;
  atomic_bool used;
  /* cp_client_destroy drops the owner's reference; forwards in flight hold
   * their own (client_ref.h), so the channel outlives them. */
  atomic_int refs; /* a call was made: the chain is frozen */
  pthread_mutex_t mu;
  cp_client_stream *streams; /* open streams, cancelled on close */
  /* Asynchronous unary calls (client_async.c). The queue and its thread are
   * created by the first call, under mu. Calls in flight are listed (under
   * mu) so that close can cancel them; a call is started under mu after
   * checking `closed`, so once close returned no batch can reach the queue
   * and destroy may shut it down. */
  grpc_completion_queue *async_cq;
  pthread_t async_thread; /* none with opts.loop: the loop's queue */
  bool async_started;
  cp_async_call *async_calls;
  /* Unary calls started and whose completion has not finished running
   * (under mu; chains_cv signals the last): on a shared loop, destroy
   * waits for them instead of draining a queue of its own. */
  size_t async_unary_live;
  /* Asynchronous calls through interceptors (client_async_chain.c): their
   * continuations run on `exec`, started with the first such call. Live
   * chains are counted under mu; destroy waits for the count to reach 0
   * (chains_cv) before stopping the threads. */
  cp_exec exec;
  size_t chains_live;
  pthread_cond_t chains_cv;
};

/* --- blocking waits (client_wait.c) --- */

/* A completion a blocking call or stream waits for. On a pluck queue its
 * address is the tag; on a callback queue (a client of opts.non_polling)
 * gRPC runs `functor` on another thread, which marks it done under `mu`
 * and signals `cv` (the waiter's). */
typedef struct cpi_wait_tag {
  grpc_completion_queue_functor functor; /* first: what gRPC is given */
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  bool done;
  bool ok;
} cpi_wait_tag;

/* Whether the client's blocking calls wait without taking turns at the
 * network wait (opts.non_polling, where gRPC allows it). */
bool cpi_client_non_polling(const cp_client *c);

/* The queue for one blocking call or stream of this client: a pluck
 * queue, or a callback queue when non-polling. Shut down and destroyed by
 * the call's owner once every batch completed. */
grpc_completion_queue *cpi_client_cq_create(const cp_client *c);

/* mu and cv: the waiter's (NULL for a client that polls). */
void cpi_wait_tag_init(cpi_wait_tag *t, pthread_mutex_t *mu,
                       pthread_cond_t *cv);

/* Waits for the batch started with `tag` on `cq`; its success. */
bool cpi_client_wait(const cp_client *c, grpc_completion_queue *cq,
                     cpi_wait_tag *tag);

struct cp_invocation {
  cp_client *client;
  const cp_method_desc *method;
  const ProtobufCMessage *request;
  int64_t deadline_ns;
  size_t depth;

  grpc_metadata *metadata;
  size_t metadata_count;
  size_t metadata_cap;

  cp_status status;
  /* Results of the latest attempt. Trailers live in the arena (one copy per
   * attempt; attempts are few) and are forgotten by the next proceed. */
  cp_metadata *trailers;
  size_t trailer_count;
  cp_trailers *out_trailers; /* the caller's (cp_call_options.trailers) */
  ProtobufCMessage *response;
  cp_client_stream *stream;
  cp_arena arena;
  /* Set for an asynchronous invocation (client_async_chain.c); `depth` is
   * then the layer that owns it: interceptor i, or the transport at
   * interceptor_count. */
  cp_async_chain *chain;
};

/* Validates the arguments of a call (`kind` must match the method's; `req`
 * is NULL for client-streaming and bidirectional kinds), fills
 * `status` when they are bad or the client is closed, and marks the client
 * used (its interceptor chain frozen). Returns 0, CP_EINVAL or CP_ECLOSED. */
int cpi_client_check_call_args(cp_client *client, const cp_method_desc *method,
                               const ProtobufCMessage *req, cp_method_kind kind,
                               const cp_call_options *opts, cp_status *status);

/* Prepares an invocation: deadline from opts or the client's default,
 * metadata from opts copied into its arena. Release it with
 * cpi_arena_release(&inv->arena) (also after a failure). Returns 0 or the
 * error of cp_invocation_add_metadata. */
int cpi_invocation_init(cp_invocation *inv, cp_client *client,
                        const cp_method_desc *method,
                        const ProtobufCMessage *req,
                        const cp_call_options *opts);

/* Drops the latest attempt's response and trailers (client_invocation.c). */
void cpi_invocation_discard_response(cp_invocation *inv);

/* The same, and the stream a blocking stream start left (client.c). */
void cpi_invocation_discard_attempt(cp_invocation *inv);

/* An asynchronous chain or stream starts (0, or CP_ECLOSED when the client
 * closed) and ends: cp_client_destroy waits until every one that started
 * has ended (client->chains_live). */
int cpi_client_live_enter(cp_client *client);
void cpi_client_live_leave(cp_client *client);

/* Whether every interceptor of the client has an asynchronous form. */
bool cpi_client_chain_is_async(const cp_client *client);

/* One transport attempt of an asynchronous chain: sends a copy of
 * `request` (NULL for client-streaming and bidirectional methods) with the
 * invocation's metadata and deadline. When the attempt is decided, the
 * invocation holds its status (and response, trailers) and
 * cpi_async_chain_attempt_done runs. Returns 0, or a negative code with the
 * status set when nothing was started. */
typedef int (*cpi_chain_attempt_fn)(cp_invocation *inv,
                                    grpc_byte_buffer *request, void *arg);

/* How a chain ends (on the callback thread), for a stream start. */
typedef void (*cpi_chain_end_fn)(int rc, const cp_status *status, void *user);

/* The two ends of an asynchronous chain: its innermost layer, and where its
 * outcome goes past the outermost one: `done` for a unary call, or `end`
 * (exactly one of them set). */
typedef struct cpi_chain_ends {
  cpi_chain_attempt_fn attempt;
  void *attempt_arg;
  cp_unary_done_fn done;
  cpi_chain_end_fn end;
  void *user;
} cpi_chain_ends;

/* Starts an asynchronous call through the client's interceptors, after the
 * caller checked its arguments and started the client's threads
 * (cpi_async_start_threads). `req` is NULL for client-streaming and
 * bidirectional methods. Returns 0, CP_ENOMEM, CP_ETOOBIG, CP_EINVAL or
 * CP_ECLOSED. */
int cpi_async_chain_start(cp_client *client, const cp_method_desc *method,
                          const ProtobufCMessage *req,
                          const cp_call_options *opts,
                          const cpi_chain_ends *ends);

/* A transport attempt of `chain` was decided with `rc` (any thread). */
void cpi_async_chain_attempt_done(cp_async_chain *chain, int rc);

/* Starts the completion-queue and callback threads unless running. Returns
 * 0, CP_ECLOSED or CP_ESYS. */
int cpi_async_start_threads(cp_client *client);

/* Cancels the asynchronous calls in flight (client->mu held by the caller,
 * `closed` already set). */
void cpi_client_async_cancel_all(cp_client *client);

/* Shuts the asynchronous queue down and joins its thread, which first
 * delivers every pending completion. After cp_client_close. */
void cpi_client_async_stop(cp_client *client);

/* One unary call's single batch: the request sent and what gRPC fills in as
 * the call ends. The blocking path keeps it on its stack, the asynchronous
 * one inside its call. */
typedef struct cp_unary_batch {
  grpc_byte_buffer *request; /* set by the caller (cpi_codec_encode) */
  grpc_byte_buffer *response;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code code;
  grpc_slice details;
} cp_unary_batch;

void cpi_unary_batch_init(cp_unary_batch *b);

/* Starts the batch (send metadata, message and close; receive metadata,
 * message and status) on `call`, completing with `tag`. */
grpc_call_error cpi_unary_batch_start(cp_unary_batch *b, grpc_call *call,
                                      const cp_invocation *inv, void *tag);

/* The outcome of a completed batch: *st from the received status (INTERNAL
 * when the batch failed), and on OK the response decoded as the method's
 * type into *resp (INTERNAL when it does not decode; *resp stays NULL).
 * Returns 0 when OK, else CP_ERPC. */
int cpi_unary_batch_outcome(const cp_unary_batch *b,
                            const cp_method_desc *method, bool ok,
                            cp_status *st, ProtobufCMessage **resp);

/* Frees what the batch holds. */
void cpi_unary_batch_release(cp_unary_batch *b);

/* Runs one transport attempt for `inv` (unary or stream start). */
int cpi_transport_unary(cp_invocation *inv);
int cpi_transport_stream_start(cp_invocation *inv);
/* Client-streaming and bidirectional: sends the metadata only. */
int cpi_transport_duplex_open(cp_invocation *inv);

/* Copies the text entries of `md` (the latest attempt's trailing metadata)
 * into the invocation, for cp_invocation_trailer. Binary ("-bin") entries
 * are skipped. Out of memory keeps what fitted. */
void cpi_invocation_keep_trailers(cp_invocation *inv,
                                  const grpc_metadata_array *md);

/* The stream's trailing metadata (after it ended) and the wait for its first
 * message (client_stream.c). */
const grpc_metadata_array *cpi_client_stream_trailers(
    const cp_client_stream *stream);
int cpi_client_stream_await_first(cp_client_stream *stream, cp_status *status);

/* client_options.c, shared by every way of creating a client: copies
 * `opts` (NULL: the defaults) into *out and checks it (0 or CP_EINVAL); writes the message
 * size channel arguments into `args` (room for 2) and returns how many;
 * wraps `channel` (made after a grpc_init) in a new client. The latter owns
 * the channel and that grpc_init in every case: on CP_ENOMEM it destroys the
 * channel and calls grpc_shutdown. */
int cpi_client_check_options(const cp_client_options *opts,
                             cp_client_options *out);
size_t cpi_client_message_args(const cp_client_options *o, grpc_arg *args);
int cpi_client_from_channel(cp_client **out, const cp_client_options *o,
                            grpc_channel *channel);

/* client_connection.c: a channel over the connected, prepared socket `fd`
 * (cpi_connection_fd_prepare), owning it in every case; NULL when out of
 * memory. Needs a grpc_init. */
grpc_channel *cpi_channel_over_connection(int fd, const cp_client_options *o);

/* Opens a call on the client's channel (every call of a client goes through
 * here). A dialing client (client_dialing.c) first replaces a connection
 * the server has closed with a new one. NULL when out of memory. */
grpc_call *cpi_client_open_call(cp_client *c, grpc_call *parent,
                                grpc_completion_queue *cq, grpc_slice path,
                                gpr_timespec deadline);

/* Frees a dialing client's dialer (its connection's channel is the
 * client's, destroyed by the caller). NULL allowed. */
void cpi_client_dialer_free(cp_client_dialer *d);

/* Converts a CLOCK_MONOTONIC deadline to gRPC's deadline type. */
gpr_timespec cpi_grpc_deadline(int64_t deadline_ns);

/* Copies a received status into `st`. */
void cpi_status_from_grpc(cp_status *st, grpc_status_code code,
                          grpc_slice details);

#endif /* CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H */
