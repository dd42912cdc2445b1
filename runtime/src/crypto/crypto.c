/* CSPRNG, constant-time comparison, base64url and hex (see crypto.h).
 *
 * Only RAND_bytes is used from libcrypto, through the signature OpenSSL 3
 * (int length) and BoringSSL (size_t length) both accept. The encoders and
 * decoders map characters with arithmetic instead of lookup tables: a table
 * indexed by secret bytes leaks them through the cache, and tokens are
 * secrets. */
#include "crypto/crypto.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "cplugin/errors.h"

/* RAND_bytes takes an int length in OpenSSL: fill large buffers in pieces. */
enum { RAND_CHUNK_BYTES = 1 << 20 };

static int fill_direct(unsigned char *p, size_t n) {
  while (n > 0) {
    size_t chunk = n < RAND_CHUNK_BYTES ? n : RAND_CHUNK_BYTES;
    if (RAND_bytes(p, (int)chunk) != 1) {
      return CP_ESYS;
    }
    p += chunk;
    n -= chunk;
  }
  return 0;
}

/* Small requests are served from a pool that one RAND_bytes call fills: on
 * OpenSSL 3 every call pays about 0.8 us of provider dispatch whatever its
 * length, and a handshake needs only 40 bytes. Bytes handed out are wiped
 * from the pool at once, so none is ever served twice. A fork empties the
 * pool in the child (pthread_atfork), so a parent and its child never share
 * pooled bytes; the fork handlers hold the lock across fork so the child
 * never inherits it held. */
enum { POOL_BYTES = 4096, POOL_MAX_REQUEST = 256 };

static struct {
  pthread_mutex_t mu;
  size_t left; /* unserved bytes: buf[0..left) */
  unsigned char buf[POOL_BYTES];
} pool = {PTHREAD_MUTEX_INITIALIZER, 0, {0}};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_lock(void) {
  pthread_mutex_lock(&pool.mu);
}

static void pool_unlock(void) {
  pthread_mutex_unlock(&pool.mu);
}

static void pool_after_fork_in_child(void) {
  cpi_secure_zero(pool.buf, sizeof pool.buf);
  pool.left = 0;
  pthread_mutex_unlock(&pool.mu);
}

static void pool_register_fork_handlers(void) {
  pthread_atfork(pool_lock, pool_unlock, pool_after_fork_in_child);
}

static int fill_pooled(unsigned char *p, size_t n) {
  pthread_once(&pool_once, pool_register_fork_handlers);
  pool_lock();
  int rc = 0;
  if (pool.left < n) {
    rc = fill_direct(pool.buf, sizeof pool.buf);
    pool.left = rc == 0 ? sizeof pool.buf : 0;
  }
  if (rc == 0) {
    unsigned char *src = pool.buf + pool.left - n;
    memcpy(p, src, n);
    cpi_secure_zero(src, n);
    pool.left -= n;
  }
  pool_unlock();
  return rc;
}

int cpi_random_bytes(void *buf, size_t n) {
  if (n == 0) {
    return 0;
  }
  if (buf == NULL) {
    return CP_EINVAL;
  }
  int rc = n <= POOL_MAX_REQUEST ? fill_pooled(buf, n) : fill_direct(buf, n);
  if (rc != 0) {
    cpi_secure_zero(buf, n);
  }
  return rc;
}

/* Hides a value from the optimiser, so that it cannot reason about the
 * accumulated difference and exit early. */
static uint64_t value_barrier(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__("" : "+r"(v));
  return v;
#else
  volatile uint64_t w = v;
  return w;
#endif
}

bool cpi_ct_equal(const void *a, const void *b, size_t n) {
  if (n == 0) {
    return true;
  }
  if (a == NULL || b == NULL) {
    return false;
  }
  const unsigned char *pa = a;
  const unsigned char *pb = b;
  /* Eight bytes at a time, OR-ing every difference: the loop runs the same
   * instructions whatever the data, and nothing branches on it. */
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t wa;
    uint64_t wb;
    memcpy(&wa, pa + i, 8);
    memcpy(&wb, pb + i, 8);
    acc = value_barrier(acc | (wa ^ wb));
  }
  for (; i < n; i++) {
    acc = value_barrier(acc | (uint64_t)(pa[i] ^ pb[i]));
  }
  /* Fold to one bit without a branch: 1 when acc == 0. */
  acc |= acc >> 32;
  acc &= 0xffffffffU;
  return (bool)(((acc - 1U) >> 63) & 1U);
}

void cpi_secure_zero(void *p, size_t n) {
  volatile unsigned char *q = p;
  for (size_t i = 0; i < n; i++) {
    q[i] = 0;
  }
}

/* --- base64url ------------------------------------------------------------
 * Range tests are branch-free: (lo - 1 - c) & (c - (hi + 1)) is negative
 * exactly when lo <= c <= hi, and >> 8 turns that into an all-ones mask
 * (c is a byte, so the subtractions stay far from overflow). */

/* 0..63 to its base64url character. */
static char b64url_char(unsigned v) {
  int x = (int)v;
  int diff = 'A';
  diff += ((25 - x) >> 8) & 6;  /* 26..: 'a' - 26 */
  diff -= ((51 - x) >> 8) & 75; /* 52..: '0' - 52 */
  diff -= ((61 - x) >> 8) & 13; /* 62:   '-' - 62 */
  diff += ((62 - x) >> 8) & 49; /* 63:   '_' - 63 */
  return (char)(x + diff);
}

/* A base64url character to 0..63, or -1 for any other byte. */
static int b64url_value(unsigned char c) {
  int ch = c;
  int v = -1;
  v += (((('A' - 1) - ch) & (ch - ('Z' + 1))) >> 8) & (ch - 'A' + 1);
  v += (((('a' - 1) - ch) & (ch - ('z' + 1))) >> 8) & (ch - 'a' + 27);
  v += (((('0' - 1) - ch) & (ch - ('9' + 1))) >> 8) & (ch - '0' + 53);
  v += ((('-' - 1 - ch) & (ch - ('-' + 1))) >> 8) & 63;
  v += ((('_' - 1 - ch) & (ch - ('_' + 1))) >> 8) & 64;
  return v;
}

size_t cpi_base64url_encode(const uint8_t *in, size_t n, char *out,
                            size_t out_cap) {
  if (out == NULL || out_cap == 0) {
    return 0;
  }
  out[0] = '\0';
  /* Larger n would overflow the length computation. */
  if ((in == NULL && n > 0) || n > (SIZE_MAX / 4 - 1) * 3) {
    return 0;
  }
  size_t need = CP_BASE64URL_ENCODED_LEN(n);
  if (out_cap < need + 1) {
    return 0;
  }
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) |
                 (uint32_t)in[i + 2];
    out[o++] = b64url_char((w >> 18) & 63);
    out[o++] = b64url_char((w >> 12) & 63);
    out[o++] = b64url_char((w >> 6) & 63);
    out[o++] = b64url_char(w & 63);
  }
  size_t rest = n - i;
  if (rest > 0) {
    uint32_t w = (uint32_t)in[i] << 16;
    if (rest == 2) {
      w |= (uint32_t)in[i + 1] << 8;
    }
    out[o++] = b64url_char((w >> 18) & 63);
    out[o++] = b64url_char((w >> 12) & 63);
    if (rest == 2) {
      out[o++] = b64url_char((w >> 6) & 63);
    } else {
      out[o++] = '=';
    }
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

int cpi_base64url_decode(const char *in, size_t len, uint8_t *out,
                         size_t out_cap, size_t *out_len) {
  if (out_len == NULL) {
    return CP_EINVAL;
  }
  *out_len = 0;
  if ((in == NULL && len > 0) || len % 4 != 0) {
    return CP_EINVAL;
  }
  if (len == 0) {
    return 0;
  }
  size_t pad = 0;
  if (in[len - 1] == '=') {
    pad = in[len - 2] == '=' ? 2 : 1;
  }
  size_t need = len / 4 * 3 - pad;
  if (out == NULL) {
    return CP_EINVAL;
  }
  if (out_cap < need) {
    return CP_ETOOBIG;
  }
  int bad = 0; /* becomes negative once any character is invalid */
  uint32_t last = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    size_t chars = i + 4 == len ? 4 - pad : 4;
    uint32_t w = 0;
    for (size_t j = 0; j < 4; j++) {
      int v = j < chars ? b64url_value((unsigned char)in[i + j]) : 0;
      bad |= v;
      w = (w << 6) | (uint32_t)(v & 63);
    }
    /* 4 characters make 3 bytes; each '=' drops one. */
    size_t bytes = 3 - (4 - chars);
    out[o++] = (uint8_t)(w >> 16);
    if (bytes > 1) {
      out[o++] = (uint8_t)(w >> 8);
    }
    if (bytes > 2) {
      out[o++] = (uint8_t)w;
    }
    last = w;
  }
  /* The bits under the padding must be zero: "QR==" and "QQ==" would
   * otherwise both decode to "A". */
  uint32_t unused = pad == 0 ? 0 : (last & ((1U << (8 * pad)) - 1U));
  if (bad < 0 || unused != 0) {
    cpi_secure_zero(out, need);
    return CP_EINVAL;
  }
  *out_len = need;
  return 0;
}

/* --- hex ------------------------------------------------------------------ */

void cpi_hex_encode(const uint8_t *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    for (int half = 0; half < 2; half++) {
      int d = half == 0 ? in[i] >> 4 : in[i] & 15;
      /* '0' + d, plus the gap to 'a' when d > 9 (branch-free). */
      out[2 * i + (size_t)half] = (char)('0' + d + (((9 - d) >> 8) & 39));
    }
  }
  out[2 * n] = '\0';
}

int cpi_hex_decode_u64(const char *hex16, uint64_t *out) {
  if (hex16 == NULL || out == NULL) {
    return CP_EINVAL;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < 16; i++) {
    char c = hex16[i];
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = (uint64_t)(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = (uint64_t)(c - 'a') + 10U;
    } else {
      return CP_EINVAL;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return 0;
}

/* --- tokens --------------------------------------------------------------- */

int cpi_random_token(char out[CP_RANDOM_TOKEN_CHARS + 1]) {
  uint8_t raw[CP_RANDOM_TOKEN_BYTES];
  out[0] = '\0';
  if (cpi_random_bytes(raw, sizeof raw) != 0) {
    return CP_ESYS;
  }
  cpi_base64url_encode(raw, sizeof raw, out, CP_RANDOM_TOKEN_CHARS + 1);
  cpi_secure_zero(raw, sizeof raw);
  return 0;
}

const char *cpi_crypto_library(void) {
#if defined(OPENSSL_IS_BORINGSSL)
  return "BoringSSL";
#else
  return "OpenSSL";
#endif
}
