/* Sending the final answer of a unary call (internal). */
#ifndef CPLUGIN_TRANSPORT_SERVER_REPLY_H
#define CPLUGIN_TRANSPORT_SERVER_REPLY_H

#include <grpc/grpc.h>

#include "transport/server_internal.h"

/* Sends initial metadata, `resp` (may be NULL; ownership passes) and the
 * status `code` with the call's message and trailers in one batch; when the
 * batch completes, runs the post-call hooks and frees the call. */
void cp_call_send_final(cp_call *call, cp_status_code code,
                        grpc_byte_buffer *resp);

/* Decodes the request payload with per-call memory; on failure sets the call's
 * status and returns INVALID_ARGUMENT. */
cp_status_code cp_call_decode_request(cp_call *call,
                                      ProtobufCMessage **request);

/* Fills a SEND_STATUS_FROM_SERVER op from the call's status and trailers. */
void cp_call_fill_status_op(cp_call *call, grpc_op *op, grpc_slice *details);

#endif /* CPLUGIN_TRANSPORT_SERVER_REPLY_H */
