/* Client side of client-streaming and bidirectional calls: the start sends
 * only the metadata; messages follow one at a time, each send waiting for
 * the previous one to leave (HTTP/2 flow control is the backpressure), and
 * the half-close ends the sending side. Responses are read as for
 * server-streaming calls (client_stream.c), possibly on another thread. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_stream_internal.h"
#include "transport/codec.h"

static bool is_duplex_kind(cp_method_kind kind) {
  return kind == CP_METHOD_CLIENT_STREAMING || kind == CP_METHOD_BIDI_STREAMING;
}

int cpi_transport_duplex_open(cp_invocation *inv) {
  cp_client_stream *s = cpi_client_stream_alloc(
      inv->client, inv->method, inv->out_trailers, inv->deadline_ns);
  if (s == NULL) {
    cp_status_set(&inv->status, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  op.data.send_initial_metadata.count = inv->metadata_count;
  op.data.send_initial_metadata.metadata = inv->metadata;
  grpc_call_error e1 =
      grpc_call_start_batch(s->gcall, &op, 1, &s->start_tag, NULL);
  grpc_call_error e2 = cpi_client_stream_start_status(s, &s->status_tag);
  if (e1 != GRPC_CALL_OK || e2 != GRPC_CALL_OK) {
    cpi_client_stream_abandon(s, e1, e2);
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call");
    return CP_ERPC;
  }
  /* Waiting for the metadata to leave tells an unreachable target (its
   * status, e.g. UNAVAILABLE) while nothing was sent, so an interceptor
   * may still try again. */
  if (!cpi_client_stream_pluck(s, &s->start_tag)) {
    int rc = cpi_client_stream_await_status(s);
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

/* The checks shared by send and close_send (send_mu held): 0 when the
 * sending side is open, else the code to return. */
static int check_sendable(cp_client_stream *s) {
  if (s->half_closed) {
    return CP_ESTATE;
  }
  if (s->send_failed || atomic_load(&s->ended)) {
    return CP_ECLOSED;
  }
  return 0;
}

int cp_client_stream_send(cp_client_stream *stream,
                          const ProtobufCMessage *msg) {
  if (stream == NULL || msg == NULL || !is_duplex_kind(stream->method->kind) ||
      msg->descriptor != stream->method->request_type) {
    return CP_EINVAL;
  }
  cp_client_stream *s = stream;
  if (s->async != NULL) {
    int wait_rc = cpi_astream_wait_open(s);
    if (wait_rc != 0) {
      return wait_rc;
    }
  }
  pthread_mutex_lock(&s->send_mu);
  int rc = check_sendable(s);
  grpc_byte_buffer *bb = NULL;
  if (rc == 0) {
    rc = cpi_codec_encode(msg, s->client->opts.max_message_bytes, &bb);
  }
  /* The previous message must have left before the next may start: this
   * wait is where a slow server slows its sender. The call's deadline and
   * cancellation fail the pending batch, so it cannot outlast them. */
  if (rc == 0 && !cpi_client_stream_settle_send(s)) {
    rc = CP_ECLOSED;
  }
  if (rc == 0) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    if (cpi_client_stream_start_batch(s, &op, 1, &s->send_tag) ==
        GRPC_CALL_OK) {
      s->send_pending = true;
      s->send_bb = bb; /* gRPC reads it until the batch completed */
      bb = NULL;
    } else {
      s->send_failed = true;
      rc = CP_ECLOSED;
    }
  }
  if (bb != NULL) {
    grpc_byte_buffer_destroy(bb);
  }
  pthread_mutex_unlock(&s->send_mu);
  return rc;
}

int cp_client_stream_close_send(cp_client_stream *stream) {
  if (stream == NULL || !is_duplex_kind(stream->method->kind)) {
    return CP_EINVAL;
  }
  cp_client_stream *s = stream;
  if (s->async != NULL) {
    int wait_rc = cpi_astream_wait_open(s);
    if (wait_rc != 0) {
      return wait_rc;
    }
  }
  pthread_mutex_lock(&s->send_mu);
  int rc = check_sendable(s);
  if (rc == 0 && !cpi_client_stream_settle_send(s)) {
    rc = CP_ECLOSED;
  }
  if (rc == 0) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (cpi_client_stream_start_batch(s, &op, 1, &s->close_tag) !=
            GRPC_CALL_OK ||
        !cpi_client_stream_pluck(s, &s->close_tag)) {
      s->send_failed = true;
      rc = CP_ECLOSED;
    } else {
      s->half_closed = true;
    }
  }
  pthread_mutex_unlock(&s->send_mu);
  return rc;
}
