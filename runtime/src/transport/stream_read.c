/* Client-streaming and bidirectional calls on the server: the handler runs
 * at once on a stream (there is no request to read first) and the client's
 * messages reach the callback it set with cp_stream_read, one read in
 * flight at a time. Each message is decoded as a request is (size cap,
 * decode budget) and freed when the callback returns; the next read starts
 * only then, and only while the stream's send queue has room, so a slow
 * callback or a client that does not read what it is sent holds the client
 * back through HTTP/2 flow control instead of a queue growing here. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/server_reply.h"
#include "transport/stream_internal.h"

#define STREAM_OF_READ(tagp) \
  ((cp_stream *)((char *)(tagp)-offsetof(cp_stream, read_tag)))

static void on_read_done(cp_tag *tag, bool ok);

/* With the lock held: posts the next RECV_MESSAGE. */
static void start_read_locked(cp_stream *s) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &s->read_bb;
  s->read_tag.on_done = on_read_done;
  s->pending_ops++;
  if (grpc_call_start_batch(s->call->gcall, &op, 1, &s->read_tag, NULL) !=
      GRPC_CALL_OK) {
    s->pending_ops--;
    s->closed = true;
    s->read_paused = true; /* the common tail ends reading */
  }
}

/* Decodes the message in `bb` into the call's request slot. On failure
 * the call is cancelled with the reason, which reaches the client, and the
 * holder learns of it through the done callback. */
static ProtobufCMessage *decode_or_cancel(cp_stream *s, grpc_byte_buffer *bb) {
  cp_call *call = s->call;
  call->payload = bb;
  ProtobufCMessage *msg = NULL;
  cp_status_code code = cpi_call_decode_request(call, &msg);
  if (code == CP_STATUS_OK) {
    return msg;
  }
  grpc_call_cancel_with_status(call->gcall, (grpc_status_code)code,
                               call->status.message, NULL);
  pthread_mutex_lock(&s->mu);
  s->closed = true; /* nothing more can be delivered */
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* With the lock held: whether a message sent now would be refused. */
static bool send_queue_full(const cp_stream *s) {
  return s->queued_messages >= s->max_messages ||
         s->queued_bytes >= s->max_bytes;
}

/* With the lock held: the next read, or a pause — while the send queue is
 * full, or for good once the call ended or was answered, in which case the
 * common tail (cpi_stream_after_event_locked_then_unlock) gives the reader
 * its final NULL. */
static void continue_reading_locked(cp_stream *s) {
  if (s->closed || s->finishing || send_queue_full(s)) {
    s->read_paused = true;
    return;
  }
  start_read_locked(s);
}

void cpi_stream_resume_read_locked(cp_stream *s) {
  if (s->read_paused && !send_queue_full(s)) {
    s->read_paused = false;
    continue_reading_locked(s);
  }
}

static void on_read_done(cp_tag *tag, bool ok) {
  cp_stream *s = STREAM_OF_READ(tag);
  pthread_mutex_lock(&s->mu);
  grpc_byte_buffer *bb = s->read_bb;
  s->read_bb = NULL;
  /* Nothing is delivered once the call ended or its answer was decided. A
   * failed read means the call is over (a half-close reads OK, empty), so
   * the reader's NULL and the holder's done callback say so at once. */
  bool deliver = ok && !s->closed && !s->finishing;
  if (!ok) {
    s->closed = true;
  }
  pthread_mutex_unlock(&s->mu);

  /* Every way out of reading ends with one NULL: the client half-closed,
   * the call ended, or a message was refused. */
  bool more = false;
  ProtobufCMessage *msg = NULL;
  if (deliver && bb != NULL) {
    msg = decode_or_cancel(s, bb);
  } else if (bb != NULL) {
    grpc_byte_buffer_destroy(bb);
  }
  s->read_invoke(s->read_fn, s, msg, s->read_user);
  if (msg != NULL) {
    cpi_call_release_request(s->call);
    more = true;
  }

  pthread_mutex_lock(&s->mu);
  s->pending_ops--; /* held through the callback: the stream stays valid */
  if (more) {
    continue_reading_locked(s);
  }
  cpi_stream_after_event_locked_then_unlock(s, 0);
}

/* Calls a cp_stream_message_fn stored type-erased by cp_stream_read. */
static void invoke_untyped(cp_generic_fn fn, cp_stream *stream,
                           const ProtobufCMessage *msg, void *user) {
  ((cp_stream_message_fn)fn)(stream, msg, user);
}

static bool reads_client_messages(const cp_method_desc *m) {
  return m->kind == CP_METHOD_CLIENT_STREAMING ||
         m->kind == CP_METHOD_BIDI_STREAMING;
}

static int start_reading(cp_stream *stream, cp_generic_fn fn,
                         cp_message_handler_invoke_fn invoke, void *user) {
  pthread_mutex_lock(&stream->mu);
  if (stream->reading) {
    pthread_mutex_unlock(&stream->mu);
    return CP_ESTATE;
  }
  stream->reading = true;
  stream->read_fn = fn;
  stream->read_invoke = invoke;
  stream->read_user = user;
  continue_reading_locked(stream);
  /* When the call is already over, the reader gets its NULL here. */
  cpi_stream_after_event_locked_then_unlock(stream, 0);
  return 0;
}

int cp_stream_read(cp_stream *stream, cp_stream_message_fn fn, void *user) {
  if (stream == NULL || fn == NULL ||
      !reads_client_messages(stream->call->rm->desc)) {
    return CP_EINVAL;
  }
  return start_reading(stream, (cp_generic_fn)fn, invoke_untyped, user);
}

int cp_stream_read_typed(cp_stream *stream, const cp_method_desc *method,
                         cp_generic_fn fn, void *user) {
  if (stream == NULL || method == NULL || fn == NULL ||
      stream->call->rm->desc != method || !reads_client_messages(method) ||
      method->message_invoke == NULL) {
    return CP_EINVAL;
  }
  return start_reading(stream, fn, method->message_invoke, user);
}

void cpi_serve_duplex(cp_call *call) {
  cp_stream *s = cpi_stream_open(call);
  if (s == NULL) {
    cpi_call_reply_status(call, CP_STATUS_RESOURCE_EXHAUSTED);
    return;
  }
  cpi_stream_run_handler(s, NULL);
}
