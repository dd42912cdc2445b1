/* SipHash-c-d (Aumasson and Bernstein), written from the paper's
 * description: c compression rounds per 8-byte word, d finalisation rounds.
 * SipHash-2-4 is the paper's recommendation; SipHash-1-3 is the faster
 * variant widely used for hash tables. */
#include "core/siphash.h"

static uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

typedef struct sip_state {
  uint64_t v0, v1, v2, v3;
} sip_state;

static void sip_round(sip_state *s) {
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

static uint64_t load_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) {
    v = (v << 8) | p[i];
  }
  return v;
}

static void absorb(sip_state *s, uint64_t m, int rounds) {
  s->v3 ^= m;
  for (int i = 0; i < rounds; i++) {
    sip_round(s);
  }
  s->v0 ^= m;
}

static uint64_t siphash_cd(const cp_siphash_key *key, const void *data,
                           size_t len, int c, int d) {
  const unsigned char *in = data;
  sip_state s = {
      key->k0 ^ 0x736f6d6570736575ULL,
      key->k1 ^ 0x646f72616e646f6dULL,
      key->k0 ^ 0x6c7967656e657261ULL,
      key->k1 ^ 0x7465646279746573ULL,
  };
  size_t full = len - (len % 8);
  for (size_t i = 0; i < full; i += 8) {
    absorb(&s, load_le64(in + i), c);
  }
  /* Last word: the remaining bytes, then the length in the top byte. */
  uint64_t last = (uint64_t)(len & 0xff) << 56;
  for (size_t i = 0; i < len % 8; i++) {
    last |= (uint64_t)in[full + i] << (8 * i);
  }
  absorb(&s, last, c);
  s.v2 ^= 0xff;
  for (int i = 0; i < d; i++) {
    sip_round(&s);
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t cp_siphash(const cp_siphash_key *key, const void *data, size_t len) {
  return siphash_cd(key, data, len, 2, 4);
}

uint64_t cp_siphash13(const cp_siphash_key *key, const void *data, size_t len) {
  return siphash_cd(key, data, len, 1, 3);
}
