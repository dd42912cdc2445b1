/* Forwarding a call, as raw bytes, to another server (the router's
 * transport). Every step is an asynchronous batch on the completion queue of
 * the forwarded call, so no server thread waits on the target, and since one
 * queue is polled by one thread, the steps of one forward never run
 * concurrently.
 *
 *   caller                 this server                    target
 *   requests ──────────▶  RECV_MESSAGE  ──▶ headers, SEND_MESSAGE ─▶ ...
 *   half-close ────────▶  (NULL)        ──▶ SEND_CLOSE   ─▶ half-close
 *            ◀──────────  SEND_MESSAGE  ◀── RECV_MESSAGE ◀ responses...
 *   status   ◀──────────  SEND_STATUS   ◀── RECV_STATUS  ◀ status
 *
 * The relay does not know the method's kind: every request message and every
 * response is passed on, so unary, server-, client-streaming and
 * bidirectional calls all go through. Each direction holds at most two
 * messages (one being sent, one received ahead), and reads no further until
 * the send completed, so a slow receiver slows its sender through HTTP/2
 * flow control at both ends.
 *
 * Writes are what a relay pays for (each one a system call that also runs
 * the receiver's TCP input on loopback), so a unary call should cost one
 * write each way: headers, request and half-close to the target together;
 * headers, response and status to the caller together. The relay cannot
 * wait to see whether a second message follows (a streaming peer may be
 * waiting for the other side first), so it asks the queue instead: right
 * after reading ahead it starts an empty batch (a "tick"). Whatever the
 * transport had already received completes before the tick; when the tick
 * comes first, the relay sends what it holds and goes on as a stream.
 *
 * The caller's deadline and cancellation reach the target through gRPC's
 * parent-call propagation. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_ref.h"
#include "transport/forward_ctl.h"
#include "transport/forward_internal.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

int cp_call_forward(cp_call *call, cp_client *target, const char *path,
                    const cp_metadata *metadata, size_t metadata_count) {
  if (call == NULL || target == NULL || path == NULL || path[0] != '/' ||
      (metadata_count > 0 && metadata == NULL)) {
    return CP_EINVAL;
  }
  if (!call->in_fallback || call->forward != NULL) {
    return CP_ESTATE;
  }
  if (atomic_load(&target->closed)) {
    return CP_ECLOSED;
  }
  cp_forward *f = cp_call_alloc(call, sizeof *f);
  grpc_metadata *md = metadata_count == 0
                          ? NULL
                          : cp_call_alloc(call, metadata_count * sizeof *md);
  char *path_copy = cp_call_strdup(call, path);
  if (f == NULL || path_copy == NULL || (metadata_count > 0 && md == NULL)) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < metadata_count; i++) {
    char *k = cp_call_strdup(call, metadata[i].key);
    char *v = cp_call_strdup(call, metadata[i].value);
    if (metadata[i].key == NULL || metadata[i].value == NULL) {
      return CP_EINVAL;
    }
    if (k == NULL || v == NULL) {
      return CP_ENOMEM;
    }
    md[i].key = grpc_slice_from_static_string(k);
    md[i].value = grpc_slice_from_static_string(v);
  }
  /* The target may be released by its owner (the router evicting it) while
   * this forward still waits for the request. */
  cpi_client_retain(target);
  f->call = call;
  f->target = target;
  f->deadline_ns = CP_DEADLINE_NONE;
  f->path = path_copy;
  f->path_slice = grpc_empty_slice();
  f->metadata = md;
  f->metadata_count = metadata_count;
  f->out_details = grpc_empty_slice();
  grpc_metadata_array_init(&f->out_initial);
  grpc_metadata_array_init(&f->out_trailing);
  call->forward = f;
  return 0;
}

void cpi_call_forward_set_deadline(cp_call *call, int64_t deadline_ns) {
  call->forward->deadline_ns = deadline_ns;
}

void cpi_call_forward_on_done(cp_call *call, void (*done)(void *user),
                              void *user) {
  call->forward->done = done;
  call->forward->done_user = user;
}

void cpi_call_forward_cancel(cp_call *call, cp_status_code code,
                             const char *message) {
  /* Thread-safe in gRPC; the close batch then sees the call cancelled and
   * cancels the target call too. */
  grpc_call_cancel_with_status(call->gcall, (grpc_status_code)code, message,
                               NULL);
}

void cpi_fwd_destroy_buffer(grpc_byte_buffer **b) {
  if (*b != NULL) {
    grpc_byte_buffer_destroy(*b);
    *b = NULL;
  }
}

static void destroy_dir(relay_dir *d) {
  cpi_fwd_destroy_buffer(&d->recv);
  cpi_fwd_destroy_buffer(&d->sending);
  cpi_fwd_destroy_buffer(&d->held);
}

static void forward_done(cp_forward *f) {
  cp_call *call = f->call;
  cpi_client_release(f->target);
  if (f->done != NULL) {
    f->done(f->done_user);
  }
  cpi_call_run_post_hooks(
      call, cpi_call_final_code(call, f->final_code, !f->caller_gone));
  if (f->out != NULL) {
    grpc_call_unref(f->out);
  }
  destroy_dir(&f->req);
  destroy_dir(&f->resp);
  cpi_fwd_destroy_buffer(&f->final_message);
  cpi_fwd_destroy_buffer(&f->request_with_status);
  grpc_metadata_array_destroy(&f->out_initial);
  grpc_metadata_array_destroy(&f->out_trailing);
  grpc_slice_unref(f->out_details);
  grpc_slice_unref(f->path_slice);
  cpi_call_free(call); /* f lives in the call's memory */
}

/* Every completion ends here: the forward is freed after its last one. */
void cpi_fwd_op_finished(cp_forward *f) {
  if (--f->pending == 0) {
    forward_done(f);
  }
}

bool cpi_fwd_start(cp_forward *f, grpc_call *c, const grpc_op *ops, size_t n,
                   cp_tag *tag) {
  f->pending++;
  if (grpc_call_start_batch(c, ops, n, tag, NULL) != GRPC_CALL_OK) {
    f->pending--;
    return false;
  }
  return true;
}

/* An empty batch: completes after whatever the queue already holds for
 * `c`. */
void cpi_fwd_start_tick(cp_forward *f, grpc_call *c, cp_tag *tag) {
  grpc_op none;
  memset(&none, 0, sizeof none);
  (void)cpi_fwd_start(f, c, &none, 0, tag);
}

void cpi_fwd_op_send_message(grpc_op *op, grpc_byte_buffer *message) {
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_MESSAGE;
  op->data.send_message.send_message = message;
}

void cpi_fwd_open_target(cp_forward *f) {
  cp_call *call = f->call;
  f->path_slice = grpc_slice_from_copied_string(f->path);
  f->out = cpi_client_open_call(
      f->target, call->gcall, call->cq->cq, f->path_slice,
      cpi_grpc_deadline(f->deadline_ns)); /* infinite for CP_DEADLINE_NONE */
  if (f->out == NULL) {
    cpi_fwd_destroy_buffer(&f->req.held);
    cp_status_set(&call->status, CP_STATUS_UNAVAILABLE,
                  "cannot open a call to the target");
    cpi_fwd_send_final(f, CP_STATUS_UNAVAILABLE);
    return;
  }
  grpc_op ops[5];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = f->metadata_count;
  ops[n++].data.send_initial_metadata.metadata = f->metadata;
  grpc_byte_buffer *first = f->req.held;
  f->req.held = NULL;
  if (first != NULL) {
    cpi_fwd_op_send_message(&ops[n++], first);
  }
  bool all_sent = f->req.ended;
  if (all_sent) {
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  }
  grpc_op status[2];
  memset(status, 0, sizeof status);
  status[0].op = GRPC_OP_RECV_INITIAL_METADATA;
  status[0].data.recv_initial_metadata.recv_initial_metadata = &f->out_initial;
  status[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status[1].data.recv_status_on_client.status = &f->out_code;
  status[1].data.recv_status_on_client.status_details = &f->out_details;
  status[1].data.recv_status_on_client.trailing_metadata = &f->out_trailing;
  bool started;
  bool status_started;
  if (all_sent) {
    f->request_with_status = first;
    memcpy(&ops[n], status, sizeof status);
    started = status_started =
        cpi_fwd_start(f, f->out, ops, n + 2, &f->t_out_status);
    if (!started) {
      cpi_fwd_destroy_buffer(&f->request_with_status);
    }
  } else {
    /* Headers alone complete on their own tag: a request read meanwhile is
     * sent at once, on t_request_sent. */
    f->req.sending = first;
    started =
        cpi_fwd_start(f, f->out, ops, n,
                      first != NULL ? &f->t_request_sent : &f->t_headers_sent);
    status_started = cpi_fwd_start(f, f->out, status, 2, &f->t_out_status);
    if (!started) {
      cpi_fwd_destroy_buffer(&f->req.sending);
    }
  }
  if (!started || !status_started) {
    grpc_call_cancel(f->out, NULL);
    f->resp.ended = true;
    if (!status_started) {
      f->out_status_done = true;
      f->out_code = GRPC_STATUS_UNAVAILABLE;
      cpi_fwd_maybe_finish(f);
    }
    return;
  }
  cpi_fwd_receive_response(f);
  if (!all_sent && first == NULL && !f->req.reading) {
    cpi_fwd_read_request(f);
  }
}

static void on_close(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_close);
  if (!ok || f->call->close_cancelled) {
    f->caller_gone = true;
    atomic_store(&f->call->cancelled, true);
    if (f->out != NULL) {
      grpc_call_cancel(f->out, NULL);
    }
  }
  cpi_fwd_op_finished(f);
}

void cpi_forward_start(cp_call *call) {
  cp_forward *f = call->forward;
  f->t_close.on_done = on_close;
  cpi_fwd_requests_init(f);
  cpi_fwd_responses_init(f);
  /* Held while the batches below are started, so that a completion on
   * another queue thread cannot free the forward under us (all run on this
   * call's queue, but the guard keeps the invariant local). */
  f->pending++;
  grpc_op close;
  memset(&close, 0, sizeof close);
  close.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close.data.recv_close_on_server.cancelled = &call->close_cancelled;
  if (!cpi_fwd_start(f, call->gcall, &close, 1, &f->t_close)) {
    f->caller_gone = true;
  }
  /* The target is opened with the first request when the caller sent one
   * already, alone otherwise (see the tick in the comment at the top). */
  cpi_fwd_read_request(f);
  cpi_fwd_start_tick(f, call->gcall, &f->t_open_tick);
  cpi_fwd_op_finished(f);
}
