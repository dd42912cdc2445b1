/* Table-driven decoders for presented runtime IDs and tokens. */
#include "tokens/token_codec.h"

#include <string.h>

/* The 6-bit value of a base64url character, or -1. */
#define B64(c)                                 \
  ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'      \
   : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 \
   : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 \
   : (c) == '-'               ? 62             \
   : (c) == '_'               ? 63             \
                              : -1)

/* Four tables, one per position in a group of four characters, holding the
 * value already shifted into its place in the 24-bit group, or INVALID: a
 * group decodes with four loads and three ORs. */
#define INVALID 0x80000000u
#define AT(c, shift) (B64(c) < 0 ? INVALID : (uint32_t)B64(c) << (shift))
/* M is a macro name, which cannot be parenthesised. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define R4(M, i) M(i), M(i + 1), M(i + 2), M(i + 3)
#define R16(M, i) R4(M, i), R4(M, i + 4), R4(M, i + 8), R4(M, i + 12)
#define R64(M, i) R16(M, i), R16(M, i + 16), R16(M, i + 32), R16(M, i + 48)
#define R256(M) R64(M, 0), R64(M, 64), R64(M, 128), R64(M, 192)
/* NOLINTEND(bugprone-macro-parentheses) */
#define AT18(c) AT(c, 18)
#define AT12(c) AT(c, 12)
#define AT6(c) AT(c, 6)
#define AT0(c) AT(c, 0)

static const uint32_t at18[256] = {R256(AT18)};
static const uint32_t at12[256] = {R256(AT12)};
static const uint32_t at6[256] = {R256(AT6)};
static const uint32_t at0[256] = {R256(AT0)};

static const int16_t hex_digit[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,
    9,  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

bool cpi_token_decode44(const char *in, uint64_t out[4]) {
  const unsigned char *u = (const unsigned char *)in;
  uint8_t bytes[32];
  uint32_t bad = 0;
  /* Ten groups of four characters make 30 bytes. */
  for (size_t g = 0; g < 10; g++) {
    const unsigned char *c = u + 4 * g;
    uint32_t w = at18[c[0]] | at12[c[1]] | at6[c[2]] | at0[c[3]];
    bad |= w;
    bytes[3 * g] = (uint8_t)(w >> 16);
    bytes[3 * g + 1] = (uint8_t)(w >> 8);
    bytes[3 * g + 2] = (uint8_t)w;
  }
  /* "XYZ=": two bytes; the two bits of Z under the padding must be zero. */
  uint32_t w = at18[u[40]] | at12[u[41]] | at6[u[42]];
  bad |= w;
  if ((bad & INVALID) != 0 || u[43] != '=' || (w & 0xFFu) != 0) {
    return false;
  }
  bytes[30] = (uint8_t)(w >> 16);
  bytes[31] = (uint8_t)(w >> 8);
  memcpy(out, bytes, sizeof bytes);
  return true;
}

bool cpi_token_decode_hex16(const char *in, uint64_t *out) {
  uint64_t v = 0;
  int bad = 0;
  for (size_t i = 0; i < 16; i++) {
    int d = hex_digit[(unsigned char)in[i]];
    bad |= d;
    v = (v << 4) | (uint64_t)(d & 15);
  }
  *out = v;
  return bad >= 0;
}
