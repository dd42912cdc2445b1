/* Server streams: a queue of serialised messages with one write in flight,
 * the final status after the queue drains, and cancellation from the client,
 * the deadline or shutdown.
 *
 * References: the owner (the handler until cp_stream_finish) holds one and
 * gRPC holds one until the call is over (every operation completed and the
 * status sent or the call cancelled). Whoever drops the last frees. */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/codec.h"
#include "transport/encoded.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

typedef struct out_msg {
  struct out_msg *next;
  grpc_byte_buffer *bb;
  size_t bytes;
} out_msg;

struct cp_stream {
  cp_call *call;
  pthread_mutex_t mu;
  int refs;

  out_msg *head;
  out_msg *tail;
  size_t queued_messages;
  size_t queued_bytes;
  size_t max_messages;
  size_t max_bytes;
  size_t max_message_bytes;

  bool initial_md_sent;
  bool send_in_flight;
  bool status_started;
  bool recv_close_done;
  bool finishing; /* the owner called cp_stream_finish */
  bool closed;    /* no more messages can be delivered */
  bool grpc_released;
  bool detached;  /* no gRPC call: writes complete at once */
  size_t written; /* detached: messages written */
  int pending_ops;
  cp_status_code final_code;

  cp_stream_done_fn done_fn;
  void *done_user;
  bool done_notified;

  out_msg *in_flight;
  grpc_slice status_details;
  cp_tag send_tag;
  cp_tag status_tag;
  cp_tag close_tag;
};

#define STREAM_OF(tagp, field) \
  ((cp_stream *)((char *)(tagp)-offsetof(cp_stream, field)))

static void free_queue(out_msg *m) {
  while (m != NULL) {
    out_msg *next = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
    m = next;
  }
}

static void stream_free(cp_stream *s) {
  free_queue(s->head);
  free_queue(s->in_flight);
  pthread_mutex_destroy(&s->mu);
  cp_call *call = s->call;
  free(s);
  cp_call_free(call);
}

/* Drops `n` references; called without the lock. */
static void stream_unref(cp_stream *s, int n) {
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
          ? cp_call_final_code(call, CP_STATUS_CANCELLED, false)
          : cp_call_final_code(call, s->final_code, true);
  cp_call_run_post_hooks(call, code);
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
    s->queued_bytes -= m->bytes;
    s->written++;
    free_queue(m);
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
    s->queued_bytes -= m->bytes;
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
  cp_call_fill_status_op(s->call, &ops[n], &s->status_details);
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
static bool take_done_notification(cp_stream *s) {
  if (!s->closed || s->finishing || s->done_notified || s->done_fn == NULL) {
    return false;
  }
  s->done_notified = true;
  s->refs++; /* kept while the callback runs */
  return true;
}

static void notify_done(cp_stream *s) {
  s->done_fn(s, s->done_user);
}

/* Common tail of every completion: notifications and releases. */
static void after_event_locked_then_unlock(cp_stream *s) {
  if (s->closed) {
    free_queue(s->head);
    s->head = NULL;
    s->tail = NULL;
    s->queued_messages = 0;
    s->queued_bytes = 0;
  }
  bool notify = take_done_notification(s);
  bool release = grpc_side_over(s);
  pthread_mutex_unlock(&s->mu);
  if (notify) {
    notify_done(s);
  }
  if (release) {
    release_grpc(s);
  }
  /* The callback's reference and gRPC's, dropped together last. */
  stream_unref(s, (notify ? 1 : 0) + (release ? 1 : 0));
}

static void on_send_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF(tag, send_tag);
  pthread_mutex_lock(&s->mu);
  s->pending_ops--;
  s->send_in_flight = false;
  free_queue(s->in_flight);
  s->in_flight = NULL;
  if (!ok) {
    s->closed = true;
  }
  pump_locked(s);
  after_event_locked_then_unlock(s);
}

static void on_status_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF(tag, status_tag);
  pthread_mutex_lock(&s->mu);
  s->pending_ops--;
  if (!ok) {
    s->closed = true;
  }
  after_event_locked_then_unlock(s);
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
  after_event_locked_then_unlock(s);
}

static cp_stream *stream_new(cp_call *call) {
  cp_stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return NULL;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->call = call;
  s->refs = 2; /* owner + gRPC */
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
static bool start_recv_close(cp_stream *s) {
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

static void finish_locked(cp_stream *s, cp_status_code code) {
  s->finishing = true;
  s->final_code = code;
  s->call->status.code = code;
  pump_locked(s);
}

/* Runs the handler on a stream set up for `call`; unless it keeps the
 * stream open, sends its status and drops the owner's reference. */
static cp_status_code run_handler(cp_stream *s, ProtobufCMessage *req) {
  cp_call *call = s->call;
  const cp_method_desc *m = call->rm->desc;
  cp_status_code code =
      m->stream_invoke(call->rm->handler, call, req, s, call->rm->user);
  /* Handlers copy what they keep (cplugin/server.h): an open stream holds
   * no request memory. */
  cp_call_release_request(call);
  if (code == CP_STATUS_KEEP_OPEN) {
    return code;
  }
  if (code < CP_STATUS_OK || code >= CP_STATUS_CODE_COUNT) {
    code = cp_call_error(call, CP_STATUS_INTERNAL,
                         "handler returned an invalid status");
  }
  pthread_mutex_lock(&s->mu);
  finish_locked(s, code);
  s->refs--; /* the owner's reference */
  if (s->refs == 0) {
    /* gRPC let go already: the call was cancelled while the handler ran. */
    pthread_mutex_unlock(&s->mu);
    stream_free(s);
    return code;
  }
  after_event_locked_then_unlock(s);
  return code;
}

void cp_serve_stream(cp_call *call) {
  ProtobufCMessage *req = NULL;
  cp_status_code code = cp_call_decode_request(call, &req);
  if (code != CP_STATUS_OK) {
    cp_call_send_final(call, code, NULL);
    return;
  }
  cp_stream *s = stream_new(call);
  if (s == NULL) {
    cp_call_reply_status(call, CP_STATUS_RESOURCE_EXHAUSTED);
    return;
  }
  pthread_mutex_lock(&s->mu);
  if (!start_recv_close(s)) {
    s->recv_close_done = true;
    s->closed = true;
  }
  pthread_mutex_unlock(&s->mu);
  run_handler(s, req);
}

cp_stream *cp_serve_stream_detached(cp_call *call, cp_status_code *code) {
  ProtobufCMessage *req = NULL;
  *code = cp_call_decode_request(call, &req);
  if (*code != CP_STATUS_OK) {
    return NULL;
  }
  cp_stream *s = stream_new(call);
  if (s == NULL) {
    cp_call_release_request(call);
    *code = CP_STATUS_RESOURCE_EXHAUSTED;
    return NULL;
  }
  s->detached = true;
  s->refs++; /* the client's */
  *code = run_handler(s, req);
  return s;
}

size_t cp_stream_detached_written(cp_stream *stream, bool *ended,
                                  cp_status_code *code) {
  pthread_mutex_lock(&stream->mu);
  size_t n = stream->written;
  *ended = stream->status_started;
  *code = stream->final_code;
  pthread_mutex_unlock(&stream->mu);
  return n;
}

void cp_stream_detached_close(cp_stream *stream) {
  pthread_mutex_lock(&stream->mu);
  if (!stream->recv_close_done) {
    stream->recv_close_done = true;
    stream->closed = true;
    atomic_store_explicit(&stream->call->cancelled, true, memory_order_release);
  }
  after_event_locked_then_unlock(stream);
  stream_unref(stream, 1);
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
    free_queue(om);
    return rc;
  }
  if (stream->tail != NULL) {
    stream->tail->next = om;
  } else {
    stream->head = om;
  }
  stream->tail = om;
  stream->queued_messages++;
  stream->queued_bytes += om->bytes;
  pump_locked(stream);
  after_event_locked_then_unlock(stream);
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
  int rc = cp_codec_encode(msg, stream->max_message_bytes, &om->bb);
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
  cp_encoded_unref(user);
}

int cp_stream_send_encoded(cp_stream *stream, cp_encoded *e) {
  if (stream == NULL || e == NULL) {
    return CP_EINVAL;
  }
  if (cp_encoded_type(e) != stream->call->rm->desc->response_type) {
    return CP_EINVAL;
  }
  size_t size = cp_encoded_size(e);
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
    cp_encoded_ref(e);
    slice = grpc_slice_new_with_user_data((void *)cp_encoded_data(e), size,
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

size_t cp_stream_held_bytes(cp_stream *stream) {
  pthread_mutex_lock(&stream->mu);
  size_t n = stream->queued_bytes +
             (stream->in_flight != NULL ? stream->in_flight->bytes : 0);
  pthread_mutex_unlock(&stream->mu);
  return n;
}

void cp_stream_finish(cp_stream *stream, cp_status_code code, const char *fmt,
                      ...) {
  if (stream == NULL) {
    return;
  }
  if (code < CP_STATUS_OK || code >= CP_STATUS_CODE_COUNT) {
    code = CP_STATUS_INTERNAL;
  }
  pthread_mutex_lock(&stream->mu);
  if (!stream->closed && !stream->finishing) {
    va_list ap;
    va_start(ap, fmt);
    cp_status_vset(&stream->call->status, code, fmt, ap);
    va_end(ap);
    finish_locked(stream, code);
  }
  stream->finishing = true;
  stream->refs--;
  bool last = stream->refs == 0;
  if (last) {
    pthread_mutex_unlock(&stream->mu);
    stream_free(stream);
    return;
  }
  after_event_locked_then_unlock(stream);
}

void cp_stream_on_done(cp_stream *stream, cp_stream_done_fn fn, void *user) {
  pthread_mutex_lock(&stream->mu);
  stream->done_fn = fn;
  stream->done_user = user;
  bool notify = take_done_notification(stream);
  pthread_mutex_unlock(&stream->mu);
  if (notify) {
    /* It died before the owner asked: tell the owner now. */
    notify_done(stream);
    stream_unref(stream, 1);
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
