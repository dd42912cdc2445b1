/* Forwarding a call, as raw bytes, to another server (the router's
 * transport). Every step is an asynchronous batch on the completion queue of
 * the forwarded call, so no server thread waits on the target, and since one
 * queue is polled by one thread, the steps of one forward never run
 * concurrently.
 *
 *   caller                 this server                    target
 *                          create call (parent = caller) ─▶ headers
 *   requests ──────────▶  RECV_MESSAGE  ──▶ SEND_MESSAGE ─▶ requests...
 *   half-close ────────▶  (NULL)        ──▶ SEND_CLOSE   ─▶ half-close
 *            ◀──────────  SEND_MESSAGE  ◀── RECV_MESSAGE ◀ responses...
 *   status   ◀──────────  SEND_STATUS   ◀── RECV_STATUS  ◀ status
 *
 * The relay does not know the method's kind: every request message and every
 * response is passed on, so unary, server-, client-streaming and
 * bidirectional calls all go through. Each direction has one message in
 * flight, read from one side only once the other side took the last, so a
 * slow receiver slows its sender through HTTP/2 flow control at both ends
 * and the router holds at most one message per direction per call.
 *
 * The caller's deadline and cancellation reach the target through gRPC's
 * parent-call propagation. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_ref.h"
#include "transport/forward_ctl.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

typedef struct cp_forward {
  cp_call *call;
  cp_client *target;
  const char *path;
  grpc_metadata *metadata;
  size_t metadata_count;

  grpc_call *out;
  int64_t deadline_ns; /* CP_DEADLINE_NONE: the caller's */
  void (*done)(void *user);
  void *done_user;
  int pending; /* operations in flight, on either call */
  grpc_byte_buffer *request;
  grpc_byte_buffer *response;
  grpc_metadata_array out_initial;
  grpc_metadata_array out_trailing;
  grpc_status_code out_code;
  grpc_slice out_details;
  grpc_slice status_details; /* kept: the status batch points at it */
  bool out_status_done;
  bool out_messages_done;
  bool initial_md_sent;
  bool final_started;
  bool caller_gone;
  cp_status_code final_code;

  cp_tag t_request;
  cp_tag t_request_sent;
  cp_tag t_half_close;
  cp_tag t_close;
  cp_tag t_out_start;
  cp_tag t_out_status;
  cp_tag t_out_message;
  cp_tag t_relayed;
  cp_tag t_final;
} cp_forward;

#define FORWARD_OF(tagp, field) \
  ((cp_forward *)((char *)(tagp)-offsetof(cp_forward, field)))

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
  cp_client_retain(target);
  f->call = call;
  f->target = target;
  f->deadline_ns = CP_DEADLINE_NONE;
  f->path = path_copy;
  f->metadata = md;
  f->metadata_count = metadata_count;
  f->out_details = grpc_empty_slice();
  grpc_metadata_array_init(&f->out_initial);
  grpc_metadata_array_init(&f->out_trailing);
  call->forward = f;
  return 0;
}

void cp_call_forward_set_deadline(cp_call *call, int64_t deadline_ns) {
  call->forward->deadline_ns = deadline_ns;
}

void cp_call_forward_on_done(cp_call *call, void (*done)(void *user),
                             void *user) {
  call->forward->done = done;
  call->forward->done_user = user;
}

void cp_call_forward_cancel(cp_call *call, cp_status_code code,
                            const char *message) {
  /* Thread-safe in gRPC; the close batch then sees the call cancelled and
   * cancels the target call too. */
  grpc_call_cancel_with_status(call->gcall, (grpc_status_code)code, message,
                               NULL);
}

static void forward_done(cp_forward *f) {
  cp_call *call = f->call;
  cp_client_release(f->target);
  if (f->done != NULL) {
    f->done(f->done_user);
  }
  cp_call_run_post_hooks(
      call, cp_call_final_code(call, f->final_code, !f->caller_gone));
  if (f->out != NULL) {
    grpc_call_unref(f->out);
  }
  if (f->request != NULL) {
    grpc_byte_buffer_destroy(f->request);
  }
  if (f->response != NULL) {
    grpc_byte_buffer_destroy(f->response);
  }
  grpc_metadata_array_destroy(&f->out_initial);
  grpc_metadata_array_destroy(&f->out_trailing);
  grpc_slice_unref(f->out_details);
  cp_call_free(call); /* f lives in the call's memory */
}

/* Every completion ends here: the forward is freed after its last one. */
static void op_finished(cp_forward *f) {
  if (--f->pending == 0) {
    forward_done(f);
  }
}

static bool start(cp_forward *f, grpc_call *c, const grpc_op *ops, size_t n,
                  cp_tag *tag) {
  f->pending++;
  if (grpc_call_start_batch(c, ops, n, tag, NULL) != GRPC_CALL_OK) {
    f->pending--;
    return false;
  }
  return true;
}

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
    (void)cp_call_add_trailer_bytes(
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
  op_finished(f);
}

static void send_final(cp_forward *f, cp_status_code code) {
  if (f->final_started) {
    return;
  }
  f->final_started = true;
  f->final_code = code;
  cp_call *call = f->call;
  call->status.code = code;
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!f->initial_md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    f->initial_md_sent = true;
  }
  cp_call_fill_status_op(call, &ops[n++], &f->status_details);
  if (!start(f, call->gcall, ops, n, &f->t_final)) {
    f->caller_gone = true;
  }
}

static void maybe_finish(cp_forward *f) {
  if (!f->out_messages_done || !f->out_status_done) {
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
  send_final(f, code);
}

static void receive_next(cp_forward *f) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->response;
  if (!start(f, f->out, &op, 1, &f->t_out_message)) {
    f->out_messages_done = true;
    maybe_finish(f);
  }
}

static void on_relayed(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_relayed);
  grpc_byte_buffer_destroy(f->response);
  f->response = NULL;
  if (ok) {
    receive_next(f);
  } else {
    /* The caller is gone: stop the target too. */
    f->caller_gone = true;
    grpc_call_cancel(f->out, NULL);
    f->out_messages_done = true;
  }
  op_finished(f);
}

static void on_out_message(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_out_message);
  if (!ok || f->response == NULL) {
    f->out_messages_done = true;
    maybe_finish(f);
    op_finished(f);
    return;
  }
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!f->initial_md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    f->initial_md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = f->response;
  if (!start(f, f->call->gcall, ops, n, &f->t_relayed)) {
    grpc_byte_buffer_destroy(f->response);
    f->response = NULL;
    f->caller_gone = true;
    grpc_call_cancel(f->out, NULL);
    f->out_messages_done = true;
  }
  op_finished(f);
}

static void on_out_status(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_out_status);
  (void)ok;
  f->out_status_done = true;
  maybe_finish(f);
  op_finished(f);
}

static void on_out_start(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_out_start);
  (void)ok; /* a failed start shows in the status */
  op_finished(f);
}

static void on_request(cp_tag *tag, bool ok);

/* Reads the caller's next request message, to be relayed. */
static void read_request(cp_forward *f) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->request;
  (void)start(f, f->call->gcall, &op, 1, &f->t_request);
}

static void on_request_sent(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_request_sent);
  grpc_byte_buffer_destroy(f->request);
  f->request = NULL;
  if (ok && !f->out_status_done) {
    read_request(f);
  } /* else the target ended: its status says how */
  op_finished(f);
}

static void on_half_close(cp_tag *tag, bool ok) {
  (void)ok;
  op_finished(FORWARD_OF(tag, t_half_close));
}

static void on_request(cp_tag *tag, bool ok) {
  cp_forward *f = FORWARD_OF(tag, t_request);
  grpc_op op;
  memset(&op, 0, sizeof op);
  if (!ok || f->out_status_done) {
    /* The caller is gone (on_close cancels the target) or the target
     * already answered: nothing more to relay. */
    if (f->request != NULL) {
      grpc_byte_buffer_destroy(f->request);
      f->request = NULL;
    }
  } else if (f->request == NULL) {
    /* The caller half-closed: so does the relay. */
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    start(f, f->out, &op, 1, &f->t_half_close);
  } else {
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = f->request;
    if (!start(f, f->out, &op, 1, &f->t_request_sent)) {
      grpc_byte_buffer_destroy(f->request);
      f->request = NULL;
    }
  }
  op_finished(f);
}

/* Opens the call to the target at once, before any request message: the
 * caller's messages then flow through as they come. */
static void open_target_call(cp_forward *f) {
  cp_call *call = f->call;
  f->out = grpc_channel_create_call(
      f->target->channel, call->gcall, GRPC_PROPAGATE_DEFAULTS, call->cq->cq,
      grpc_slice_from_static_string(f->path), NULL,
      cp_grpc_deadline(f->deadline_ns), /* infinite for CP_DEADLINE_NONE */
      NULL);
  if (f->out == NULL) {
    cp_status_set(&call->status, CP_STATUS_UNAVAILABLE,
                  "cannot open a call to the target");
    send_final(f, CP_STATUS_UNAVAILABLE);
    return;
  }
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = f->metadata_count;
  ops[0].data.send_initial_metadata.metadata = f->metadata;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &f->out_initial;
  grpc_op status;
  memset(&status, 0, sizeof status);
  status.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status.data.recv_status_on_client.status = &f->out_code;
  status.data.recv_status_on_client.status_details = &f->out_details;
  status.data.recv_status_on_client.trailing_metadata = &f->out_trailing;
  bool started = start(f, f->out, ops, 2, &f->t_out_start);
  bool status_started = start(f, f->out, &status, 1, &f->t_out_status);
  if (!started || !status_started) {
    grpc_call_cancel(f->out, NULL);
    f->out_status_done = status_started ? f->out_status_done : true;
    f->out_messages_done = true;
    if (!status_started) {
      f->out_code = GRPC_STATUS_UNAVAILABLE;
      maybe_finish(f);
    }
    return;
  }
  receive_next(f);
  read_request(f);
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
  op_finished(f);
}

void cp_forward_start(cp_call *call) {
  cp_forward *f = call->forward;
  f->t_request.on_done = on_request;
  f->t_request_sent.on_done = on_request_sent;
  f->t_half_close.on_done = on_half_close;
  f->t_close.on_done = on_close;
  f->t_out_start.on_done = on_out_start;
  f->t_out_status.on_done = on_out_status;
  f->t_out_message.on_done = on_out_message;
  f->t_relayed.on_done = on_relayed;
  f->t_final.on_done = on_final;
  /* Held while the batches below are started, so that a completion on
   * another queue thread cannot free the forward under us (all run on this
   * call's queue, but the guard keeps the invariant local). */
  f->pending++;
  grpc_op close;
  memset(&close, 0, sizeof close);
  close.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close.data.recv_close_on_server.cancelled = &call->close_cancelled;
  if (!start(f, call->gcall, &close, 1, &f->t_close)) {
    f->caller_gone = true;
  }
  open_target_call(f);
  op_finished(f);
}
