/* Client internals shared by the transport files (internal). */
#ifndef CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H
#define CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/arena.h"
#include "cplugin/client.h"

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

/* Runs one transport attempt for `inv` (unary or stream start). */
int cp_transport_unary(cp_invocation *inv);
int cp_transport_stream_start(cp_invocation *inv);

/* Converts a CLOCK_MONOTONIC deadline to gRPC's deadline type. */
gpr_timespec cp_grpc_deadline(int64_t deadline_ns);

/* Copies a received status into `st`. */
void cp_status_from_grpc(cp_status *st, grpc_status_code code,
                         grpc_slice details);

#endif /* CPLUGIN_TRANSPORT_CLIENT_INTERNAL_H */
