/* The exposition's text buffer: appends, integer-only number formatting and
 * escaping. */
#include "metrics/textbuf.h"

#include <stdlib.h>
#include <string.h>

enum { INITIAL_CAP = 4096 };

static const uint64_t NS_PER_S = 1000000000u;

void cpi_textbuf_init(cp_textbuf *b) {
  memset(b, 0, sizeof *b);
}

void cpi_textbuf_free(cp_textbuf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static bool reserve(cp_textbuf *b, size_t extra) {
  if (b->failed) {
    return false;
  }
  if (extra > SIZE_MAX / 2 - b->len) {
    b->failed = true;
    return false;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) {
    return true;
  }
  size_t cap = b->cap != 0 ? b->cap : INITIAL_CAP;
  while (cap < need) {
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) {
    b->failed = true;
    return false;
  }
  b->data = p;
  b->cap = cap;
  return true;
}

void cpi_textbuf_put(cp_textbuf *b, const char *s, size_t n) {
  if (!reserve(b, n)) {
    return;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void cpi_textbuf_puts(cp_textbuf *b, const char *s) {
  cpi_textbuf_put(b, s, strlen(s));
}

/* Writes v in decimal, at least `min_digits` digits (zero-padded), into the
 * end of buf[]; returns the first character. */
static char *decimal(char *end, uint64_t v, int min_digits) {
  char *p = end;
  int digits = 0;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
    digits++;
  } while (v != 0 || digits < min_digits);
  return p;
}

size_t cpi_metric_format(char out[CP_METRIC_VALUE_CHARS], bool negative,
                         uint64_t magnitude, cp_metric_unit unit) {
  char buf[CP_METRIC_VALUE_CHARS];
  char *end = buf + sizeof buf;
  char *stop = end; /* one past the last character kept */
  char *p = end;
  if (unit == CP_METRIC_UNIT_NS_AS_SECONDS) {
    uint64_t frac = magnitude % NS_PER_S;
    if (frac != 0) {
      /* nine digits, then drop trailing zeros */
      p = decimal(end, frac, 9);
      while (stop[-1] == '0') {
        stop--;
      }
      *--p = '.';
    }
    magnitude /= NS_PER_S;
  }
  p = decimal(p, magnitude, 1);
  if (negative && (p[0] != '0' || p + 1 != stop)) {
    *--p = '-';
  }
  size_t n = (size_t)(stop - p);
  memcpy(out, p, n);
  out[n] = '\0';
  return n;
}

void cpi_textbuf_value(cp_textbuf *b, bool negative, uint64_t magnitude,
                       cp_metric_unit unit) {
  char text[CP_METRIC_VALUE_CHARS];
  size_t n = cpi_metric_format(text, negative, magnitude, unit);
  cpi_textbuf_put(b, text, n);
}

void cpi_textbuf_u64(cp_textbuf *b, uint64_t v, cp_metric_unit unit) {
  cpi_textbuf_value(b, false, v, unit);
}

void cpi_textbuf_i64(cp_textbuf *b, int64_t v, cp_metric_unit unit) {
  /* Negating INT64_MIN overflows; its magnitude is 2^63. */
  uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  cpi_textbuf_value(b, v < 0, mag, unit);
}

static void escaped(cp_textbuf *b, const char *s, bool quotes) {
  const char *run = s;
  for (const char *p = s; *p != '\0'; p++) {
    const char *esc = NULL;
    if (*p == '\\') {
      esc = "\\\\";
    } else if (*p == '\n') {
      esc = "\\n";
    } else if (quotes && *p == '"') {
      esc = "\\\"";
    }
    if (esc != NULL) {
      cpi_textbuf_put(b, run, (size_t)(p - run));
      cpi_textbuf_put(b, esc, 2);
      run = p + 1;
    }
  }
  cpi_textbuf_puts(b, run);
}

void cpi_textbuf_label_value(cp_textbuf *b, const char *s) {
  escaped(b, s, true);
}

void cpi_textbuf_help(cp_textbuf *b, const char *s) {
  escaped(b, s, false);
}
