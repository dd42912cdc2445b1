/* Small helpers for calls to etcd through the generated stubs (internal). */
#ifndef CPLUGIN_ETCD_ETCD_CALL_H
#define CPLUGIN_ETCD_ETCD_CALL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Bytes for a request field, borrowed (not copied, never freed). */
static inline ProtobufCBinaryData cpi_etcd_bytes(const void *p, size_t n) {
  ProtobufCBinaryData b = {n, (uint8_t *)p};
  return b;
}

/* Frees a response the stubs returned; NULL allowed. */
static inline void cpi_etcd_free(void *msg) {
  if (msg != NULL) {
    protobuf_c_message_free_unpacked((ProtobufCMessage *)msg, NULL);
  }
}

#endif /* CPLUGIN_ETCD_ETCD_CALL_H */
