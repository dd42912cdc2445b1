/* One unary attempt on the channel: a single batch on a private queue. */
#include <grpc/grpc.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/codec.h"

int cp_transport_unary(cp_invocation *inv) {
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
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice path = grpc_slice_from_static_string(inv->method->path);
  grpc_call *call = grpc_channel_create_call(
      c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL,
      cp_grpc_deadline(inv->deadline_ns), NULL);
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_byte_buffer *resp_bb = NULL;
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();

  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = inv->metadata_count;
  ops[0].data.send_initial_metadata.metadata = inv->metadata;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req_bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &resp_bb;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &code;
  ops[5].data.recv_status_on_client.status_details = &details;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;

  int tag_storage;
  grpc_call_error err = grpc_call_start_batch(call, ops, 6, &tag_storage, NULL);
  if (err == GRPC_CALL_OK) {
    grpc_completion_queue_pluck(cq, &tag_storage,
                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    cp_status_from_grpc(&inv->status, code, details);
    rc = inv->status.code == CP_STATUS_OK ? 0 : CP_ERPC;
  } else {
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call (%d)",
                  (int)err);
    rc = CP_ERPC;
  }
  if (rc == 0) {
    if (resp_bb == NULL || cp_codec_decode(resp_bb, inv->method->response_type,
                                           NULL, &inv->response) != 0) {
      cp_status_set(&inv->status, CP_STATUS_INTERNAL,
                    "response does not decode as %s",
                    inv->method->response_type->name);
      rc = CP_ERPC;
    }
  }
  if (resp_bb != NULL) {
    grpc_byte_buffer_destroy(resp_bb);
  }
  grpc_byte_buffer_destroy(req_bb);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  return rc;
}
