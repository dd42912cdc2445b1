/* Crypto primitives for the runtime (internal): CSPRNG bytes, constant-time
 * comparison, base64url and hex.
 *
 * Written only against the API OpenSSL 3 and BoringSSL share (RAND_bytes), so
 * the same file builds against either; see README "Crypto". Depends on
 * nothing else in the runtime except the header-only cplugin/errors.h, so it
 * can be compiled and tested on its own (the BoringSSL test binary does).
 *
 * Thread safety: every function is safe to call from any thread.
 */
#ifndef CPLUGIN_CRYPTO_CRYPTO_H
#define CPLUGIN_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters (without the NUL) of the padded base64url encoding of n bytes. */
#define CP_BASE64URL_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Raw bytes behind a token, and its text length (base64url, padded). */
#define CP_RANDOM_TOKEN_BYTES 32
#define CP_RANDOM_TOKEN_CHARS CP_BASE64URL_ENCODED_LEN(CP_RANDOM_TOKEN_BYTES)

/* Fills buf[0..n) from the library's CSPRNG. Requests of up to 256 bytes
 * are served from a 4 KiB pool filled by one generator call (each byte is
 * served once, wiped on the way out, and the pool is emptied in a forked
 * child). Returns 0, CP_EINVAL when buf is NULL and n > 0, or CP_ESYS when
 * the generator fails (buf is then zeroed, never left half random). */
int cpi_random_bytes(void *buf, size_t n);

/* True when a[0..n) equals b[0..n). Runs in time that depends only on n:
 * every byte is read whatever the position of the first difference (checked
 * by tests/crypto/run_ct_check.sh). Use it for secrets. */
bool cpi_ct_equal(const void *a, const void *b, size_t n);

/* Overwrites p[0..n) with zeros in a way the compiler cannot drop as a dead
 * store. NULL with n == 0 is allowed. */
void cpi_secure_zero(void *p, size_t n);

/* Encodes in[0..n) as base64url (RFC 4648 section 5) with '=' padding,
 * writes the text and a NUL to out. Returns the characters written (without
 * the NUL), CP_BASE64URL_ENCODED_LEN(n); returns 0 and writes nothing but an
 * empty string (when out_cap > 0) if out_cap < CP_BASE64URL_ENCODED_LEN(n) + 1
 * or in is NULL with n > 0. */
size_t cpi_base64url_encode(const uint8_t *in, size_t n, char *out,
                            size_t out_cap);

/* Decodes padded base64url in[0..len) into out and sets *out_len. Strict:
 * len must be a multiple of 4, only the alphabet A-Z a-z 0-9 '-' '_' is
 * accepted, '=' only as one or two final characters, and the unused bits
 * before the padding must be zero (one canonical text per byte string).
 * Returns 0, CP_EINVAL for text that breaks any of these rules or NULL
 * arguments, or CP_ETOOBIG when out_cap is smaller than the decoded length.
 * On error *out_len is 0. */
int cpi_base64url_decode(const char *in, size_t len, uint8_t *out,
                         size_t out_cap, size_t *out_len);

/* Writes in[0..n) as 2n lower-case hex digits and a NUL to out (which must
 * hold 2n + 1 characters). */
void cpi_hex_encode(const uint8_t *in, size_t n, char *out);

/* Parses the 16 lower-case hex digits at hex16[0..16) (most significant
 * first) into *out. Reads exactly those 16 characters and never past them,
 * so hex16 may point into a longer, unterminated buffer; a shorter string
 * fails at its NUL. Returns 0, or CP_EINVAL for NULL or any character that is
 * not 0-9 or a-f (*out is then unchanged). */
int cpi_hex_decode_u64(const char *hex16, uint64_t *out);

/* Writes a fresh token to out: CP_RANDOM_TOKEN_BYTES CSPRNG bytes as padded
 * base64url (CP_RANDOM_TOKEN_CHARS == 44 characters) and a NUL. Returns 0, or
 * CP_ESYS when the generator fails (out is then the empty string). */
int cpi_random_token(char out[CP_RANDOM_TOKEN_CHARS + 1]);

/* "OpenSSL" or "BoringSSL": the library this file was compiled against. */
const char *cpi_crypto_library(void);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_CRYPTO_CRYPTO_H */
