/* Client internals shared by the transport files (internal). */
#ifndef CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H
#define CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/arena.h"
#include "cplugin/client.h"

typedef struct cp_async_call cp_async_call;

typedef struct cp_client_interceptor_entry {
  cp_client_interceptor_fn fn;
  void *user;
} cp_client_interceptor_entry;

struct cp_client {
  grpc_channel *channel;
  cp_client_options opts;
  cp_client_interceptor_entry *interceptors;
  size_t interceptor_count;
  atomic_bool closed;
  atomic_bool used; /* a call was made: the chain is frozen */
  pthread_mutex_t mu;
  cp_client_stream *streams; /* open streams, cancelled on close */
  /* Asynchronous unary calls (client_async.c). The queue and its thread are
   * created by the first call, under mu. Calls in flight are listed (under
   * mu) so that close can cancel them; a call is started under mu after
   * checking `closed`, so once close returned no batch can reach the queue
   * and destroy may shut it down. */
  grpc_completion_queue *async_cq;
  pthread_t async_thread;
  bool async_started;
  cp_async_call *async_calls;
};

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
  /* Results of the latest attempt. */
  ProtobufCMessage *response;
  cp_client_stream *stream;
  cp_arena arena;
};

/* Validates the arguments of a call (`kind` must match the method's), fills
 * `status` when they are bad or the client is closed, and marks the client
 * used (its interceptor chain frozen). Returns 0, CP_EINVAL or CP_ECLOSED. */
int cp_client_check_call_args(cp_client *client, const cp_method_desc *method,
                              const ProtobufCMessage *req, cp_method_kind kind,
                              const cp_call_options *opts, cp_status *status);

/* Prepares an invocation: deadline from opts or the client's default,
 * metadata from opts copied into its arena. Release it with
 * cp_arena_release(&inv->arena) (also after a failure). Returns 0 or the
 * error of cp_invocation_add_metadata. */
int cp_invocation_init(cp_invocation *inv, cp_client *client,
                       const cp_method_desc *method,
                       const ProtobufCMessage *req,
                       const cp_call_options *opts);

/* Cancels the asynchronous calls in flight (client->mu held by the caller,
 * `closed` already set). */
void cp_client_async_cancel_all(cp_client *client);

/* Shuts the asynchronous queue down and joins its thread, which first
 * delivers every pending completion. After cp_client_close. */
void cp_client_async_stop(cp_client *client);

/* Runs one transport attempt for `inv` (unary or stream start). */
int cp_transport_unary(cp_invocation *inv);
int cp_transport_stream_start(cp_invocation *inv);

/* Converts a CLOCK_MONOTONIC deadline to gRPC's deadline type. */
gpr_timespec cp_grpc_deadline(int64_t deadline_ns);

/* Copies a received status into `st`. */
void cp_status_from_grpc(cp_status *st, grpc_status_code code,
                         grpc_slice details);

#endif /* CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H */
