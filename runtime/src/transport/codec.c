/* protobuf-c messages <-> gRPC byte buffers. */
#include "transport/codec.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "cplugin/errors.h"
#include "transport/encoded.h"

int cpi_codec_encode(const ProtobufCMessage *msg, size_t max_bytes,
                     grpc_byte_buffer **out) {
  size_t size = protobuf_c_message_get_packed_size(msg);
  if (size > max_bytes) {
    return CP_ETOOBIG;
  }
  cpi_encode_count_one();
  grpc_slice slice = grpc_slice_malloc(size);
  size_t written = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
  if (written != size) {
    grpc_slice_unref(slice);
    return CP_EINVAL;
  }
  *out = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return *out == NULL ? CP_ENOMEM : 0;
}

int cpi_codec_decode(grpc_byte_buffer *bb,
                     const ProtobufCMessageDescriptor *desc,
                     ProtobufCAllocator *allocator, ProtobufCMessage **out) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    return CP_EDECODE;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  *out = protobuf_c_message_unpack(desc, allocator, GRPC_SLICE_LENGTH(all),
                                   GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  return *out == NULL ? CP_EDECODE : 0;
}
