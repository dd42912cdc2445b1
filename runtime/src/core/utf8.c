/* UTF-8 well-formedness (RFC 3629): what proto3 requires of string fields,
 * checked before a peer's text is stored or sent on to other plugins. */
#include "core/validate.h"

#include <stdint.h>

/* Length of the sequence at s[0..n) when well formed, else 0. */
static size_t sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len;
  uint32_t min;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = c & 0x07u;
  } else {
    return 0; /* a continuation byte first, or 0xF8..0xFF */
  }
  if (len > n) {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
  if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return len;
}

size_t cpi_utf8_sequence_len(const char *s, size_t n) {
  return n == 0 ? 0 : sequence((const unsigned char *)s, n);
}

bool cpi_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    size_t step = sequence(p + i, len - i);
    if (step == 0) {
      return false;
    }
    i += step;
  }
  return true;
}
