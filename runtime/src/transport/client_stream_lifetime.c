/* A client stream's allocation and its place in the client's list of open
 * streams, which cp_client_close cancels. Shared by blocking
 * (client_stream.c, client_duplex.c) and asynchronous streams
 * (client_stream_async.c), below both. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "transport/client_internal.h"
#include "transport/client_stream_internal.h"

cp_client_stream *cpi_client_stream_next_open(cp_client_stream *stream) {
  return stream->next_open;
}

bool cpi_client_stream_link(cp_client_stream *s) {
  cp_client *c = s->client;
  pthread_mutex_lock(&c->mu);
  s->next_open = c->streams;
  if (c->streams != NULL) {
    c->streams->prev_open = s;
  }
  c->streams = s;
  /* cp_client_close may have run since the start checked `closed`. */
  bool closed = atomic_load(&c->closed);
  pthread_mutex_unlock(&c->mu);
  return closed;
}

void cpi_client_stream_unlink(cp_client_stream *s) {
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

cp_client_stream *cpi_client_stream_new(cp_client *client,
                                        const cp_method_desc *method,
                                        cp_trailers *out_trailers) {
  cp_client_stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return NULL;
  }
  s->client = client;
  s->method = method;
  s->out_trailers = out_trailers;
  s->details = grpc_empty_slice();
  atomic_init(&s->ended, false);
  pthread_mutex_init(&s->recv_mu, NULL);
  pthread_mutex_init(&s->send_mu, NULL);
  pthread_mutex_init(&s->wait_mu, NULL);
  pthread_cond_init(&s->wait_cv, NULL);
  cpi_wait_tag *tags[] = {&s->start_tag, &s->recv_tag, &s->status_tag,
                          &s->send_tag, &s->close_tag};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
    cpi_wait_tag_init(tags[i], &s->wait_mu, &s->wait_cv);
  }
  grpc_metadata_array_init(&s->initial_md);
  grpc_metadata_array_init(&s->trailing_md);
  return s;
}

cp_client_stream *cpi_client_stream_alloc(cp_client *client,
                                          const cp_method_desc *method,
                                          cp_trailers *out_trailers,
                                          int64_t deadline_ns) {
  cp_client_stream *s = cpi_client_stream_new(client, method, out_trailers);
  if (s == NULL) {
    return NULL;
  }
  s->cq = cpi_client_cq_create(client);
  grpc_slice path = grpc_slice_from_static_string(method->path);
  s->gcall = cpi_client_open_call(client, NULL, s->cq, path,
                                  cpi_grpc_deadline(deadline_ns));
  return s;
}

grpc_call_error cpi_client_stream_start_status(cp_client_stream *s, void *tag) {
  grpc_op st;
  memset(&st, 0, sizeof st);
  st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  st.data.recv_status_on_client.status = &s->code;
  st.data.recv_status_on_client.status_details = &s->details;
  st.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
  return grpc_call_start_batch(s->gcall, &st, 1, tag, NULL);
}

void cpi_client_stream_free(cp_client_stream *s) {
  if (s->first != NULL) {
    protobuf_c_message_free_unpacked(s->first, NULL);
  }
  grpc_metadata_array_destroy(&s->initial_md);
  grpc_metadata_array_destroy(&s->trailing_md);
  grpc_slice_unref(s->details);
  if (s->gcall != NULL) {
    grpc_call_unref(s->gcall);
  }
  if (s->cq != NULL) {
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_destroy(s->cq);
  }
  pthread_mutex_destroy(&s->recv_mu);
  pthread_mutex_destroy(&s->send_mu);
  pthread_mutex_destroy(&s->wait_mu);
  pthread_cond_destroy(&s->wait_cv);
  free(s);
}
