/* AES-256-GCM sealing of shared values; see seal.h. */
#include "crypto/seal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "cplugin/errors.h"
#include "crypto/crypto.h"

enum { FORMAT = 1, NONCE = 12, TAG = 16 };

int cpi_seal_key_derive(cpi_seal_key *key, const void *secret, size_t len,
                        const char *purpose) {
  if (secret == NULL || len == 0 || len > INT32_MAX) {
    return CP_EINVAL;
  }
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), secret, (int)len, (const uint8_t *)purpose,
           strlen(purpose), key->bytes, &out_len) == NULL ||
      out_len != sizeof key->bytes) {
    cpi_secure_zero(key, sizeof *key);
    return CP_ESYS;
  }
  return 0;
}

/* Runs one GCM pass: encrypting (tag written) or decrypting (tag checked). */
static int gcm(const cpi_seal_key *key, int encrypt, const uint8_t *nonce,
               const void *name, size_t name_len, const uint8_t *in, size_t len,
               uint8_t *out, uint8_t *tag) {
  if (len > INT32_MAX || name_len > INT32_MAX) {
    return CP_ESYS;
  }
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) {
    return CP_ESYS;
  }
  int n = 0;
  int ok =
      EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) ==
          1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) == 1 &&
      EVP_CipherInit_ex(ctx, NULL, NULL, key->bytes, nonce, encrypt) == 1 &&
      EVP_CipherUpdate(ctx, NULL, &n, name, (int)name_len) == 1 &&
      (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1) &&
      (encrypt ||
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, tag) == 1);
  int rc = ok ? 0 : CP_ESYS;
  if (ok && EVP_CipherFinal_ex(ctx, out + (len > 0 ? n : 0), &n) != 1) {
    rc = encrypt ? CP_ESYS : CP_EDECODE; /* decrypting: the tag differs */
  }
  if (rc == 0 && encrypt &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, tag) != 1) {
    rc = CP_ESYS;
  }
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}

int cpi_seal(const cpi_seal_key *key, const void *name, size_t name_len,
             const void *in, size_t len, uint8_t *out) {
  out[0] = FORMAT;
  if (cpi_random_bytes(out + 1, NONCE) != 0) {
    return CP_ESYS;
  }
  return gcm(key, 1, out + 1, name, name_len, in, len, out + 1 + NONCE,
             out + 1 + NONCE + len);
}

int cpi_seal_open(const cpi_seal_key *key, const void *name, size_t name_len,
                  const uint8_t *in, size_t len, uint8_t *out,
                  size_t *out_len) {
  *out_len = 0;
  if (len < CPI_SEAL_OVERHEAD || in[0] != FORMAT) {
    return CP_EDECODE;
  }
  size_t body = len - CPI_SEAL_OVERHEAD;
  uint8_t tag[TAG];
  memcpy(tag, in + 1 + NONCE + body, TAG);
  int rc = gcm(key, 0, in + 1, name, name_len, in + 1 + NONCE, body, out, tag);
  if (rc != 0) {
    cpi_secure_zero(out, body); /* nothing unauthenticated leaks out */
    return rc;
  }
  *out_len = body;
  return 0;
}
