/* protoc-gen-cplugin — a growable string. */
#include "sbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cg_sbuf_init(cg_sbuf *sb) {
  sb->data = NULL;
  sb->len = 0;
  sb->cap = 0;
}

void cg_sbuf_free(cg_sbuf *sb) {
  free(sb->data);
  cg_sbuf_init(sb);
}

void cg_sbuf_reset(cg_sbuf *sb) {
  sb->len = 0;
  if (sb->data != NULL) {
    sb->data[0] = '\0';
  }
}

/* Makes room for `extra` more bytes plus the terminating NUL. */
static void cg_sbuf_reserve(cg_sbuf *sb, size_t extra) {
  if (extra >= SIZE_MAX / 2 - sb->len) {
    cg_out_of_memory();
  }
  size_t need = sb->len + extra + 1;
  if (need <= sb->cap) {
    return;
  }
  size_t cap = sb->cap == 0 ? 256 : sb->cap;
  while (cap < need) {
    cap *= 2;
  }
  sb->data = cg_xrealloc(sb->data, cap);
  sb->cap = cap;
}

void cg_sbuf_putn(cg_sbuf *sb, const char *s, size_t n) {
  cg_sbuf_reserve(sb, n);
  memcpy(sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void cg_sbuf_putc(cg_sbuf *sb, char c) {
  cg_sbuf_putn(sb, &c, 1);
}

void cg_sbuf_puts(cg_sbuf *sb, const char *s) {
  cg_sbuf_putn(sb, s, strlen(s));
}

/* Each variadic function formats twice (measure, then write) with its own
 * va_start, rather than va_copy-ing a va_list parameter.
 *
 * NOLINT below: clang-tidy 14 reports valist.Uninitialized on the first
 * vsnprintf when it analyses another file before this one in the same run
 * (each file alone is clean): a false positive of the analyzer. */
void cg_sbuf_printf(cg_sbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);  // NOLINT(clang-analyzer-valist.*)
  va_end(ap);
  if (n < 0) {
    return; /* only an invalid format fails; the callers' formats are fixed */
  }
  cg_sbuf_reserve(sb, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

const char *cg_sbuf_str(const cg_sbuf *sb) {
  return sb->data == NULL ? "" : sb->data;
}

size_t cg_sbuf_column(const cg_sbuf *sb) {
  size_t i = sb->len;
  while (i > 0 && sb->data[i - 1] != '\n') {
    i--;
  }
  return sb->len - i;
}

char *cg_sbuf_to_arena(const cg_sbuf *sb, cg_arena *arena) {
  return cg_arena_strndup(arena, cg_sbuf_str(sb), sb->len);
}

char *cg_arena_printf(cg_arena *arena, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);  // NOLINT(clang-analyzer-valist.*)
  va_end(ap);
  if (n < 0) {
    return cg_arena_strdup(arena, "");
  }
  char *result = cg_arena_alloc(arena, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(result, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return result;
}
