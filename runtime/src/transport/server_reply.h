/* Sending the final answer of a unary call (internal). */
#ifndef CPLUGIN_TRANSPORT_SERVER_REPLY_H
#define CPLUGIN_TRANSPORT_SERVER_REPLY_H

#include <grpc/grpc.h>

#include "transport/server_internal.h"

/* Sends initial metadata, `resp` (may be NULL; ownership passes) and the
 * status `code` with the call's message and trailers in one batch; when the
 * batch completes, runs the post-call hooks and frees the call. */
void cpi_call_send_final(cp_call *call, cp_status_code code,
                         grpc_byte_buffer *resp);

/* Decodes the request payload (request_decode.c): RESOURCE_EXHAUSTED over
 * the method's size cap or decode budget, INVALID_ARGUMENT when it does not
 * decode (the call's status is set). Frees the wire bytes either way. */
cp_status_code cpi_call_decode_request(cp_call *call,
                                       ProtobufCMessage **request);

/* Frees the decoded request (after the handler returned). Idempotent. */
void cpi_call_release_request(cp_call *call);

/* Fills a SEND_STATUS_FROM_SERVER op from the call's status and trailers. */
void cpi_call_fill_status_op(cp_call *call, grpc_op *op, grpc_slice *details);

#endif /* CPLUGIN_TRANSPORT_SERVER_REPLY_H */
