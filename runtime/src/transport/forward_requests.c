/* Forwarding, caller to target: requests relayed one at a time with one
 * read ahead, the target opened with the first request (and half-close)
 * when they came before their tick (see forward.c). */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_ref.h"
#include "transport/forward_ctl.h"
#include "transport/forward_internal.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

void cpi_fwd_read_request(cp_forward *f) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->req.recv;
  f->req.reading = cpi_fwd_start(f, f->call->gcall, &op, 1, &f->t_request);
}

static void send_half_close(cp_forward *f) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  (void)cpi_fwd_start(f, f->out, &op, 1, &f->t_half_close);
}

static void send_request(cp_forward *f, grpc_byte_buffer *message) {
  grpc_op op;
  cpi_fwd_op_send_message(&op, message);
  f->req.sending = message;
  if (!cpi_fwd_start(f, f->out, &op, 1, &f->t_request_sent)) {
    f->req.sending = NULL;
    grpc_byte_buffer_destroy(message);
  }
}

/* Opens the call to the target with what the caller sent so far: headers,
 * the first request if one was read, the half-close if it came too. The
 * status is received in the same batch when nothing else is to be sent
 * (then its completion also returns the request's buffer). */
static bool target_wanted(const cp_forward *f) {
  return f->out == NULL && !f->caller_gone && !f->final_started;
}

static void on_open_tick(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_open_tick);
  (void)ok;
  if (target_wanted(f) && f->req.held == NULL) {
    /* Nothing from the caller yet: the target may have to speak first. */
    cpi_fwd_open_target(f);
  } /* else the first request's own tick decides */
  cpi_fwd_op_finished(f);
}

static void on_first_tick(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_first_tick);
  (void)ok;
  if (target_wanted(f)) {
    cpi_fwd_open_target(f); /* with the first request, the call goes on */
  }
  cpi_fwd_op_finished(f);
}

static void on_request_sent(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_request_sent);
  cpi_fwd_destroy_buffer(&f->req.sending);
  if (!ok || f->out_status_done) {
    cpi_fwd_destroy_buffer(
        &f->req.held); /* the target ended: its status says how */
  } else if (f->req.held != NULL) {
    grpc_byte_buffer *next = f->req.held;
    f->req.held = NULL;
    send_request(f, next);
    if (!f->req.ended) {
      cpi_fwd_read_request(f);
    }
  } else if (f->close_pending) {
    f->close_pending = false;
    send_half_close(f);
  }
  cpi_fwd_op_finished(f);
}

static void on_half_close(cp_tag *tag, bool ok) {
  (void)ok;
  cpi_fwd_op_finished(FORWARD_OF(tag, t_half_close));
}

static void on_headers_sent(cp_tag *tag, bool ok) {
  (void)ok; /* a failed start shows in the status */
  cpi_fwd_op_finished(FORWARD_OF(tag, t_headers_sent));
}

static void on_request(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_request);
  f->req.reading = false;
  grpc_byte_buffer *message = f->req.recv;
  f->req.recv = NULL;
  if (!ok || f->out_status_done || f->caller_gone || f->final_started) {
    /* The caller is gone (on_close cancels the target) or the target
     * already answered: nothing more to relay. */
    if (message != NULL) {
      grpc_byte_buffer_destroy(message);
    }
    if (!ok && f->out == NULL) {
      f->caller_gone = true; /* never reached the target: nothing to wait for */
    }
  } else if (f->out == NULL) {
    if (message == NULL) {
      /* Half-closed before the tick: unary or server-streaming. */
      f->req.ended = true;
      cpi_fwd_open_target(f);
    } else if (f->req.held == NULL) {
      /* The first request: read ahead, then the tick decides. */
      f->req.held = message;
      cpi_fwd_read_request(f);
      cpi_fwd_start_tick(f, f->call->gcall, &f->t_first_tick);
    } else {
      /* A second request before the tick: a stream. */
      cpi_fwd_open_target(f);
      f->req.held = message; /* sent when the first is */
    }
  } else if (message == NULL) {
    f->req.ended = true;
    if (f->req.sending != NULL || f->req.held != NULL) {
      f->close_pending = true;
    } else {
      send_half_close(f);
    }
  } else if (f->req.sending != NULL) {
    f->req.held = message; /* reading resumes once it is sent */
  } else {
    send_request(f, message);
    cpi_fwd_read_request(f);
  }
  cpi_fwd_op_finished(f);
}

void cpi_fwd_requests_init(cp_forward *f) {
  f->t_request.on_done = on_request;
  f->t_request_sent.on_done = on_request_sent;
  f->t_headers_sent.on_done = on_headers_sent;
  f->t_half_close.on_done = on_half_close;
  f->t_open_tick.on_done = on_open_tick;
  f->t_first_tick.on_done = on_first_tick;
}
