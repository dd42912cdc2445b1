/* protobuf-c messages <-> gRPC byte buffers (internal). */
#ifndef CPLUGIN_TRANSPORT_CODEC_H
#define CPLUGIN_TRANSPORT_CODEC_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Serialises `msg` into a new byte buffer (caller destroys it). Returns 0,
 * CP_ETOOBIG when the encoding exceeds max_bytes, or CP_ENOMEM. */
int cpi_codec_encode(const ProtobufCMessage *msg, size_t max_bytes,
                     grpc_byte_buffer **out);

/* Decodes `bb` as `desc`. Allocations come from `allocator` (NULL = malloc).
 * Returns 0 and *out, or CP_EDECODE for bytes that are not a valid message. */
int cpi_codec_decode(grpc_byte_buffer *bb,
                     const ProtobufCMessageDescriptor *desc,
                     ProtobufCAllocator *allocator, ProtobufCMessage **out);

#endif /* CPLUGIN_TRANSPORT_CODEC_H */
