/* Encoded messages shared by many server streams (internal, gRPC-free).
 *
 * A state pushed to many watchers is the same bytes for each of them:
 * cp_encoded holds one message's wire bytes with a reference count, and
 * cpi_stream_send_encoded hands them to a stream without copying (gRPC's
 * slice keeps a reference until the write is over). Immutable once built;
 * ref/unref are thread-safe. */
#ifndef CPLUGIN_TRANSPORT_ENCODED_H
#define CPLUGIN_TRANSPORT_ENCODED_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cplugin/server.h"

typedef struct cp_encoded cp_encoded;

/* Encodes `msg` into a new buffer with one reference. Returns 0, CP_EINVAL
 * or CP_ENOMEM. */
int cpi_encoded_new(const ProtobufCMessage *msg, cp_encoded **out);
void cpi_encoded_ref(cp_encoded *e);
/* NULL allowed; the last reference frees. */
void cpi_encoded_unref(cp_encoded *e);
size_t cpi_encoded_size(const cp_encoded *e);
const uint8_t *cpi_encoded_data(const cp_encoded *e);
const ProtobufCMessageDescriptor *cpi_encoded_type(const cp_encoded *e);

/* Queues `e` on `stream` (taking a reference, not copying) only when the
 * stream holds no other message, queued or being written: a caller that
 * sends only this way keeps at most one message in the stream. Never
 * blocks. Returns 0; CP_EAGAIN when the stream still holds a message;
 * CP_ECLOSED once the stream is over or finishing; CP_EINVAL for a message
 * of another type than the method's response; CP_ETOOBIG above the server's
 * max_message_bytes; CP_ENOMEM. */
int cpi_stream_send_encoded(cp_stream *stream, cp_encoded *e);

/* Messages this process has encoded for sending, by cpi_encoded_new or per
 * call and stream (transport/codec.h): what tests count to see that a
 * shared message is encoded once. */
uint64_t cpi_encode_count(void);
void cpi_encode_count_one(void);

/* Bytes of messages the stream holds (queued or being written). */
size_t cpi_stream_held_bytes(cp_stream *stream);

#endif /* CPLUGIN_TRANSPORT_ENCODED_H */
