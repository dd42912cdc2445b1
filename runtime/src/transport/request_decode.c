/* Decoding a request, bounded: the method's size cap is checked on the wire
 * length before anything is decoded, the wire bytes are released as soon as
 * they are decoded, and what protobuf-c allocates (messages, strings, its
 * scan slabs, copies of unknown fields) is counted against a budget
 * proportional to the wire size. Without the budget a 4 MiB request of
 * two-byte unknown fields costs ~150 MiB; with it the peer gets
 * RESOURCE_EXHAUSTED. The decoded request lives until the handler returns
 * (cpi_call_release_request): handlers copy what they keep. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cplugin/errors.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

/* gRPC receives a request whole, in 8-64 KiB slices from whichever
 * thread's malloc arena read the socket, and glibc keeps freed pages of
 * such arenas resident. A peer sending oversized requests one after
 * another would leave the host megabytes larger for each thread that read
 * one, so after discarding a large refused request the pages go back to the
 * system. Refused requests are rare in normal operation and the read gate
 * serialises anonymous ones. */
static void give_back_large(size_t wire) {
#ifdef __GLIBC__
  if (wire >= (size_t)1024 * 1024) {
    malloc_trim(0);
  }
#else
  (void)wire;
#endif
}

cp_status_code cpi_call_decode_request(cp_call *call,
                                       ProtobufCMessage **request) {
  const cp_registered_method *rm = call->rm;
  const cp_method_desc *m = rm->desc;
  if (call->payload == NULL) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "missing request message");
  }
  size_t wire = grpc_byte_buffer_length(call->payload);
  if (wire > rm->max_request_bytes) {
    grpc_byte_buffer_destroy(call->payload);
    call->payload = NULL;
    give_back_large(wire);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                         "request of %zu bytes is over the %zu-byte limit of "
                         "%s",
                         wire, rm->max_request_bytes, m->path);
  }
  *request = NULL;
  cp_decode_budget *b = &call->decode;
  grpc_byte_buffer_reader reader;
  int rc = CP_EDECODE;
  if (grpc_byte_buffer_reader_init(&reader, call->payload)) {
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *request = cpi_decode_bounded(m->request_type, GRPC_SLICE_START_PTR(all),
                                  GRPC_SLICE_LENGTH(all), b);
    grpc_slice_unref(all);
    rc = *request != NULL ? 0 : CP_EDECODE;
  }
  grpc_byte_buffer_destroy(call->payload);
  call->payload = NULL;
  if (rc != 0) {
    if (b->exceeded) {
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                           "request of %zu bytes needs more than %zu bytes "
                           "to decode",
                           wire, b->limit);
    }
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "request does not decode as %s",
                         m->request_type->name);
  }
  call->request = *request;
  return CP_STATUS_OK;
}

void cpi_call_release_request(cp_call *call) {
  if (call->request != NULL) {
    protobuf_c_message_free_unpacked(call->request, &call->decode.allocator);
    call->request = NULL;
  }
}
