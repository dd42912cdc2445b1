/* Reference-counted encoded messages (transport/encoded.h). */
#include "transport/encoded.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cplugin/errors.h"

struct cp_encoded {
  atomic_size_t refs;
  const ProtobufCMessageDescriptor *type;
  size_t size;
  uint8_t data[];
};

static atomic_uint_fast64_t encodes;

uint64_t cpi_encode_count(void) {
  return atomic_load_explicit(&encodes, memory_order_relaxed);
}

void cpi_encode_count_one(void) {
  atomic_fetch_add_explicit(&encodes, 1, memory_order_relaxed);
}

int cpi_encoded_new(const ProtobufCMessage *msg, cp_encoded **out) {
  if (msg == NULL || out == NULL) {
    return CP_EINVAL;
  }
  size_t size = protobuf_c_message_get_packed_size(msg);
  cp_encoded *e = malloc(sizeof *e + size);
  if (e == NULL) {
    return CP_ENOMEM;
  }
  if (protobuf_c_message_pack(msg, e->data) != size) {
    free(e);
    return CP_EINVAL;
  }
  cpi_encode_count_one();
  atomic_init(&e->refs, 1);
  e->type = msg->descriptor;
  e->size = size;
  *out = e;
  return 0;
}

void cpi_encoded_ref(cp_encoded *e) {
  atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void cpi_encoded_unref(cp_encoded *e) {
  if (e != NULL &&
      atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
    free(e);
  }
}

size_t cpi_encoded_size(const cp_encoded *e) {
  return e->size;
}

const uint8_t *cpi_encoded_data(const cp_encoded *e) {
  return e->data;
}

const ProtobufCMessageDescriptor *cpi_encoded_type(const cp_encoded *e) {
  return e->type;
}
