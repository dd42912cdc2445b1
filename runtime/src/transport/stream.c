/* Server streams: a queue of serialised messages with one write in flight,
 * the final status after the queue drains, and cancellation from the client,
 * the deadline or shutdown.
 *
 * A deferred unary reply (unary_reply.c) is such a stream that carries one
 * message.
 *
 * References: the running handler holds one until it returns, the holder
 * of a kept stream or deferred reply one until it finishes, and gRPC one
 * until the call is over (every operation completed and the status sent or
 * the call cancelled). Whoever drops the last frees. */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/codec.h"
#include "transport/encoded.h"
#include "transport/server_reply.h"
#include "transport/stream_internal.h"

void cpi_stream_free_queue(out_msg *m) {
  while (m != NULL) {
    out_msg *next = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
    m = next;
  }
}

/* The stream's queue grew by `add` and shrank by `sub` bytes (s->mu
 * held); its server's total follows. */
static void queued_change(cp_stream *s, size_t add, size_t sub) {
  s->queued_bytes = s->queued_bytes + add - sub;
  cp_server *server = s->call != NULL ? s->call->server : NULL;
  if (server == NULL) {
    return;
  }
  if (add > 0) {
    atomic_fetch_add_explicit(&server->queued_bytes, add, memory_order_relaxed);
  }
  if (sub > 0) {
    atomic_fetch_sub_explicit(&server->queued_bytes, sub, memory_order_relaxed);
  }
}

static void stream_free(cp_stream *s) {
  queued_change(s, 0, s->queued_bytes);
  cpi_stream_free_queue(s->head);
  cpi_stream_free_queue(s->in_flight);
  pthread_mutex_destroy(&s->mu);
  cp_call *call = s->call;
  free(s);
  cpi_call_free(call);
}

/* Drops `n` references; called without the lock. */
void cpi_stream_unref(cp_stream *s, int n) {
  if (n == 0) {
    return;
  }
  pthread_mutex_lock(&s->mu);
  s->refs -= n;
  int left = s->refs;
  pthread_mutex_unlock(&s->mu);
  if (left == 0) {
    stream_free(s);
  }
}

/* With the lock held: true when gRPC has nothing more to do for the call, so
 * the caller releases the gRPC call (outside the lock). */
static bool grpc_side_over(cp_stream *s) {
  if (s->grpc_released || s->pending_ops > 0 || !s->recv_close_done) {
    return false;
  }
  if (!s->closed && !s->status_started) {
    return false;
  }
  s->grpc_released = true;
  return true;
}

/* Runs the post-call hooks and lets go of the gRPC call. The caller drops
 * gRPC's reference afterwards. */
static void release_grpc(cp_stream *s) {
  cp_call *call = s->call;
  cp_status_code code =
      s->closed && !s->status_started
          ? cpi_call_final_code(call, CP_STATUS_CANCELLED, false)
          : cpi_call_final_code(call, s->final_code, true);
  cpi_call_run_post_hooks(call, code);
  if (call->gcall != NULL) {
    grpc_call_unref(call->gcall);
    call->gcall = NULL;
  }
}

/* With the lock held, for a detached stream: every queued write completes
 * at once, then the status once the owner finished. Sending the status ends
 * the call as RECV_CLOSE_ON_SERVER would. */
static void pump_detached_locked(cp_stream *s) {
  s->initial_md_sent = true;
  while (s->head != NULL) {
    out_msg *m = s->head;
    s->head = m->next;
    m->next = NULL;
    s->queued_messages--;
    queued_change(s, 0, m->bytes);
    s->written++;
    cpi_stream_free_queue(m);
  }
  s->tail = NULL;
  if (s->finishing && !s->status_started) {
    s->status_started = true;
    s->recv_close_done = true;
  }
}

/* With the lock held: starts the next write or the final status. */
static void pump_locked(cp_stream *s) {
  if (s->closed || s->send_in_flight || s->status_started) {
    return;
  }
  if (s->detached) {
    pump_detached_locked(s);
    return;
  }
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!s->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
    s->initial_md_sent = true;
  }
  if (s->head != NULL) {
    out_msg *m = s->head;
    s->head = m->next;
    if (s->head == NULL) {
      s->tail = NULL;
    }
    m->next = NULL;
    s->queued_messages--;
    queued_change(s, 0, m->bytes);
    s->in_flight = m;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = m->bb;
    n++;
    s->send_in_flight = true;
    s->pending_ops++;
    if (grpc_call_start_batch(s->call->gcall, ops, n, &s->send_tag, NULL) !=
        GRPC_CALL_OK) {
      s->send_in_flight = false;
      s->pending_ops--;
      s->closed = true;
    }
    return;
  }
  if (!s->finishing) {
    return;
  }
  cpi_call_fill_status_op(s->call, &ops[n], &s->status_details);
  n++;
  s->status_started = true;
  s->pending_ops++;
  if (grpc_call_start_batch(s->call->gcall, ops, n, &s->status_tag, NULL) !=
      GRPC_CALL_OK) {
    s->pending_ops--;
    s->closed = true;
  }
}

/* With the lock held: whether the owner must be told the stream died. */
bool cpi_stream_take_done_notification(cp_stream *s) {
  if (!s->closed || s->finishing || s->done_notified ||
      (s->done_fn == NULL && s->cancel_fn == NULL)) {
    return false;
  }
  s->done_notified = true;
  s->refs++; /* kept while the callback runs */
  return true;
}

void cpi_stream_notify_done(cp_stream *s) {
  if (s->cancel_fn != NULL) {
    s->cancel_fn(cp_stream_as_reply(s), s->done_user);
  } else {
    s->done_fn(s, s->done_user);
  }
}

/* Common tail of every completion and answer: notifications, releases, and
 * `drop` more references of the caller's. */
void cpi_stream_after_event_locked_then_unlock(cp_stream *s, int drop) {
  if (s->closed) {
    cpi_stream_free_queue(s->head);
    s->head = NULL;
    s->tail = NULL;
    s->queued_messages = 0;
    queued_change(s, 0, s->queued_bytes);
  }
  bool notify = cpi_stream_take_done_notification(s);
  /* A reader with no read in flight hears of the end here. */
  bool end_read = s->read_paused && (s->closed || s->finishing);
  if (end_read) {
    s->read_paused = false;
    s->refs++; /* kept while the reader runs */
  }
  bool release = grpc_side_over(s);
  pthread_mutex_unlock(&s->mu);
  if (notify) {
    cpi_stream_notify_done(s);
  }
  if (end_read) {
    s->read_invoke(s->read_fn, s, NULL, s->read_user);
  }
  if (release) {
    release_grpc(s);
  }
  /* The callbacks' references, gRPC's and the caller's, dropped together
   * last. */
  cpi_stream_unref(
      s, (notify ? 1 : 0) + (end_read ? 1 : 0) + (release ? 1 : 0) + drop);
}

static void on_send_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF(tag, send_tag);
  pthread_mutex_lock(&s->mu);
  s->pending_ops--;
  s->send_in_flight = false;
  cpi_stream_free_queue(s->in_flight);
  s->in_flight = NULL;
  if (!ok) {
    s->closed = true;
  }
  pump_locked(s);
  cpi_stream_resume_read_locked(s);
  cpi_stream_after_event_locked_then_unlock(s, 0);
}

static void on_status_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF(tag, status_tag);
  pthread_mutex_lock(&s->mu);
  s->pending_ops--;
  if (!ok) {
    s->closed = true;
  }
  cpi_stream_after_event_locked_then_unlock(s, 0);
}

static void on_close_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF(tag, close_tag);
  pthread_mutex_lock(&s->mu);
  s->pending_ops--;
  s->recv_close_done = true;
  if (!ok || s->call->close_cancelled) {
    s->closed = true;
    atomic_store_explicit(&s->call->cancelled, true, memory_order_release);
  }
  cpi_stream_after_event_locked_then_unlock(s, 0);
}

cp_stream *cpi_stream_new(cp_call *call) {
  cp_stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return NULL;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->call = call;
  s->refs = 2; /* the running handler + gRPC */
  s->max_messages = call->server->opts.stream_queue_messages;
  s->max_bytes = call->server->opts.stream_queue_bytes;
  s->max_message_bytes = call->server->opts.max_message_bytes;
  s->final_code = CP_STATUS_OK;
  s->send_tag.on_done = on_send_done;
  s->status_tag.on_done = on_status_done;
  s->close_tag.on_done = on_close_done;
  call->stream = s;
  return s;
}

/* Starts RECV_CLOSE_ON_SERVER, which completes when the client cancels, the
 * deadline passes, the server cancels, or after the status was sent. */
bool cpi_stream_start_recv_close(cp_stream *s) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &s->call->close_cancelled;
  s->pending_ops++;
  if (grpc_call_start_batch(s->call->gcall, &op, 1, &s->close_tag, NULL) !=
      GRPC_CALL_OK) {
    s->pending_ops--;
    return false;
  }
  return true;
}

void cpi_stream_finish_locked(cp_stream *s, cp_status_code code) {
  s->finishing = true;
  s->final_code = code;
  s->call->status.code = code;
  pump_locked(s);
}

bool cpi_status_is_wire(cp_status_code code) {
  return code >= CP_STATUS_OK && code < CP_STATUS_CODE_COUNT;
}

/* The handler returned: unless it kept the stream or ended it itself, its
 * `code` ends the stream. Drops the handler's reference. Returns the code
 * the stream ended with, or OK when it stays open. */
static cp_status_code handler_returned(cp_stream *s, cp_status_code code) {
  pthread_mutex_lock(&s->mu);
  s->in_handler = false;
  if (!s->kept && !s->owner_done) {
    if (!cpi_status_is_wire(code)) {
      code = cp_call_error(s->call, CP_STATUS_INTERNAL,
                           "handler returned an invalid status");
    }
    cpi_stream_finish_locked(s, code);
    s->owner_done = true;
  }
  cp_status_code ended = s->kept ? CP_STATUS_OK : s->final_code;
  cpi_stream_after_event_locked_then_unlock(s, 1);
  return ended;
}

cp_status_code cpi_stream_run_handler(cp_stream *s, ProtobufCMessage *req) {
  cp_call *call = s->call;
  const cp_method_desc *m = call->rm->desc;
  pthread_mutex_lock(&s->mu);
  s->in_handler = true;
  pthread_mutex_unlock(&s->mu);
  cp_status_code code =
      m->kind == CP_METHOD_SERVER_STREAMING
          ? m->stream_invoke(call->rm->handler, call, req, s, call->rm->user)
          : m->duplex_invoke(call->rm->handler, call, s, call->rm->user);
  /* Handlers copy what they keep (cplugin/server.h): an open stream holds
   * no request memory. The handler's reference keeps `call` valid. */
  cpi_call_release_request(call);
  return handler_returned(s, code);
}

cp_stream *cpi_stream_open(cp_call *call) {
  cp_stream *s = cpi_stream_new(call);
  if (s == NULL) {
    return NULL;
  }
  pthread_mutex_lock(&s->mu);
  if (!cpi_stream_start_recv_close(s)) {
    s->recv_close_done = true;
    s->closed = true;
  }
  pthread_mutex_unlock(&s->mu);
  return s;
}

void cpi_serve_stream(cp_call *call) {
  ProtobufCMessage *req = NULL;
  cp_status_code code = cpi_call_decode_request(call, &req);
  if (code != CP_STATUS_OK) {
    cpi_call_send_final(call, code, NULL);
    return;
  }
  cp_stream *s = cpi_stream_open(call);
  if (s == NULL) {
    cpi_call_release_request(call);
    cpi_call_reply_status(call, CP_STATUS_RESOURCE_EXHAUSTED);
    return;
  }
  cpi_stream_run_handler(s, req);
}

cp_stream *cpi_serve_stream_detached(cp_call *call, cp_status_code *code) {
  ProtobufCMessage *req = NULL;
  *code = cpi_call_decode_request(call, &req);
  if (*code != CP_STATUS_OK) {
    return NULL;
  }
  cp_stream *s = cpi_stream_new(call);
  if (s == NULL) {
    cpi_call_release_request(call);
    *code = CP_STATUS_RESOURCE_EXHAUSTED;
    return NULL;
  }
  s->detached = true;
  s->refs++; /* the client's */
  *code = cpi_stream_run_handler(s, req);
  return s;
}

size_t cpi_stream_detached_written(cp_stream *stream, bool *ended,
                                   cp_status_code *code) {
  pthread_mutex_lock(&stream->mu);
  size_t n = stream->written;
  *ended = stream->status_started;
  *code = stream->final_code;
  pthread_mutex_unlock(&stream->mu);
  return n;
}

void cpi_stream_detached_close(cp_stream *stream) {
  pthread_mutex_lock(&stream->mu);
  if (!stream->recv_close_done) {
    stream->recv_close_done = true;
    stream->closed = true;
    atomic_store_explicit(&stream->call->cancelled, true, memory_order_release);
  }
  cpi_stream_after_event_locked_then_unlock(stream, 0);
  cpi_stream_unref(stream, 1);
}

/* Queues `om` unless the stream is over or its queue is full (or, with
 * `only_if_idle`, holds any message); frees `om` when refused. */
static int enqueue(cp_stream *stream, out_msg *om, bool only_if_idle) {
  int rc = 0;
  pthread_mutex_lock(&stream->mu);
  if (stream->closed || stream->finishing) {
    rc = CP_ECLOSED;
  } else if (only_if_idle
                 ? stream->head != NULL || stream->in_flight != NULL
                 : stream->queued_messages >= stream->max_messages ||
                       stream->queued_bytes + om->bytes > stream->max_bytes) {
    rc = CP_EAGAIN;
  }
  if (rc != 0) {
    pthread_mutex_unlock(&stream->mu);
    cpi_stream_free_queue(om);
    return rc;
  }
  if (stream->tail != NULL) {
    stream->tail->next = om;
  } else {
    stream->head = om;
  }
  stream->tail = om;
  stream->queued_messages++;
  queued_change(stream, om->bytes, 0);
  pump_locked(stream);
  cpi_stream_after_event_locked_then_unlock(stream, 0);
  return 0;
}

int cp_stream_send(cp_stream *stream, const ProtobufCMessage *msg) {
  if (stream == NULL || msg == NULL) {
    return CP_EINVAL;
  }
  const cp_method_desc *m = stream->call->rm->desc;
  if (msg->descriptor != m->response_type) {
    return CP_EINVAL;
  }
  out_msg *om = malloc(sizeof *om);
  if (om == NULL) {
    return CP_ENOMEM;
  }
  int rc = cpi_codec_encode(msg, stream->max_message_bytes, &om->bb);
  if (rc != 0) {
    free(om);
    return rc;
  }
  om->bytes = grpc_byte_buffer_length(om->bb);
  om->next = NULL;
  return enqueue(stream, om, false);
}

/* gRPC drops the slice's last reference when the write no longer needs it. */
static void encoded_slice_done(void *user) {
  cpi_encoded_unref(user);
}

int cpi_stream_send_encoded(cp_stream *stream, cp_encoded *e) {
  if (stream == NULL || e == NULL) {
    return CP_EINVAL;
  }
  if (cpi_encoded_type(e) != stream->call->rm->desc->response_type) {
    return CP_EINVAL;
  }
  size_t size = cpi_encoded_size(e);
  if (size > stream->max_message_bytes) {
    return CP_ETOOBIG;
  }
  out_msg *om = malloc(sizeof *om);
  if (om == NULL) {
    return CP_ENOMEM;
  }
  grpc_slice slice;
  if (size == 0) {
    slice = grpc_empty_slice();
  } else {
    cpi_encoded_ref(e);
    slice = grpc_slice_new_with_user_data((void *)cpi_encoded_data(e), size,
                                          encoded_slice_done, e);
  }
  om->bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  if (om->bb == NULL) {
    free(om);
    return CP_ENOMEM;
  }
  om->bytes = size;
  om->next = NULL;
  return enqueue(stream, om, true);
}

size_t cpi_stream_held_bytes(cp_stream *stream) {
  pthread_mutex_lock(&stream->mu);
  size_t n = stream->queued_bytes +
             (stream->in_flight != NULL ? stream->in_flight->bytes : 0);
  pthread_mutex_unlock(&stream->mu);
  return n;
}

/* The handler's or holder's one answer: queues `om` (may be NULL) and ends
 * the stream with `code` and the message from `fmt`/`ap` (ap NULL: keep the
 * call's message). Drops the holder's reference. Returns 0, CP_ECLOSED when
 * the stream had ended (nothing is sent) or CP_ESTATE for a second answer. */
int cpi_stream_answer(cp_stream *s, out_msg *om, cp_status_code code,
                      const char *fmt, va_list *ap) {
  if (!cpi_status_is_wire(code)) {
    code = CP_STATUS_INTERNAL;
  }
  pthread_mutex_lock(&s->mu);
  if (s->owner_done || (!s->kept && !s->in_handler)) {
    pthread_mutex_unlock(&s->mu);
    cpi_stream_free_queue(om);
    return CP_ESTATE;
  }
  int rc = 0;
  if (s->closed || s->finishing) {
    rc = CP_ECLOSED;
    cpi_stream_free_queue(om);
  } else {
    if (om != NULL) {
      if (s->tail != NULL) {
        s->tail->next = om;
      } else {
        s->head = om;
      }
      s->tail = om;
      s->queued_messages++;
      queued_change(s, om->bytes, 0);
    }
    if (ap != NULL) {
      cp_status_vset(&s->call->status, code, fmt, *ap);
    }
    cpi_stream_finish_locked(s, code);
  }
  s->finishing = true;
  s->owner_done = true;
  cpi_stream_after_event_locked_then_unlock(s, s->kept ? 1 : 0);
  return rc;
}

int cp_stream_finish(cp_stream *stream, cp_status_code code, const char *fmt,
                     ...) {
  if (stream == NULL) {
    return CP_EINVAL;
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = cpi_stream_answer(stream, NULL, code, fmt, &ap);
  va_end(ap);
  return rc == CP_ECLOSED ? 0 : rc;
}

int cp_stream_keep(cp_stream *stream) {
  if (stream == NULL) {
    return CP_EINVAL;
  }
  int rc = 0;
  pthread_mutex_lock(&stream->mu);
  if (!stream->in_handler || stream->kept || stream->owner_done) {
    rc = CP_ESTATE;
  } else {
    stream->kept = true;
    stream->refs++; /* the holder's */
  }
  pthread_mutex_unlock(&stream->mu);
  return rc;
}

void cp_stream_on_done(cp_stream *stream, cp_stream_done_fn fn, void *user) {
  pthread_mutex_lock(&stream->mu);
  stream->done_fn = fn;
  stream->done_user = user;
  bool notify = cpi_stream_take_done_notification(stream);
  pthread_mutex_unlock(&stream->mu);
  if (notify) {
    /* It died before the owner asked: tell the owner now. */
    cpi_stream_notify_done(stream);
    cpi_stream_unref(stream, 1);
  }
}

bool cp_stream_is_closed(const cp_stream *stream) {
  cp_stream *s = (cp_stream *)stream;
  pthread_mutex_lock(&s->mu);
  bool closed = s->closed || s->finishing;
  pthread_mutex_unlock(&s->mu);
  return closed;
}

cp_call *cp_stream_call(cp_stream *stream) {
  return stream->call;
}
