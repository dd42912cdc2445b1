/* Decoding a request, bounded: the method's size cap is checked on the wire
 * length before anything is decoded, the wire bytes are released as soon as
 * they are decoded, and what protobuf-c allocates (messages, strings, its
 * scan slabs, copies of unknown fields) is counted against a budget
 * proportional to the wire size. Without the budget a 4 MiB request of
 * two-byte unknown fields costs ~150 MiB; with it the peer gets
 * RESOURCE_EXHAUSTED. The decoded request lives until the handler returns
 * (cp_call_release_request): handlers copy what they keep. */
#include <grpc/byte_buffer.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

#include "transport/codec.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

/* Live decode bytes allowed per wire byte, plus a floor for tiny messages
 * (a few dozen small fields can legitimately take ~20x their wire size). */
enum { DECODE_BYTES_PER_WIRE_BYTE = 16, DECODE_FLOOR_BYTES = 64 * 1024 };

/* Each allocation carries its size in front, aligned for any type. */
#define HEADER_BYTES (sizeof(max_align_t))

static void *budget_alloc(void *data, size_t size) {
  cp_decode_budget *b = data;
  if (size > b->limit - b->live || HEADER_BYTES > b->limit - b->live - size) {
    b->exceeded = true;
    return NULL;
  }
  unsigned char *p = malloc(HEADER_BYTES + size);
  if (p == NULL) {
    return NULL;
  }
  *(size_t *)(void *)p = size;
  b->live += HEADER_BYTES + size;
  return p + HEADER_BYTES;
}

static void budget_free(void *data, void *ptr) {
  cp_decode_budget *b = data;
  if (ptr == NULL) {
    return;
  }
  unsigned char *p = (unsigned char *)ptr - HEADER_BYTES;
  b->live -= HEADER_BYTES + *(size_t *)(void *)p;
  free(p);
}

cp_status_code cp_call_decode_request(cp_call *call,
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
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                         "request of %zu bytes is over the %zu-byte limit of "
                         "%s",
                         wire, rm->max_request_bytes, m->path);
  }
  cp_decode_budget *b = &call->decode;
  b->live = 0;
  b->exceeded = false;
  b->limit = wire > (SIZE_MAX - DECODE_FLOOR_BYTES) / DECODE_BYTES_PER_WIRE_BYTE
                 ? SIZE_MAX
                 : wire * DECODE_BYTES_PER_WIRE_BYTE + DECODE_FLOOR_BYTES;
  b->allocator.alloc = budget_alloc;
  b->allocator.free = budget_free;
  b->allocator.allocator_data = b;
  int rc =
      cp_codec_decode(call->payload, m->request_type, &b->allocator, request);
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

void cp_call_release_request(cp_call *call) {
  if (call->request != NULL) {
    protobuf_c_message_free_unpacked(call->request, &call->decode.allocator);
    call->request = NULL;
  }
}
