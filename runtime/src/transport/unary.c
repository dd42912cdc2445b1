/* Serving unary calls and answering unknown methods. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/codec.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

cp_status_code cpi_call_run_unary(cp_call *call, grpc_byte_buffer **out) {
  ProtobufCMessage *req = NULL;
  cp_status_code code = cpi_call_decode_request(call, &req);
  if (code != CP_STATUS_OK) {
    return code;
  }
  const cp_method_desc *m = call->rm->desc;
  ProtobufCMessage *resp =
      cp_call_alloc(call, m->response_type->sizeof_message);
  if (resp == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  m->response_type->message_init(resp);
  call->in_handler = true;
  code = m->unary_invoke(call->rm->handler, call, req, resp, call->rm->user);
  call->in_handler = false;
  if (call->stream != NULL) {
    return CP_STATUS_OK; /* deferred: the value returned is not used */
  }
  if (!cpi_status_is_wire(code)) {
    return cp_call_error(call, CP_STATUS_INTERNAL,
                         "handler returned an invalid status");
  }
  if (code != CP_STATUS_OK) {
    call->status.code = code;
    return code;
  }
  int rc = cpi_codec_encode(resp, call->server->opts.max_message_bytes, out);
  if (rc == CP_ETOOBIG) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                         "response larger than the %zu-byte limit",
                         call->server->opts.max_message_bytes);
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "cannot encode response");
  }
  return CP_STATUS_OK;
}

void cpi_serve_unary(cp_call *call) {
  grpc_byte_buffer *resp = NULL;
  cp_status_code code = cpi_call_run_unary(call, &resp);
  /* The response is encoded, or the handler deferred and copied what it
   * keeps: nothing refers to the request any more. */
  cpi_call_release_request(call);
  if (call->stream != NULL) {
    cpi_stream_deferred_handler_returned(call->stream);
    return;
  }
  cpi_call_send_final(call, code, resp);
}

void cpi_serve_unknown(cp_call *call) {
  cp_status_code code = cpi_call_run_interceptors(call);
  const cp_server *s = call->server;
  if (code == CP_STATUS_OK && s->fallback != NULL) {
    call->in_fallback = true;
    code = s->fallback(call, s->fallback_user);
    call->in_fallback = false;
    if (call->forward != NULL) {
      cpi_forward_start(call); /* forwarded: the value returned is not used */
      return;
    }
    if (!cpi_status_is_wire(code)) {
      code = cp_call_error(call, CP_STATUS_INTERNAL,
                           "fallback returned an invalid status");
    }
  } else if (code == CP_STATUS_OK) {
    code = cp_call_error(call, CP_STATUS_UNIMPLEMENTED, "unknown method %s",
                         call->path);
  }
  cpi_call_send_final(call, code, NULL);
}

void cpi_call_reply_status(cp_call *call, cp_status_code code) {
  call->status.code = code;
  cpi_call_send_final(call, code, NULL);
}
