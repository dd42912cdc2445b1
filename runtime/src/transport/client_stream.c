/* Client streams: their lifecycle and reading side (any kind), and the start
 * of server-streaming calls: a private queue per stream, one receive at a
 * time, the status received once the server ends the stream. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_stream_internal.h"
#include "transport/codec.h"
#include "transport/trailers_internal.h"

grpc_call_error cpi_client_stream_start_batch(cp_client_stream *s,
                                              const grpc_op *ops, size_t n,
                                              void *tag) {
  if (s->async != NULL) {
    return cpi_astream_start_batch(s, ops, n, tag);
  }
  return grpc_call_start_batch(s->gcall, ops, n, tag, NULL);
}

bool cpi_client_stream_pluck(cp_client_stream *s, cpi_wait_tag *tag) {
  if (s->async != NULL) {
    return cpi_astream_wait_tag(s, tag);
  }
  return cpi_client_wait(s->client, s->cq, tag);
}

int cpi_client_stream_await_status(cp_client_stream *s) {
  cpi_client_stream_pluck(s, &s->status_tag);
  cpi_status_from_grpc(&s->final, s->code, s->details);
  if (s->out_trailers != NULL) {
    cpi_trailers_fill(s->out_trailers, &s->trailing_md);
  }
  s->end_rc = s->final.code == CP_STATUS_OK ? 0 : CP_ERPC;
  atomic_store(&s->ended, true);
  return s->end_rc;
}

void cpi_client_stream_abandon(cp_client_stream *s, grpc_call_error start,
                               grpc_call_error status) {
  /* Neither batch can be pending in a usable way: cancel and drain. */
  grpc_call_cancel(s->gcall, NULL);
  if (start == GRPC_CALL_OK) {
    cpi_client_stream_pluck(s, &s->start_tag);
  }
  if (status == GRPC_CALL_OK) {
    cpi_client_stream_pluck(s, &s->status_tag);
  }
  cpi_client_stream_free(s);
}

bool cpi_client_stream_settle_send(cp_client_stream *s) {
  if (s->send_pending) {
    s->send_pending = false;
    if (!cpi_client_stream_pluck(s, &s->send_tag)) {
      s->send_failed = true;
    }
    grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
  }
  return !s->send_failed;
}

int cpi_transport_stream_start(cp_invocation *inv) {
  cp_client *c = inv->client;
  grpc_byte_buffer *req_bb = NULL;
  int rc = cpi_codec_encode(inv->request, c->opts.max_message_bytes, &req_bb);
  if (rc != 0) {
    cp_status_set(
        &inv->status,
        rc == CP_ETOOBIG ? CP_STATUS_RESOURCE_EXHAUSTED : CP_STATUS_INTERNAL,
        "cannot encode request: %s", cp_strerror(rc));
    return rc;
  }
  cp_client_stream *s = cpi_client_stream_alloc(
      c, inv->method, inv->out_trailers, inv->deadline_ns);
  if (s == NULL) {
    grpc_byte_buffer_destroy(req_bb);
    cp_status_set(&inv->status, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = inv->metadata_count;
  ops[0].data.send_initial_metadata.metadata = inv->metadata;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req_bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  grpc_call_error e1 =
      grpc_call_start_batch(s->gcall, ops, 3, &s->start_tag, NULL);
  grpc_call_error e2 = cpi_client_stream_start_status(s, &s->status_tag);
  if (e1 != GRPC_CALL_OK || e2 != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(req_bb);
    cpi_client_stream_abandon(s, e1, e2);
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call");
    return CP_ERPC;
  }
  bool sent = cpi_client_stream_pluck(s, &s->start_tag);
  grpc_byte_buffer_destroy(req_bb);
  if (!sent) {
    /* The request could not be sent: the status says why. */
    rc = cpi_client_stream_await_status(s);
    inv->status = s->final;
    cpi_invocation_keep_trailers(inv, &s->trailing_md);
    cpi_client_stream_free(s);
    return rc == 0 ? CP_ERPC : rc;
  }
  if (cpi_client_stream_link(s)) {
    cp_client_stream_cancel(s);
  }
  inv->stream = s;
  return 0;
}

/* Receives one message: 1 with *msg, or the end (0 or CP_ERPC, with the final
 * status in s->final). recv_mu held. */
static int receive(cp_client_stream *s, ProtobufCMessage **msg) {
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!s->initial_md_requested) {
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    n++;
    s->initial_md_requested = true;
  }
  grpc_byte_buffer *bb = NULL;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = &bb;
  n++;
  if (grpc_call_start_batch(s->gcall, ops, n, &s->recv_tag, NULL) ==
      GRPC_CALL_OK) {
    cpi_client_stream_pluck(s, &s->recv_tag);
  }
  if (bb == NULL) {
    return cpi_client_stream_await_status(s);
  }
  int rc = cpi_codec_decode(bb, s->method->response_type, NULL, msg);
  grpc_byte_buffer_destroy(bb);
  if (rc != 0) {
    *msg = NULL;
    grpc_call_cancel_with_status(s->gcall, GRPC_STATUS_INTERNAL,
                                 "response does not decode", NULL);
    cpi_client_stream_await_status(s);
    cp_status_set(&s->final, CP_STATUS_INTERNAL,
                  "response does not decode as %s",
                  s->method->response_type->name);
    s->end_rc = CP_ERPC;
    return CP_ERPC;
  }
  return 1;
}

static bool is_duplex(const cp_client_stream *s) {
  return s->method->kind == CP_METHOD_CLIENT_STREAMING ||
         s->method->kind == CP_METHOD_BIDI_STREAMING;
}

int cpi_client_stream_await_first(cp_client_stream *s, cp_status *status) {
  cp_status_clear(status);
  if (is_duplex(s)) {
    /* The answer may depend on messages that cannot be sent before the
     * start returned: waiting here could only run into the deadline. */
    return 0;
  }
  pthread_mutex_lock(&s->recv_mu);
  int rc = 0;
  if (s->first == NULL) {
    rc = atomic_load(&s->ended) ? s->end_rc : receive(s, &s->first);
    if (rc == 1) {
      rc = 0;
    } else {
      *status = s->final;
    }
  }
  pthread_mutex_unlock(&s->recv_mu);
  return rc;
}

const grpc_metadata_array *cpi_client_stream_trailers(
    const cp_client_stream *stream) {
  return &stream->trailing_md;
}

int cp_client_stream_next(cp_client_stream *s, ProtobufCMessage **msg,
                          cp_status *status) {
  if (s == NULL || msg == NULL || status == NULL) {
    return CP_EINVAL;
  }
  *msg = NULL;
  if (s->async != NULL) {
    cp_status_set(status, CP_STATUS_FAILED_PRECONDITION,
                  "the stream is read by its callback");
    return CP_ESTATE;
  }
  pthread_mutex_lock(&s->recv_mu);
  int rc;
  if (s->first != NULL) {
    *msg = s->first;
    s->first = NULL;
    rc = 1;
  } else if (atomic_load(&s->ended)) {
    rc = s->end_rc;
  } else {
    rc = receive(s, msg);
  }
  /* Inside: 1 a message, 0 the end, < 0 an error; outside, one type. */
  if (rc == 1) {
    cp_status_clear(status);
    rc = 0;
  } else {
    *status = s->final;
    rc = rc == 0 ? CP_EEND : rc;
  }
  pthread_mutex_unlock(&s->recv_mu);
  return rc;
}

void cp_client_stream_cancel(cp_client_stream *stream) {
  if (stream != NULL && stream->async != NULL) {
    cpi_astream_cancel(stream);
  } else if (stream != NULL && stream->gcall != NULL) {
    grpc_call_cancel(stream->gcall, NULL);
  }
}

void cp_client_stream_destroy(cp_client_stream *stream) {
  if (stream == NULL) {
    return;
  }
  if (stream->async != NULL) {
    cpi_astream_destroy(stream);
    return;
  }
  cpi_client_stream_unlink(stream);
  if (!atomic_load(&stream->ended) || stream->send_pending) {
    grpc_call_cancel(stream->gcall, NULL);
  }
  if (!atomic_load(&stream->ended)) {
    cpi_client_stream_await_status(stream);
  }
  /* A message sent last may still await its completion: the queue must be
   * drained before it is destroyed. */
  cpi_client_stream_settle_send(stream);
  cpi_client_stream_free(stream);
}
