/* Client side of server-streaming calls: a private queue per stream, one
 * receive at a time, the status received once the server ends the stream. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_stream_internal.h"
#include "transport/codec.h"
#include "transport/trailers_internal.h"

struct cp_client_stream {
  cp_client *client;
  cp_client_stream *next_open;
  cp_client_stream *prev_open;
  const cp_method_desc *method;
  grpc_completion_queue *cq;
  grpc_call *gcall;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code code;
  grpc_slice details;
  bool initial_md_requested;
  /* The first message, received early by cp_client_stream_await_first and
   * handed out by the first cp_client_stream_next. */
  ProtobufCMessage *first;
  cp_trailers *out_trailers; /* the caller's, filled at the end */
  bool ended;
  int end_rc;
  cp_status final;
  /* Distinct addresses used as tags. */
  char start_tag;
  char recv_tag;
  char status_tag;
};

cp_client_stream *cp_client_stream_next_open(cp_client_stream *stream) {
  return stream->next_open;
}

static void link_open(cp_client_stream *s) {
  cp_client *c = s->client;
  pthread_mutex_lock(&c->mu);
  s->next_open = c->streams;
  if (c->streams != NULL) {
    c->streams->prev_open = s;
  }
  c->streams = s;
  pthread_mutex_unlock(&c->mu);
}

static void unlink_open(cp_client_stream *s) {
  cp_client *c = s->client;
  pthread_mutex_lock(&c->mu);
  if (s->prev_open != NULL) {
    s->prev_open->next_open = s->next_open;
  } else if (c->streams == s) {
    c->streams = s->next_open;
  }
  if (s->next_open != NULL) {
    s->next_open->prev_open = s->prev_open;
  }
  s->next_open = NULL;
  s->prev_open = NULL;
  pthread_mutex_unlock(&c->mu);
}

static void pluck(cp_client_stream *s, void *tag) {
  grpc_completion_queue_pluck(s->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                              NULL);
}

/* Waits for the final status and records the end of the stream. */
static int finish_with_status(cp_client_stream *s) {
  pluck(s, &s->status_tag);
  cp_status_from_grpc(&s->final, s->code, s->details);
  if (s->out_trailers != NULL) {
    cp_trailers_fill(s->out_trailers, &s->trailing_md);
  }
  s->ended = true;
  s->end_rc = s->final.code == CP_STATUS_OK ? 0 : CP_ERPC;
  return s->end_rc;
}

static void stream_free(cp_client_stream *s) {
  if (s->first != NULL) {
    protobuf_c_message_free_unpacked(s->first, NULL);
  }
  grpc_metadata_array_destroy(&s->initial_md);
  grpc_metadata_array_destroy(&s->trailing_md);
  grpc_slice_unref(s->details);
  if (s->gcall != NULL) {
    grpc_call_unref(s->gcall);
  }
  grpc_completion_queue_shutdown(s->cq);
  grpc_completion_queue_destroy(s->cq);
  free(s);
}

int cp_transport_stream_start(cp_invocation *inv) {
  cp_client *c = inv->client;
  grpc_byte_buffer *req_bb = NULL;
  int rc = cp_codec_encode(inv->request, c->opts.max_message_bytes, &req_bb);
  if (rc != 0) {
    cp_status_set(
        &inv->status,
        rc == CP_ETOOBIG ? CP_STATUS_RESOURCE_EXHAUSTED : CP_STATUS_INTERNAL,
        "cannot encode request: %s", cp_strerror(rc));
    return rc;
  }
  cp_client_stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    grpc_byte_buffer_destroy(req_bb);
    cp_status_set(&inv->status, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  s->client = c;
  s->method = inv->method;
  s->out_trailers = inv->out_trailers;
  s->details = grpc_empty_slice();
  grpc_metadata_array_init(&s->initial_md);
  grpc_metadata_array_init(&s->trailing_md);
  s->cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice path = grpc_slice_from_static_string(inv->method->path);
  s->gcall = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                      s->cq, path, NULL,
                                      cp_grpc_deadline(inv->deadline_ns), NULL);

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
  grpc_op st;
  memset(&st, 0, sizeof st);
  st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  st.data.recv_status_on_client.status = &s->code;
  st.data.recv_status_on_client.status_details = &s->details;
  st.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
  grpc_call_error e2 =
      grpc_call_start_batch(s->gcall, &st, 1, &s->status_tag, NULL);
  if (e1 != GRPC_CALL_OK || e2 != GRPC_CALL_OK) {
    /* Neither batch can be pending in a usable way: cancel and drain. */
    grpc_call_cancel(s->gcall, NULL);
    if (e1 == GRPC_CALL_OK) {
      pluck(s, &s->start_tag);
    }
    if (e2 == GRPC_CALL_OK) {
      pluck(s, &s->status_tag);
    }
    grpc_byte_buffer_destroy(req_bb);
    stream_free(s);
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call");
    return CP_ERPC;
  }
  grpc_event ev = grpc_completion_queue_pluck(
      s->cq, &s->start_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_byte_buffer_destroy(req_bb);
  if (!ev.success) {
    /* The request could not be sent: the status says why. */
    rc = finish_with_status(s);
    inv->status = s->final;
    cp_invocation_keep_trailers(inv, &s->trailing_md);
    stream_free(s);
    return rc == 0 ? CP_ERPC : rc;
  }
  link_open(s);
  inv->stream = s;
  return 0;
}

/* Receives one message: 1 with *msg, or the end (0 or CP_ERPC, with the final
 * status in s->final). */
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
    pluck(s, &s->recv_tag);
  }
  if (bb == NULL) {
    return finish_with_status(s);
  }
  int rc = cp_codec_decode(bb, s->method->response_type, NULL, msg);
  grpc_byte_buffer_destroy(bb);
  if (rc != 0) {
    *msg = NULL;
    grpc_call_cancel_with_status(s->gcall, GRPC_STATUS_INTERNAL,
                                 "response does not decode", NULL);
    finish_with_status(s);
    cp_status_set(&s->final, CP_STATUS_INTERNAL,
                  "response does not decode as %s",
                  s->method->response_type->name);
    s->end_rc = CP_ERPC;
    return CP_ERPC;
  }
  return 1;
}

int cp_client_stream_await_first(cp_client_stream *s, cp_status *status) {
  if (s->first != NULL) {
    cp_status_clear(status);
    return 0;
  }
  if (s->ended) {
    *status = s->final;
    return s->end_rc;
  }
  int rc = receive(s, &s->first);
  if (rc == 1) {
    cp_status_clear(status);
    return 0;
  }
  *status = s->final;
  return rc;
}

const grpc_metadata_array *cp_client_stream_trailers(
    const cp_client_stream *stream) {
  return &stream->trailing_md;
}

int cp_client_stream_next(cp_client_stream *s, ProtobufCMessage **msg,
                          cp_status *status) {
  if (s == NULL || msg == NULL || status == NULL) {
    return CP_EINVAL;
  }
  *msg = NULL;
  if (s->first != NULL) {
    *msg = s->first;
    s->first = NULL;
    cp_status_clear(status);
    return 1;
  }
  if (s->ended) {
    *status = s->final;
    return s->end_rc;
  }
  int rc = receive(s, msg);
  if (rc == 1) {
    cp_status_clear(status);
  } else {
    *status = s->final;
  }
  return rc;
}

void cp_client_stream_cancel(cp_client_stream *stream) {
  if (stream != NULL && stream->gcall != NULL) {
    grpc_call_cancel(stream->gcall, NULL);
  }
}

void cp_client_stream_destroy(cp_client_stream *stream) {
  if (stream == NULL) {
    return;
  }
  unlink_open(stream);
  if (!stream->ended) {
    grpc_call_cancel(stream->gcall, NULL);
    finish_with_status(stream);
  }
  stream_free(stream);
}
