/* A growable text buffer with the number and escaping rules of the
 * Prometheus text format (internal). */
#ifndef CPLUGIN_METRICS_TEXTBUF_H
#define CPLUGIN_METRICS_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/metrics.h"

/* Appends never fail: after an allocation failure `failed` is set and
 * further appends are ignored, so writers check once at the end. */
typedef struct cp_textbuf {
  char *data; /* NUL-terminated while not failed */
  size_t len;
  size_t cap;
  bool failed;
} cp_textbuf;

void cpi_textbuf_init(cp_textbuf *b);
void cpi_textbuf_free(cp_textbuf *b);

void cpi_textbuf_put(cp_textbuf *b, const char *s, size_t n);
void cpi_textbuf_puts(cp_textbuf *b, const char *s);

/* Longest formatted value with its NUL: 20 digits, '-', '.', NUL. */
#define CP_METRIC_VALUE_CHARS 32

/* Formats a value of `unit` into `out` (NUL-terminated) and returns its
 * length; see cpi_textbuf_value. */
size_t cpi_metric_format(char out[CP_METRIC_VALUE_CHARS], bool negative,
                         uint64_t magnitude, cp_metric_unit unit);

/* A value of `unit`, given as a sign and a magnitude so that both uint64
 * counters and negative gauges fit: integers as they are; nanoseconds as
 * seconds with up to nine decimals and no trailing zeros ("0.0025", "3"). */
void cpi_textbuf_value(cp_textbuf *b, bool negative, uint64_t magnitude,
                       cp_metric_unit unit);
void cpi_textbuf_u64(cp_textbuf *b, uint64_t v, cp_metric_unit unit);
void cpi_textbuf_i64(cp_textbuf *b, int64_t v, cp_metric_unit unit);

/* A label value with '\\', '"' and newline escaped. */
void cpi_textbuf_label_value(cp_textbuf *b, const char *s);

/* Help text with '\\' and newline escaped. */
void cpi_textbuf_help(cp_textbuf *b, const char *s);

#endif /* CPLUGIN_METRICS_TEXTBUF_H */
