/* Turning a fuzzer's bytes into the NUL-terminated strings the parsers
 * take (fuzz targets only). */
#ifndef CPLUGIN_TESTS_FUZZ_INPUT_H
#define CPLUGIN_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'ed copy of data[0..size) with a NUL after it (embedded NULs stay:
 * the parser sees the prefix before the first one, as a C caller would).
 * Aborts when out of memory, so targets need not check. */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL) {
    abort();
  }
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* A malloc'ed copy of exactly `len` bytes, without a terminator, so ASan
 * sees any read past them. Aborts when out of memory. */
static inline char *fuzz_exact(const char *src, size_t len) {
  char *s = malloc(len > 0 ? len : 1);
  if (s == NULL) {
    abort();
  }
  memcpy(s, src, len);
  return s;
}

/* Splits the input at its first 0xFF byte into two strings (the second is
 * empty when there is none). Free both. */
static inline void fuzz_split(const uint8_t *data, size_t size, char **a,
                              char **b) {
  const uint8_t *cut = memchr(data, 0xFF, size);
  size_t n = cut != NULL ? (size_t)(cut - data) : size;
  *a = fuzz_string(data, n);
  *b = cut != NULL ? fuzz_string(cut + 1, size - n - 1) : fuzz_string(data, 0);
}

#endif /* CPLUGIN_TESTS_FUZZ_INPUT_H */
