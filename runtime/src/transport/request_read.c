/* Reading the request message of a registered method. gRPC hands the server
 * a call at its headers (methods are registered without payload), so the
 * interceptors decide about the call before its request is read, and an
 * anonymous call's read waits for the read gate. */
#include <grpc/grpc.h>
#include <stddef.h>
#include <string.h>

#include "transport/blocking_dispatch.h"
#include "transport/read_gate.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

static cp_call *call_of(cp_read_gate_entry *e) {
  return (cp_call *)((char *)e - offsetof(cp_call, gate));
}

static void on_request_read(cp_tag *tag, bool ok) {
  cp_call *call = (cp_call *)tag;
  /* Only calls that entered the gate take its lock: authenticated calls
   * never did (their flag is written before their read is posted). */
  if (call->gate.gated) {
    cpi_read_gate_leave(call->server->read_gate, &call->gate);
  }
  if (!ok) {
    /* The call is gone (cancelled, deadline, connection lost). */
    cpi_call_reply_status(call, CP_STATUS_CANCELLED);
  } else if (call->rm->pool != NULL) {
    cpi_serve_blocking(call); /* the handler may block: not on this thread */
  } else {
    cpi_serve_by_kind(call);
  }
}

void cpi_serve_by_kind(cp_call *call) {
  switch (call->rm->desc->kind) {
    case CP_METHOD_UNARY:
      cpi_serve_unary(call);
      break;
    case CP_METHOD_SERVER_STREAMING:
      cpi_serve_stream(call);
      break;
    case CP_METHOD_CLIENT_STREAMING:
    case CP_METHOD_BIDI_STREAMING:
      cpi_serve_duplex(call);
      break;
  }
}

static void start_read(cp_call *call) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &call->payload;
  call->tag.on_done = on_request_read;
  if (grpc_call_start_batch(call->gcall, &op, 1, &call->tag, NULL) !=
      GRPC_CALL_OK) {
    on_request_read(&call->tag, false);
  }
}

static void start_gated(cp_read_gate_entry *e) {
  start_read(call_of(e));
}

static void cancel_stalled(cp_read_gate_entry *e) {
  grpc_call_cancel_with_status(call_of(e)->gcall,
                               GRPC_STATUS_RESOURCE_EXHAUSTED,
                               "request not received in time while other "
                               "requests waited to be read",
                               NULL);
}

const cp_read_gate_ops cpi_call_read_gate_ops = {start_gated, cancel_stalled};

void cpi_call_read_request(cp_call *call) {
  cp_method_kind kind = call->rm->desc->kind;
  if (kind == CP_METHOD_CLIENT_STREAMING || kind == CP_METHOD_BIDI_STREAMING) {
    /* No request first: the handler reads each message as it comes, one
     * at a time, so the read gate has nothing to bound. */
    on_request_read(&call->tag, true);
    return;
  }
  cp_read_gate *gate = call->server->read_gate;
  if (gate != NULL && call->identity == NULL) {
    call->gate.peer = call->peer;
    cpi_read_gate_enter(gate, &call->gate);
  } else {
    start_read(call);
  }
}
