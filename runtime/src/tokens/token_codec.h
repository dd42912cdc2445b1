/* Decoding of presented credentials on the validation path (internal).
 * These read attacker-supplied strings, not secrets, so they use lookup
 * tables for speed; the secret comparison that follows is constant-time. */
#ifndef CPLUGIN_TOKENS_TOKEN_CODEC_H
#define CPLUGIN_TOKENS_TOKEN_CODEC_H

#include <stdbool.h>
#include <stdint.h>

/* Decodes a 44-character padded base64url token into 32 bytes. Strict:
 * exactly one '=' at the end and zero bits under it (the canonical form the
 * store issues). */
bool cpi_token_decode44(const char *in, uint64_t out[4]);

/* Decodes exactly 16 lower-case hex digits. */
bool cpi_token_decode_hex16(const char *in, uint64_t *out);

#endif /* CPLUGIN_TOKENS_TOKEN_CODEC_H */
