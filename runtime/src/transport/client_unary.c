/* Unary calls on the channel: the one batch a unary call is (shared by the
 * blocking and the asynchronous path), and the blocking attempt, which runs
 * it on a private queue. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/trailers_internal.h"
#include "transport/codec.h"

void cpi_unary_batch_init(cp_unary_batch *b) {
  memset(b, 0, sizeof *b);
  grpc_metadata_array_init(&b->initial_md);
  grpc_metadata_array_init(&b->trailing_md);
  b->code = GRPC_STATUS_UNKNOWN;
  b->details = grpc_empty_slice();
}

grpc_call_error cpi_unary_batch_start(cp_unary_batch *b, grpc_call *call,
                                      const cp_invocation *inv, void *tag) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = inv->metadata_count;
  ops[0].data.send_initial_metadata.metadata = inv->metadata;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = b->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &b->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &b->response;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &b->code;
  ops[5].data.recv_status_on_client.status_details = &b->details;
  ops[5].data.recv_status_on_client.trailing_metadata = &b->trailing_md;
  return grpc_call_start_batch(call, ops, 6, tag, NULL);
}

int cpi_unary_batch_outcome(const cp_unary_batch *b,
                            const cp_method_desc *method, bool ok,
                            cp_status *st, ProtobufCMessage **resp) {
  *resp = NULL;
  if (!ok) {
    /* A unary batch that includes RECV_STATUS always succeeds; keep the
     * contract even if gRPC ever says otherwise. */
    cp_status_set(st, CP_STATUS_INTERNAL, "call batch failed");
    return CP_ERPC;
  }
  cpi_status_from_grpc(st, b->code, b->details);
  if (st->code != CP_STATUS_OK) {
    return CP_ERPC;
  }
  if (b->response == NULL ||
      cpi_codec_decode(b->response, method->response_type, NULL, resp) != 0) {
    *resp = NULL;
    cp_status_set(st, CP_STATUS_INTERNAL, "response does not decode as %s",
                  method->response_type->name);
    return CP_ERPC;
  }
  return 0;
}

void cpi_unary_batch_release(cp_unary_batch *b) {
  if (b->request != NULL) {
    grpc_byte_buffer_destroy(b->request);
  }
  if (b->response != NULL) {
    grpc_byte_buffer_destroy(b->response);
  }
  grpc_metadata_array_destroy(&b->initial_md);
  grpc_metadata_array_destroy(&b->trailing_md);
  grpc_slice_unref(b->details);
}

int cpi_transport_unary(cp_invocation *inv) {
  cp_client *c = inv->client;
  cp_unary_batch b;
  cpi_unary_batch_init(&b);
  int rc =
      cpi_codec_encode(inv->request, c->opts.max_message_bytes, &b.request);
  if (rc != 0) {
    cp_status_set(
        &inv->status,
        rc == CP_ETOOBIG ? CP_STATUS_RESOURCE_EXHAUSTED : CP_STATUS_INTERNAL,
        "cannot encode request: %s", cp_strerror(rc));
    cpi_unary_batch_release(&b);
    return rc;
  }
  grpc_completion_queue *cq = cpi_client_cq_create(c);
  grpc_slice path = grpc_slice_from_static_string(inv->method->path);
  grpc_call *call = cpi_client_open_call(c, NULL, cq, path,
                                         cpi_grpc_deadline(inv->deadline_ns));
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  cpi_wait_tag tag;
  cpi_wait_tag_init(&tag, &mu, &cv);
  grpc_call_error err = cpi_unary_batch_start(&b, call, inv, &tag);
  if (err == GRPC_CALL_OK) {
    bool ok = cpi_client_wait(c, cq, &tag);
    rc = cpi_unary_batch_outcome(&b, inv->method, ok, &inv->status,
                                 &inv->response);
    cpi_invocation_keep_trailers(inv, &b.trailing_md);
    if (inv->out_trailers != NULL) {
      cpi_trailers_fill(inv->out_trailers, &b.trailing_md);
    }
  } else {
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call (%d)",
                  (int)err);
    rc = CP_ERPC;
  }
  cpi_unary_batch_release(&b);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  return rc;
}
