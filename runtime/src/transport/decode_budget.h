/* Decoding protobuf bytes with a bound on what the decode may allocate
 * (internal; free of gRPC headers, so fuzz targets use it directly). */
#ifndef CPLUGIN_TRANSPORT_DECODE_BUDGET_H
#define CPLUGIN_TRANSPORT_DECODE_BUDGET_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Live decode bytes allowed per wire byte, plus a floor for tiny messages
 * (a few dozen small fields can legitimately take ~20x their wire size). */
enum { CP_DECODE_BYTES_PER_WIRE_BYTE = 16, CP_DECODE_FLOOR_BYTES = 64 * 1024 };

typedef struct cp_decode_budget {
  ProtobufCAllocator allocator; /* frees what the decode allocated */
  size_t live;
  size_t limit;
  bool exceeded;
} cp_decode_budget;

/* Decodes `len` bytes as `desc` within a budget of 16x len + 64 KiB live
 * bytes. Returns the message (free it with protobuf_c_message_free_unpacked
 * and &budget->allocator), or NULL: budget->exceeded then tells a decode
 * over budget from bytes that do not decode. */
ProtobufCMessage *cpi_decode_bounded(const ProtobufCMessageDescriptor *desc,
                                     const uint8_t *data, size_t len,
                                     cp_decode_budget *budget);

#endif /* CPLUGIN_TRANSPORT_DECODE_BUDGET_H */
