/* The value stored in etcd for one runtime identity (internal): the token
 * store's record, sealed under the replicas' key and bound to the etcd key.
 *
 * Plaintext, little-endian: writer (8 bytes: the replica that wrote it),
 * expiry and the previous token's expiry as Unix milliseconds (0: none),
 * the two tokens (32 bytes each), the principal's length (2 bytes) and the
 * principal. Times cross machines as wall-clock time; the record's are on
 * the token store's clock, converted with the two clocks read together. */
#ifndef CPLUGIN_REPLICA_IDENTITY_VALUE_H
#define CPLUGIN_REPLICA_IDENTITY_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "tokens/token_replica.h"

/* Largest sealed value. */
#define CPI_IDENTITY_VALUE_MAX \
  (8 + 8 + 8 + 2 * CPI_TOKEN_BYTES + 2 + CP_PRINCIPAL_MAX + CPI_SEAL_OVERHEAD)

/* The two clocks read together: the store's and the wall clock (ms). */
typedef struct cpi_clock_pair {
  int64_t store_ns;
  int64_t unix_ms;
} cpi_clock_pair;

cpi_clock_pair cpi_clock_pair_now(const cp_token_store *store);

/* Seals `rec` (written by `writer`) for etcd key key[0..key_len) into out
 * (CPI_IDENTITY_VALUE_MAX bytes); sets *out_len. Returns 0 or CP_ESYS. */
int cpi_identity_value_seal(const cpi_seal_key *seal, const void *key,
                            size_t key_len, uint64_t writer,
                            const cpi_token_record *rec, cpi_clock_pair now,
                            uint8_t *out, size_t *out_len);

/* Opens a value read at `key` into *rec (runtime_id left to the caller)
 * and *writer. Returns 0, or CP_EDECODE for anything this replica did not
 * seal the same way (another secret, another key, altered, malformed). */
int cpi_identity_value_open(const cpi_seal_key *seal, const void *key,
                            size_t key_len, const uint8_t *value, size_t len,
                            cpi_clock_pair now, cpi_token_record *rec,
                            uint64_t *writer);

#endif /* CPLUGIN_REPLICA_IDENTITY_VALUE_H */
