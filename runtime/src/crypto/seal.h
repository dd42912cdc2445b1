/* Authenticated encryption of small values that host replicas share through
 * a store others can read (internal): AES-256-GCM under a key derived from
 * the replicas' shared secret, bound to the name the value is stored under.
 *
 * A sealed value is: one format byte (1), a random 12-byte nonce, the
 * ciphertext, and the 16-byte tag. A value sealed under another secret or
 * another name, or altered in any byte, does not open.
 *
 * Written against the EVP API OpenSSL 3 and BoringSSL share, like crypto.c.
 * Thread safety: every function may be called from any thread. */
#ifndef CPLUGIN_CRYPTO_SEAL_H
#define CPLUGIN_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  CPI_SEAL_KEY_BYTES = 32,
  CPI_SEAL_OVERHEAD = 1 + 12 + 16 /* format, nonce, tag */
};

typedef struct cpi_seal_key {
  uint8_t bytes[CPI_SEAL_KEY_BYTES];
} cpi_seal_key;

/* HMAC-SHA256 of `purpose` under the secret: one key per purpose from one
 * secret. Returns 0, CP_EINVAL (empty secret) or CP_ESYS. */
int cpi_seal_key_derive(cpi_seal_key *key, const void *secret, size_t len,
                        const char *purpose);

/* Seals in[0..len) bound to name[0..name_len) into out, which has room for
 * len + CPI_SEAL_OVERHEAD bytes. Returns 0 or CP_ESYS. */
int cpi_seal(const cpi_seal_key *key, const void *name, size_t name_len,
             const void *in, size_t len, uint8_t *out);

/* Opens a sealed value into out (room for len - CPI_SEAL_OVERHEAD bytes) and
 * sets *out_len. Returns 0, CP_EDECODE (not sealed under this key and name,
 * or altered) or CP_ESYS. */
int cpi_seal_open(const cpi_seal_key *key, const void *name, size_t name_len,
                  const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_CRYPTO_SEAL_H */
