/* The state of one forwarded call, shared by forward.c (setup, opening the
 * target, the end), forward_requests.c (caller to target) and
 * forward_responses.c (target to caller). See forward.c for the design. All
 * of it runs on the forwarded call's queue thread. */
#ifndef CPLUGIN_TRANSPORT_FORWARD_INTERNAL_H
#define CPLUGIN_TRANSPORT_FORWARD_INTERNAL_H

#include <grpc/grpc.h>
#include <stdbool.h>

#include "transport/client_internal.h"
#include "transport/server_internal.h"
#include "transport/tag.h"

/* One direction's messages: `recv` is the read in progress, `sending` the
 * batch in flight, `held` a message read ahead of it. */
typedef struct relay_dir {
  grpc_byte_buffer *recv;
  grpc_byte_buffer *sending;
  grpc_byte_buffer *held;
  bool reading;
  bool ended; /* the sender half-closed (requests) or finished (responses) */
} relay_dir;

typedef struct cp_forward {
  cp_call *call;
  cp_client *target;
  const char *path;
  /* A counted copy of path for the target call: gRPC's HPACK encoder keeps
   * the :path slices it sent on the connection for later calls, which a
   * static slice into the call's memory would outlive (the connection is
   * the router's, reused after this call is freed). */
  grpc_slice path_slice;
  grpc_metadata *metadata;
  size_t metadata_count;

  grpc_call *out;      /* NULL until the target call is opened */
  int64_t deadline_ns; /* CP_DEADLINE_NONE: the caller's */
  void (*done)(void *user);
  void *done_user;
  int pending; /* operations in flight, on either call */
  relay_dir req;
  relay_dir resp;
  grpc_byte_buffer *final_message;       /* sent with the status */
  grpc_byte_buffer *request_with_status; /* sent in the status batch */
  grpc_metadata_array out_initial;
  grpc_metadata_array out_trailing;
  grpc_status_code out_code;
  grpc_slice out_details;
  grpc_slice status_details; /* kept: the status batch points at it */
  bool out_status_done;
  bool close_pending;       /* half-close once the request in flight is sent */
  bool first_response_held; /* waiting for its tick before it is sent */
  bool initial_md_sent;
  bool final_started;
  bool caller_gone;
  cp_status_code final_code;

  cp_tag t_request;
  cp_tag t_request_sent;
  cp_tag t_headers_sent;
  cp_tag t_half_close;
  cp_tag t_close;
  cp_tag t_open_tick;  /* caller's queue position when the forward began */
  cp_tag t_first_tick; /* ... after the first request was read ahead */
  cp_tag t_out_status;
  cp_tag t_out_message;
  cp_tag t_response_tick;
  cp_tag t_relayed;
  cp_tag t_final;
} cp_forward;

#define FORWARD_OF(tagp, field) \
  ((cp_forward *)((char *)(tagp)-offsetof(cp_forward, field)))

/* forward.c */
bool cpi_fwd_start(cp_forward *f, grpc_call *c, const grpc_op *ops, size_t n,
                   cp_tag *tag);
void cpi_fwd_start_tick(cp_forward *f, grpc_call *c, cp_tag *tag);
void cpi_fwd_op_finished(cp_forward *f);
void cpi_fwd_op_send_message(grpc_op *op, grpc_byte_buffer *message);
void cpi_fwd_destroy_buffer(grpc_byte_buffer **b);
void cpi_fwd_open_target(cp_forward *f);

/* forward_requests.c */
void cpi_fwd_requests_init(cp_forward *f);
void cpi_fwd_read_request(cp_forward *f);

/* forward_responses.c */
void cpi_fwd_responses_init(cp_forward *f);
void cpi_fwd_receive_response(cp_forward *f);
void cpi_fwd_send_final(cp_forward *f, cp_status_code code);
void cpi_fwd_maybe_finish(cp_forward *f);

#endif /* CPLUGIN_TRANSPORT_FORWARD_INTERNAL_H */
