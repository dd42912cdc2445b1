/* SipHash-c-d (Aumasson and Bernstein), written from the paper's
 * description: c compression rounds per 8-byte word, d finalisation rounds.
 * SipHash-2-4 is the paper's recommendation; SipHash-1-3 is the faster
 * variant widely used for hash tables. Words are loaded with memcpy (one
 * load, any alignment), and each variant is compiled with its round counts
 * as constants, since the rate limiter and the token store hash on every
 * call. */
#include "core/siphash.h"

#include <string.h>

static inline uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

typedef struct sip_state {
  uint64_t v0, v1, v2, v3;
} sip_state;

static inline void sip_round(sip_state *s) {
  s->v0 += s->v1;
  s->v1 = rotl(s->v1, 13);
  s->v1 ^= s->v0;
  s->v0 = rotl(s->v0, 32);
  s->v2 += s->v3;
  s->v3 = rotl(s->v3, 16);
  s->v3 ^= s->v2;
  s->v0 += s->v3;
  s->v3 = rotl(s->v3, 21);
  s->v3 ^= s->v0;
  s->v2 += s->v1;
  s->v1 = rotl(s->v1, 17);
  s->v1 ^= s->v2;
  s->v2 = rotl(s->v2, 32);
}

static inline uint64_t load_le64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

/* The last 0..7 bytes, little-endian, with the length in the top byte. */
static inline uint64_t tail_word(const unsigned char *p, size_t len) {
  uint64_t b = (uint64_t)(len & 0xff) << 56;
  for (size_t i = 0; i < (len & 7); i++) {
    b |= (uint64_t)p[i] << (8 * i);
  }
  return b;
}

static inline void absorb(sip_state *s, uint64_t m, int rounds) {
  s->v3 ^= m;
  for (int i = 0; i < rounds; i++) {
    sip_round(s);
  }
  s->v0 ^= m;
}

static inline __attribute__((always_inline)) uint64_t siphash_cd(
    const cp_siphash_key *key, const void *data, size_t len, int c, int d) {
  const unsigned char *in = data;
  sip_state s = {
      key->k0 ^ 0x736f6d6570736575ULL,
      key->k1 ^ 0x646f72616e646f6dULL,
      key->k0 ^ 0x6c7967656e657261ULL,
      key->k1 ^ 0x7465646279746573ULL,
  };
  const unsigned char *end = in + (len & ~(size_t)7);
  for (; in != end; in += 8) {
    absorb(&s, load_le64(in), c);
  }
  absorb(&s, tail_word(in, len), c);
  s.v2 ^= 0xff;
  for (int i = 0; i < d; i++) {
    sip_round(&s);
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t cpi_siphash(const cp_siphash_key *key, const void *data, size_t len) {
  return siphash_cd(key, data, len, 2, 4);
}

uint64_t cpi_siphash13(const cp_siphash_key *key, const void *data,
                       size_t len) {
  return siphash_cd(key, data, len, 1, 3);
}
