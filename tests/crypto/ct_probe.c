/* Drives cpi_ct_equal for tests/crypto/run_ct_check.sh, which counts the
 * instructions executed inside it under callgrind.
 *
 *   ct_probe [--early-exit] POSITION|equal [ITERATIONS]
 *
 * Compares two 32-byte buffers ITERATIONS times (default 1000). With a
 * POSITION (0..31) the buffers first differ there; with "equal" they are
 * equal. --early-exit uses early_exit_equal instead, a memcmp-style loop that
 * stops at the first difference: its counts must differ between positions,
 * which proves the check can fail. Prints how many comparisons said "equal"
 * (so the calls cannot be optimised away). Exit status 2 on bad arguments. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

enum { BUF_BYTES = 32, DEFAULT_ITERATIONS = 1000 };

/* Deliberately not constant time; external so callgrind finds it by name. */
bool early_exit_equal(const void *a, const void *b, size_t n);

__attribute__((noinline)) bool early_exit_equal(const void *a, const void *b,
                                                size_t n) {
  const unsigned char *pa = a;
  const unsigned char *pb = b;
  for (size_t i = 0; i < n; i++) {
    if (pa[i] != pb[i]) {
      return false;
    }
  }
  return true;
}

static int usage(void) {
  fprintf(stderr,
          "usage: ct_probe [--early-exit] POSITION|equal "
          "[ITERATIONS]\n");
  return 2;
}

/* Parses a decimal number in [min, max]; false for anything else. */
static bool parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  int arg = 1;
  bool early = false;
  if (arg < argc && strcmp(argv[arg], "--early-exit") == 0) {
    early = true;
    arg++;
  }
  if (arg >= argc || argc - arg > 2) {
    return usage();
  }
  long position = -1;
  if (strcmp(argv[arg], "equal") != 0 &&
      !parse_long(argv[arg], 0, BUF_BYTES - 1, &position)) {
    return usage();
  }
  long iterations = DEFAULT_ITERATIONS;
  if (arg + 1 < argc && !parse_long(argv[arg + 1], 1, 100000000, &iterations)) {
    return usage();
  }
  unsigned char a[BUF_BYTES];
  unsigned char b[BUF_BYTES];
  for (int i = 0; i < BUF_BYTES; i++) {
    a[i] = (unsigned char)(0x5A ^ (i * 13));
    b[i] = a[i];
  }
  if (position >= 0) {
    b[position] ^= 0x01;
  }
  /* Called through a volatile pointer: no inlining, no specialised clone,
   * so the instructions counted are those of the named function. */
  bool (*volatile compare)(const void *, const void *, size_t) =
      early ? early_exit_equal : cpi_ct_equal;
  long equal = 0;
  for (long i = 0; i < iterations; i++) {
    equal += compare(a, b, sizeof a) ? 1 : 0;
  }
  printf("%ld of %ld comparisons equal\n", equal, iterations);
  return 0;
}
