/* The final batch of a unary call. */
#include "transport/server_reply.h"

#include <string.h>

typedef struct reply_ctx {
  cp_tag tag;
  cp_call *call;
  grpc_byte_buffer *resp;
  cp_status_code sent;
  grpc_slice details;
} reply_ctx;

void cpi_call_fill_status_op(cp_call *call, grpc_op *op, grpc_slice *details) {
  *details = grpc_slice_from_static_buffer(call->status.message,
                                           strlen(call->status.message));
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op->data.send_status_from_server.status = (grpc_status_code)call->status.code;
  op->data.send_status_from_server.status_details = details;
  op->data.send_status_from_server.trailing_metadata_count =
      call->trailer_count;
  op->data.send_status_from_server.trailing_metadata = call->trailers;
}

static void on_reply_done(cp_tag *tag, bool ok) {
  reply_ctx *ctx = (reply_ctx *)tag;
  cp_call *call = ctx->call;
  cpi_call_run_post_hooks(call, cpi_call_final_code(call, ctx->sent, ok));
  if (ctx->resp != NULL) {
    grpc_byte_buffer_destroy(ctx->resp);
  }
  cpi_call_free(call);
}

void cpi_call_send_final(cp_call *call, cp_status_code code,
                         grpc_byte_buffer *resp) {
  /* The context lives in per-call memory, freed with the call. */
  reply_ctx *ctx = cp_call_alloc(call, sizeof *ctx);
  if (ctx == NULL) {
    if (resp != NULL) {
      grpc_byte_buffer_destroy(resp);
    }
    grpc_call_cancel(call->gcall, NULL);
    cpi_call_run_post_hooks(call, CP_STATUS_RESOURCE_EXHAUSTED);
    cpi_call_free(call);
    return;
  }
  ctx->tag.on_done = on_reply_done;
  ctx->call = call;
  ctx->resp = resp;
  ctx->sent = code;
  call->status.code = code;

  grpc_op ops[4];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  n++;
  if (resp != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = resp;
    n++;
  }
  cpi_call_fill_status_op(call, &ops[n], &ctx->details);
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &call->close_cancelled;
  n++;
  grpc_call_error err =
      grpc_call_start_batch(call->gcall, ops, n, &ctx->tag, NULL);
  if (err != GRPC_CALL_OK) {
    on_reply_done(&ctx->tag, false);
  }
}
