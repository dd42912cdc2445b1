/* Forwarding, target to caller: responses relayed one at a time, the first
 * one held for its tick so that a unary answer goes out with its status in
 * one write (see forward.c). */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_ref.h"
#include "transport/forward_ctl.h"
#include "transport/forward_internal.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

/* The target's answer, as the caller should see it: a target that failed or
 * vanished (its call was cancelled without the caller asking) is
 * UNAVAILABLE. */
static cp_status_code map_target_code(const cp_forward *f) {
  cp_status_code code =
      (int)f->out_code >= 0 && (int)f->out_code < CP_STATUS_CODE_COUNT
          ? (cp_status_code)f->out_code
          : CP_STATUS_UNKNOWN;
  if (code == CP_STATUS_CANCELLED && !f->caller_gone) {
    return CP_STATUS_UNAVAILABLE;
  }
  return code;
}

/* The target's trailers, bytes as they came (binary values included);
 * reserved grpc-* keys are the transport's and are not copied. */
static void copy_trailers(cp_forward *f) {
  cp_call *call = f->call;
  for (size_t i = 0; i < f->out_trailing.count; i++) {
    const grpc_metadata *m = &f->out_trailing.metadata[i];
    (void)cpi_call_add_trailer_bytes(
        call, (const char *)GRPC_SLICE_START_PTR(m->key),
        GRPC_SLICE_LENGTH(m->key), GRPC_SLICE_START_PTR(m->value),
        GRPC_SLICE_LENGTH(m->value));
  }
}

static void on_final(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_final);
  if (!ok) {
    f->caller_gone = true;
  }
  cpi_fwd_destroy_buffer(&f->final_message);
  cpi_fwd_op_finished(f);
}

/* The caller's status, with the last response when one is still held (a
 * unary answer: headers, message and status in one write). */
void cpi_fwd_send_final(cp_forward *f, cp_status_code code) {
  if (f->final_started) {
    return;
  }
  f->final_started = true;
  f->final_code = code;
  f->first_response_held = false;
  cp_call *call = f->call;
  call->status.code = code;
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!f->initial_md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    f->initial_md_sent = true;
  }
  if (f->resp.held != NULL) {
    f->final_message = f->resp.held;
    f->resp.held = NULL;
    cpi_fwd_op_send_message(&ops[n++], f->final_message);
  }
  cpi_call_fill_status_op(call, &ops[n++], &f->status_details);
  if (!cpi_fwd_start(f, call->gcall, ops, n, &f->t_final)) {
    f->caller_gone = true;
    cpi_fwd_destroy_buffer(&f->final_message);
  }
}

/* The status goes out once the target finished, every response before it
 * was sent and none is still being read. */
void cpi_fwd_maybe_finish(cp_forward *f) {
  if (!f->resp.ended || !f->out_status_done || f->resp.sending != NULL ||
      f->resp.reading) {
    return;
  }
  cp_status_code code = map_target_code(f);
  size_t len = GRPC_SLICE_LENGTH(f->out_details);
  if (len >= sizeof f->call->status.message) {
    len = sizeof f->call->status.message - 1;
  }
  memcpy(f->call->status.message, GRPC_SLICE_START_PTR(f->out_details), len);
  f->call->status.message[len] = '\0';
  if (code == CP_STATUS_UNAVAILABLE && len == 0) {
    cp_status_set(&f->call->status, code, "target unavailable");
  }
  copy_trailers(f);
  cpi_fwd_send_final(f, code);
}

void cpi_fwd_receive_response(cp_forward *f) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->resp.recv;
  f->resp.reading = cpi_fwd_start(f, f->out, &op, 1, &f->t_out_message);
  if (!f->resp.reading) {
    f->resp.ended = true;
  }
}

/* Stops relaying responses: the caller is gone. */
static void drop_responses(cp_forward *f) {
  f->caller_gone = true;
  grpc_call_cancel(f->out, NULL);
  cpi_fwd_destroy_buffer(&f->resp.held);
  f->first_response_held = false;
  if (!f->resp.reading) {
    f->resp.ended = true;
  }
}

static void send_response(cp_forward *f, grpc_byte_buffer *message) {
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!f->initial_md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    f->initial_md_sent = true;
  }
  cpi_fwd_op_send_message(&ops[n++], message);
  f->resp.sending = message;
  if (!cpi_fwd_start(f, f->call->gcall, ops, n, &f->t_relayed)) {
    f->resp.sending = NULL;
    grpc_byte_buffer_destroy(message);
    drop_responses(f);
  }
}

static void on_relayed(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_relayed);
  cpi_fwd_destroy_buffer(&f->resp.sending);
  if (!ok) {
    drop_responses(f);
  } else if (f->resp.held != NULL) {
    grpc_byte_buffer *next = f->resp.held;
    f->resp.held = NULL;
    send_response(f, next);
    if (!f->resp.ended && !f->caller_gone) {
      cpi_fwd_receive_response(f);
    }
  }
  cpi_fwd_maybe_finish(f);
  cpi_fwd_op_finished(f);
}

static void on_response_tick(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_response_tick);
  (void)ok;
  if (f->first_response_held && f->resp.sending == NULL && !f->resp.ended) {
    /* More is coming, or not yet: relay it as a stream would. (Once the
     * target ended its messages the status is on its way: wait for it.) */
    f->first_response_held = false;
    grpc_byte_buffer *first = f->resp.held;
    f->resp.held = NULL;
    send_response(f, first);
  }
  cpi_fwd_op_finished(f);
}

static void on_out_message(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_out_message);
  f->resp.reading = false;
  grpc_byte_buffer *message = f->resp.recv;
  f->resp.recv = NULL;
  if (!ok || message == NULL || f->caller_gone) {
    if (message != NULL) {
      grpc_byte_buffer_destroy(message);
    }
    f->resp.ended = true;
  } else if (!f->initial_md_sent && f->resp.held == NULL) {
    /* The first response: hold it, read ahead, and let the tick decide
     * whether it goes out alone or with the status. */
    f->resp.held = message;
    f->first_response_held = true;
    cpi_fwd_receive_response(f);
    cpi_fwd_start_tick(f, f->out, &f->t_response_tick);
  } else if (f->resp.sending != NULL || f->resp.held != NULL) {
    if (f->first_response_held) {
      /* A second response before the tick: this is a stream. */
      f->first_response_held = false;
      grpc_byte_buffer *first = f->resp.held;
      f->resp.held = message;
      send_response(f, first);
    } else {
      f->resp.held = message; /* sent when the one in flight is */
    }
  } else {
    send_response(f, message);
    if (!f->caller_gone) {
      cpi_fwd_receive_response(f);
    }
  }
  cpi_fwd_maybe_finish(f);
  cpi_fwd_op_finished(f);
}

static void on_out_status(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_out_status);
  (void)ok; /* a failed batch shows in the status */
  f->out_status_done = true;
  cpi_fwd_destroy_buffer(&f->request_with_status);
  cpi_fwd_maybe_finish(f);
  cpi_fwd_op_finished(f);
}

void cpi_fwd_responses_init(cp_forward *f) {
  f->t_out_status.on_done = on_out_status;
  f->t_out_message.on_done = on_out_message;
  f->t_response_tick.on_done = on_response_tick;
  f->t_relayed.on_done = on_relayed;
  f->t_final.on_done = on_final;
}
