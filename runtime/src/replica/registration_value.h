/* The value stored in etcd for one registration (internal): what another
 * replica needs to install it, sealed under the replicas' key and bound to
 * the etcd key, so that nobody without the secret can add a route.
 *
 * Plaintext: a format byte (1), the writer (8 bytes: the replica that
 * wrote it, so that it knows its own writes when etcd echoes them), the
 * metadata count (2 bytes); integers little-endian; then NUL-terminated
 * strings: owner, service type,
 * version, endpoint path, and each metadata key and value. (Registry
 * strings never hold a NUL: they are C strings from the start.) */
#ifndef CPLUGIN_REPLICA_REGISTRATION_VALUE_H
#define CPLUGIN_REPLICA_REGISTRATION_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "registry/registry_replica.h"

/* Largest plaintext accepted: every field at its registry maximum fits. */
#define CPI_REGISTRATION_PLAIN_MAX ((size_t)512 << 10)

/* An opened value: one allocation (free() it); the strings live inside. */
typedef struct cpi_registration_value {
  uint64_t writer;
  const char *owner;
  cp_registry_service svc;
} cpi_registration_value;

/* Seals `rec`, written by `writer`, for etcd key key[0..key_len) into a new buffer *out of
 * *out_len bytes (free() it). Returns 0, CP_EINVAL (too large), CP_ENOMEM
 * or CP_ESYS. */
int cpi_registration_value_seal(const cpi_seal_key *seal, const void *key,
                                size_t key_len, uint64_t writer,
                                const cpi_reg_record *rec, uint8_t **out,
                                size_t *out_len);

/* Opens a value read at `key`. Returns 0, CP_ENOMEM, or CP_EDECODE for
 * anything not sealed this way under this key and name (another secret,
 * another key, altered, malformed). */
int cpi_registration_value_open(const cpi_seal_key *seal, const void *key,
                                size_t key_len, const uint8_t *value,
                                size_t len, cpi_registration_value **out);

#endif /* CPLUGIN_REPLICA_REGISTRATION_VALUE_H */
