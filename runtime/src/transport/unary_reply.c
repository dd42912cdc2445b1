/* One-message answers: deferred unary replies (cp_call_defer: a unary call
 * whose handler returned without answering is a server stream that carries
 * one message, held by whoever got the cp_unary_reply) and the reply of a
 * client-streaming call (cp_stream_reply). */
#include <grpc/grpc.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cplugin/errors.h"
#include "transport/codec.h"
#include "transport/stream_internal.h"

cp_unary_reply *cp_call_defer(cp_call *call) {
  if (call == NULL || call->rm == NULL ||
      call->rm->desc->kind != CP_METHOD_UNARY || !call->in_handler ||
      call->stream != NULL || call->detached) {
    return NULL;
  }
  cp_stream *s = cpi_stream_open(call);
  if (s == NULL) {
    return NULL;
  }
  pthread_mutex_lock(&s->mu);
  s->unary = true;
  s->in_handler = true;
  s->kept = true;
  s->refs++; /* the holder's */
  pthread_mutex_unlock(&s->mu);
  return cp_stream_as_reply(s);
}

void cpi_stream_deferred_handler_returned(cp_stream *stream) {
  pthread_mutex_lock(&stream->mu);
  stream->in_handler = false;
  cpi_stream_after_event_locked_then_unlock(stream, 1);
}

static int fail_reply(cp_stream *s, cp_status_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = cpi_stream_answer(s, NULL, code, fmt, &ap);
  va_end(ap);
  return rc;
}

/* Answers `s` with `resp` and OK; a message that cannot go answers with
 * the error instead. */
static int answer_with(cp_stream *s, const ProtobufCMessage *resp) {
  if (resp == NULL || resp->descriptor != s->call->rm->desc->response_type) {
    int rc = fail_reply(s, CP_STATUS_INTERNAL,
                        "handler answered with a message of the wrong type");
    return rc == 0 ? CP_EINVAL : rc;
  }
  out_msg *om = malloc(sizeof *om);
  if (om == NULL) {
    int rc = fail_reply(s, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return rc == 0 ? CP_ENOMEM : rc;
  }
  int rc = cpi_codec_encode(resp, s->max_message_bytes, &om->bb);
  if (rc != 0) {
    free(om);
    int frc = rc == CP_ETOOBIG
                  ? fail_reply(s, CP_STATUS_RESOURCE_EXHAUSTED,
                               "response larger than the %zu-byte limit",
                               s->max_message_bytes)
                  : fail_reply(s, CP_STATUS_INTERNAL, "cannot encode response");
    return frc == 0 ? rc : frc;
  }
  om->bytes = grpc_byte_buffer_length(om->bb);
  om->next = NULL;
  return cpi_stream_answer(s, om, CP_STATUS_OK, NULL, NULL);
}

int cp_unary_reply_send(cp_unary_reply *reply, const ProtobufCMessage *resp) {
  if (reply == NULL) {
    return CP_EINVAL;
  }
  return answer_with(cp_stream_of_reply(reply), resp);
}

int cp_stream_reply(cp_stream *stream, const ProtobufCMessage *resp) {
  if (stream == NULL) {
    return CP_EINVAL;
  }
  return answer_with(stream, resp);
}

int cp_unary_reply_fail(cp_unary_reply *reply, cp_status_code code,
                        const char *fmt, ...) {
  if (reply == NULL) {
    return CP_EINVAL;
  }
  cp_stream *s = cp_stream_of_reply(reply);
  if (code == CP_STATUS_OK) {
    return fail_reply(s, CP_STATUS_INTERNAL,
                      "handler answered OK without a response");
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = cpi_stream_answer(s, NULL, code, fmt, &ap);
  va_end(ap);
  return rc;
}

void cp_unary_reply_on_cancel(cp_unary_reply *reply, cp_unary_cancel_fn fn,
                              void *user) {
  if (reply == NULL) {
    return;
  }
  cp_stream *s = cp_stream_of_reply(reply);
  pthread_mutex_lock(&s->mu);
  s->cancel_fn = fn;
  s->done_user = user;
  bool notify = cpi_stream_take_done_notification(s);
  pthread_mutex_unlock(&s->mu);
  if (notify) {
    cpi_stream_notify_done(s);
    cpi_stream_unref(s, 1);
  }
}

bool cp_unary_reply_is_cancelled(const cp_unary_reply *reply) {
  return reply != NULL && cp_call_is_cancelled(cp_stream_of_reply(reply)->call);
}

cp_call *cp_unary_reply_call(cp_unary_reply *reply) {
  return reply != NULL ? cp_stream_of_reply(reply)->call : NULL;
}
