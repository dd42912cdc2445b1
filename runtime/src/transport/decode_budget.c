/* A protobuf-c allocator that counts live bytes against a budget: without
 * it a 4 MiB request of two-byte unknown fields costs ~150 MiB to decode. */
#include "transport/decode_budget.h"

#include <stdalign.h>
#include <stdlib.h>

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

ProtobufCMessage *cpi_decode_bounded(const ProtobufCMessageDescriptor *desc,
                                     const uint8_t *data, size_t len,
                                     cp_decode_budget *b) {
  b->live = 0;
  b->exceeded = false;
  b->limit =
      len > (SIZE_MAX - CP_DECODE_FLOOR_BYTES) / CP_DECODE_BYTES_PER_WIRE_BYTE
          ? SIZE_MAX
          : len * CP_DECODE_BYTES_PER_WIRE_BYTE + CP_DECODE_FLOOR_BYTES;
  b->allocator.alloc = budget_alloc;
  b->allocator.free = budget_free;
  b->allocator.allocator_data = b;
  return protobuf_c_message_unpack(desc, &b->allocator, len, data);
}
