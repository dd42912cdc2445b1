/* SipHash-1-3 (Aumasson and Bernstein) for the rate limiter's check path. */
#include "ratelimit/key_hash.h"

#include <string.h>

static uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

/* One SipRound over the four state words. */
#define SIPROUND(v0, v1, v2, v3) \
  do {                           \
    (v0) += (v1);                \
    (v1) = rotl((v1), 13);       \
    (v1) ^= (v0);                \
    (v0) = rotl((v0), 32);       \
    (v2) += (v3);                \
    (v3) = rotl((v3), 16);       \
    (v3) ^= (v2);                \
    (v0) += (v3);                \
    (v3) = rotl((v3), 21);       \
    (v3) ^= (v0);                \
    (v2) += (v1);                \
    (v1) = rotl((v1), 17);       \
    (v1) ^= (v2);                \
    (v2) = rotl((v2), 32);       \
  } while (0)

static uint64_t load_le64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

/* The last 0..7 bytes, little-endian, with the length in the top byte. */
static uint64_t tail_word(const unsigned char *p, size_t len) {
  uint64_t b = (uint64_t)len << 56;
  switch (len & 7) {
    case 7:
      b |= (uint64_t)p[6] << 48;
      /* fall through */
    case 6:
      b |= (uint64_t)p[5] << 40;
      /* fall through */
    case 5:
      b |= (uint64_t)p[4] << 32;
      /* fall through */
    case 4:
      b |= (uint64_t)p[3] << 24;
      /* fall through */
    case 3:
      b |= (uint64_t)p[2] << 16;
      /* fall through */
    case 2:
      b |= (uint64_t)p[1] << 8;
      /* fall through */
    case 1:
      b |= (uint64_t)p[0];
      break;
    default:
      break;
  }
  return b;
}

uint64_t rl_key_hash(const cp_siphash_key *key, const void *data, size_t len) {
  const unsigned char *in = data;
  uint64_t v0 = key->k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = key->k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = key->k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = key->k1 ^ 0x7465646279746573ULL;
  const unsigned char *end = in + (len & ~(size_t)7);
  for (; in != end; in += 8) {
    uint64_t m = load_le64(in);
    v3 ^= m;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = tail_word(in, len);
  v3 ^= b;
  SIPROUND(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND(v0, v1, v2, v3);
  SIPROUND(v0, v1, v2, v3);
  SIPROUND(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}
