/* SipHash-2-4: a keyed 64-bit hash (internal). With a secret random key,
 * an attacker cannot choose inputs that collide. */
#ifndef CPLUGIN_CORE_SIPHASH_H
#define CPLUGIN_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_siphash_key {
  uint64_t k0;
  uint64_t k1;
} cp_siphash_key;

/* SipHash-2-4. */
uint64_t cpi_siphash(const cp_siphash_key *key, const void *data, size_t len);

/* SipHash-1-3: fewer rounds, for hot paths keyed with a per-process secret. */
uint64_t cpi_siphash13(const cp_siphash_key *key, const void *data, size_t len);

#endif /* CPLUGIN_CORE_SIPHASH_H */
