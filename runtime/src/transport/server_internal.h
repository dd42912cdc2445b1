/* Server internals shared by the transport files (internal). */
#ifndef CPLUGIN_TRANSPORT_SERVER_INTERNAL_H
#define CPLUGIN_TRANSPORT_SERVER_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "cplugin/server.h"
#include "transport/decode_budget.h"
#include "transport/read_gate.h"
#include "transport/tag.h"

typedef struct cp_server_cq cp_server_cq;
typedef struct cp_registered_method cp_registered_method;

struct cp_registered_method {
  const cp_method_desc *desc;
  cp_generic_fn handler;
  void *user;
  void *grpc_handle;        /* from grpc_server_register_method */
  size_t max_request_bytes; /* cp_server_limit_requests, else the server's */
  struct cp_blocking_pool *pool; /* cp_server_run_blocking, else NULL */
};

struct cp_server_cq {
  cp_server *server;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool thread_started;
  /* Request slots lost per method ([method_count]: unregistered), requested
   * again after the queue's next event (server_requests.c). */
  atomic_uint *lost;
  atomic_uint lost_total;
};

typedef struct cp_interceptor_entry {
  cp_server_interceptor_fn fn;
  void *user;
  cp_intercept_phase phase;
} cp_interceptor_entry;

typedef struct cp_post_hook_entry {
  cp_server_post_hook_fn fn;
  void *user;
} cp_post_hook_entry;

enum cp_server_state {
  CP_SERVER_CREATED,
  CP_SERVER_RUNNING,
  CP_SERVER_STOPPING,
  CP_SERVER_STOPPED
};

struct cp_server {
  cp_server_options opts;
  grpc_server *grpc;
  size_t listener_count;                   /* gRPC's and unix_listeners */
  struct cp_unix_listener *unix_listeners; /* plaintext Unix sockets */
  bool launched;      /* a listener took CPLUGIN_LISTEN: announce at start */
  bool launch_served; /* Model A services registered (once per server) */

  cp_registered_method *methods;
  size_t method_count;
  size_t method_cap;

  cp_interceptor_entry *interceptors;
  size_t interceptor_count;
  size_t interceptor_cap;
  cp_post_hook_entry *post_hooks;
  size_t post_hook_count;
  size_t post_hook_cap;

  cp_server_cq *cqs;
  size_t cq_count;
  bool non_polling; /* its queues never wait on the network */

  cp_server_fallback_fn fallback;
  void *fallback_user;

  cp_anonymous_read_limits anonymous_reads; /* total 0: not limited */
  struct cp_read_gate *read_gate;           /* from start, if limited */

  pthread_mutex_t mu;
  pthread_cond_t cv;
  enum cp_server_state state;
  bool grpc_shutdown_done; /* the shutdown tag fired */
  atomic_bool accepting;   /* from start until shutdown: slots are refilled */
  atomic_bool lost_slot_warned;
  /* Forced shutdown began: every call reads as cancelled. */
  atomic_bool cancelling;
  /* Bytes queued on all its streams, not yet handed to gRPC
   * (cp_server_queued_bytes). */
  atomic_size_t queued_bytes;
  struct cp_blocking_pool *pools; /* cp_server_run_blocking calls */
  cp_tag shutdown_tag;

  /* Connections handed over with cp_server_add_connection, to name their
   * calls' peer (server_connection.c). conn_mu is taken after mu, never
   * before it. */
  pthread_mutex_t conn_mu;
  struct cp_server_conn *conns;
  size_t conn_count;
  size_t conn_cap;
  atomic_bool has_conns;
};

/* A received call. Requested calls are allocated before they arrive so that
 * gRPC can fill them in. */
struct cp_call {
  cp_tag tag; /* request completion, then the reply batch */
  cp_server *server;
  cp_server_cq *cq;
  cp_registered_method *rm; /* NULL for an unregistered method */
  grpc_call *gcall;
  gpr_timespec grpc_deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details; /* unregistered methods only */

  const char *path;
  const char *peer;
  int64_t deadline_ns;
  int64_t start_ns;
  atomic_bool cancelled;
  int close_cancelled; /* filled by RECV_CLOSE_ON_SERVER */

  cp_status status;
  grpc_metadata *trailers;
  size_t trailer_count;
  size_t trailer_cap;

  const char *identity;
  const char *identity_provider;
  const char *claim_keys[CP_CALL_MAX_CLAIMS];
  const char *claim_values[CP_CALL_MAX_CLAIMS];
  size_t claim_count;

  ProtobufCMessage *request; /* decoded; freed when the handler returns */
  cp_decode_budget decode;
  cp_stream *stream;          /* server-streaming and deferred calls */
  struct cp_forward *forward; /* calls forwarded by a fallback */
  bool in_fallback;           /* cp_call_forward is allowed */
  bool in_handler;            /* a unary handler runs: it may defer */
  cp_read_gate_entry gate;    /* anonymous calls: in the read gate */
  bool detached; /* no socket (detached_call.c): owns its metadata slices */
  cp_arena arena;
};

/* stream.c: true for a status code that can go on the wire (0..16). */
bool cpi_status_is_wire(cp_status_code code);

/* call.c */
cp_call *cpi_call_new(cp_server *server, cp_server_cq *cq,
                      cp_registered_method *rm);
void cpi_call_free(cp_call *call);
/* Fills path, peer, deadline and start time once the call has arrived. */
int cpi_call_prepare(cp_call *call);
/* Runs the interceptor chain; returns OK or the rejecting code. */
cp_status_code cpi_call_run_interceptors(cp_call *call);
void cpi_call_run_post_hooks(cp_call *call, cp_status_code code);
/* The code to report for a call whose final batch completed. */
cp_status_code cpi_call_final_code(const cp_call *call, cp_status_code sent,
                                   bool batch_ok);

/* request_read.c: reads the request of a call whose interceptors passed,
 * through the read gate when the call is anonymous, then serves it
 * (cpi_serve_unary or cpi_serve_stream). Takes ownership of `call`. */
void cpi_call_read_request(cp_call *call);
/* The read gate's operations on calls. */
extern const cp_read_gate_ops cpi_call_read_gate_ops;

/* unary.c: serves a call of a unary method whose request was read, or
 * answers an unknown method. Takes ownership of `call`. */
void cpi_serve_unary(cp_call *call);
/* Decodes the request, runs the handler and encodes its response into
 * *out; returns the call's code (its status is set). When the handler
 * deferred (call->stream set), returns OK with *out NULL: the reply's
 * holder answers. */
cp_status_code cpi_call_run_unary(cp_call *call, grpc_byte_buffer **out);
void cpi_serve_unknown(cp_call *call);
/* Sends `code` without a message body and frees the call when done. */
void cpi_call_reply_status(cp_call *call, cp_status_code code);

/* forward.c: starts relaying a call that a fallback forwarded (the call is
 * then owned by the forward and freed when it completes). */
void cpi_forward_start(cp_call *call);

/* call.c: adds a trailer from raw bytes (binary "-bin" values may hold any
 * byte, NUL included). Same key rules as cp_call_add_trailer. */
int cpi_call_add_trailer_bytes(cp_call *call, const char *key, size_t key_len,
                               const void *value, size_t value_len);

/* stream.c: serves a call of a server-streaming method whose request was
 * read. */
void cpi_serve_stream(cp_call *call);

/* stream_read.c: serves a call of a client-streaming or bidirectional
 * method: its handler runs at once and reads the messages itself. */
void cpi_serve_duplex(cp_call *call);

/* request_read.c: serves a call whose interceptors passed and whose request,
 * if its kind has one, was read, by its method's kind. */
void cpi_serve_by_kind(cp_call *call);

/* stream.c: the handler of a deferred unary call returned; drops its
 * reference to the reply (call->stream), which may free the call. */
void cpi_stream_deferred_handler_returned(cp_stream *stream);

/* stream.c: serves a detached call (call->detached, request in payload) of
 * a server-streaming method. Writes complete at once: they are counted and
 * dropped. The caller holds a third reference, the client's, until
 * cpi_stream_detached_close. Returns the stream, or NULL with *code set when
 * the request was refused (the caller then still owns and frees `call`). */
cp_stream *cpi_serve_stream_detached(cp_call *call, cp_status_code *code);
/* Messages written so far; whether the final status was sent, and which. */
size_t cpi_stream_detached_written(cp_stream *stream, bool *ended,
                                   cp_status_code *code);
/* The client goes away: cancels the stream if it is still open and drops
 * the client's reference. */
void cpi_stream_detached_close(cp_stream *stream);

/* server_connection.c: the peer to report for a call whose gRPC peer is
 * `peer`: "inproc:<n>" (allocated from `arena`) when it is "fd:N" and N is a
 * connection handed over with cp_server_add_connection, else `peer`. Call
 * while the call is live (N is its connection until then). */
const char *cpi_server_connection_peer(cp_server *server, const char *peer,
                                       cp_arena *arena);
/* Frees the connection table (cp_server_destroy). */
void cpi_server_connections_free(cp_server *server);

/* server_requests.c: requests the next call of `rm` (NULL: unregistered
 * methods) on `cq`; a slot that cannot be requested is counted as lost. */
void cpi_server_request_next(cp_server_cq *cq, cp_registered_method *rm);
/* Requests again the slots lost on `cq`; run by the queue's thread after
 * each event. */
void cpi_server_refill(cp_server_cq *cq);

#endif /* CPLUGIN_TRANSPORT_SERVER_INTERNAL_H */
