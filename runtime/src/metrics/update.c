/* The hot path: counter, gauge and histogram updates on striped cells, the
 * typed series lookups, and reads that sum the stripes. */
#include <string.h>

#include "cplugin/errors.h"
#include "metrics/metrics_internal.h"
#include "metrics/slots.h"

/* Adds `n` to cell `j` of the calling thread's stripe. A thread owns its
 * stripe, so a relaxed load and store suffice (no locked instruction); the
 * atomics only make the scraper's concurrent reads well-defined. */
static inline void cell_add(const cp_series *s, unsigned slot, size_t j,
                            uint64_t n) {
  if (slot < s->stripes) {
    _Atomic uint64_t *c = &s->cells[(size_t)slot * s->stride + j];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(&s->cells[(size_t)s->stripes * s->stride + j], n,
                              memory_order_relaxed);
  }
}

void cp_counter_add(cp_counter *counter, uint64_t n) {
  const cp_series *s = cp_series_of(counter);
  if (s == NULL || s->cells == NULL) {
    return;
  }
  cell_add(s, cp_metric_slot(), 0, n);
}

size_t cp_histogram_bucket(const int64_t *bounds, size_t bound_count,
                           int64_t value) {
  /* Lower bound: the first bound >= value (Prometheus buckets are "le"). */
  size_t lo = 0;
  size_t n = bound_count;
  while (n > 0) {
    size_t half = n / 2;
    if (bounds[lo + half] < value) {
      lo += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  return lo;
}

void cp_histogram_observe(cp_histogram *histogram, int64_t value) {
  const cp_series *s = cp_series_of(histogram);
  if (s == NULL || s->cells == NULL) {
    return;
  }
  if (value < 0) {
    value = 0;
  }
  size_t b = cp_histogram_bucket(s->bounds, s->bound_count, value);
  unsigned slot = cp_metric_slot();
  cell_add(s, slot, b, 1);
  cell_add(s, slot, s->bound_count + 1, (uint64_t)value);
}

static bool is_plain_gauge(const cp_series *s) {
  return s != NULL && s->family->type == CP_METRIC_GAUGE && s->read == NULL;
}

void cp_gauge_set(cp_gauge *gauge, int64_t value) {
  cp_series *s = cp_series_of(gauge);
  if (is_plain_gauge(s)) {
    atomic_store_explicit(&s->gauge, value, memory_order_relaxed);
  }
}

void cp_gauge_add(cp_gauge *gauge, int64_t delta) {
  cp_series *s = cp_series_of(gauge);
  if (is_plain_gauge(s)) {
    atomic_fetch_add_explicit(&s->gauge, delta, memory_order_relaxed);
  }
}

uint64_t cp_series_cell_sum(const cp_series *s, size_t j) {
  uint64_t sum = 0;
  for (unsigned k = 0; k <= s->stripes; k++) {
    sum += atomic_load_explicit(&s->cells[(size_t)k * s->stride + j],
                                memory_order_relaxed);
  }
  return sum;
}

uint64_t cp_counter_value(const cp_counter *counter) {
  const cp_series *s = cp_series_of(counter);
  if (s == NULL) {
    return 0;
  }
  if (s->read != NULL) {
    int64_t v = s->read(s->user);
    return v > 0 ? (uint64_t)v : 0;
  }
  return s->cells != NULL ? cp_series_cell_sum(s, 0) : 0;
}

int64_t cp_gauge_value(const cp_gauge *gauge) {
  const cp_series *s = cp_series_of(gauge);
  if (s == NULL) {
    return 0;
  }
  if (s->read != NULL) {
    return s->read(s->user);
  }
  return atomic_load_explicit(&s->gauge, memory_order_relaxed);
}

void cp_histogram_read(const cp_histogram *histogram,
                       cp_histogram_snapshot *out) {
  memset(out, 0, sizeof *out);
  const cp_series *s = cp_series_of(histogram);
  if (s == NULL || s->cells == NULL) {
    return;
  }
  out->bucket_count = s->bound_count;
  memcpy(out->bounds, s->bounds, s->bound_count * sizeof *s->bounds);
  for (size_t b = 0; b <= s->bound_count; b++) {
    out->buckets[b] = cp_series_cell_sum(s, b);
    out->count += out->buckets[b];
  }
  out->sum = cp_series_cell_sum(s, s->bound_count + 1);
}

/* --- typed lookups --------------------------------------------------------
 */

static cp_series *typed_get(cp_metric_family *family, cp_metric_type type,
                            const char *const *values) {
  if (family == NULL || family->type != type) {
    return NULL;
  }
  int err = 0;
  return cp_family_series(family, values, NULL, NULL, &err);
}

cp_counter *cp_counter_get(cp_metric_family *family,
                           const char *const *values) {
  return (cp_counter *)typed_get(family, CP_METRIC_COUNTER, values);
}

cp_gauge *cp_gauge_get(cp_metric_family *family, const char *const *values) {
  return (cp_gauge *)typed_get(family, CP_METRIC_GAUGE, values);
}

cp_histogram *cp_histogram_get(cp_metric_family *family,
                               const char *const *values) {
  return (cp_histogram *)typed_get(family, CP_METRIC_HISTOGRAM, values);
}

int cp_metric_family_add_func(cp_metric_family *family,
                              const char *const *values, cp_metric_read_fn read,
                              void *user) {
  if (family == NULL || read == NULL || family->type == CP_METRIC_HISTOGRAM) {
    return CP_EINVAL;
  }
  int err = 0;
  cp_series *s = cp_family_series(family, values, read, user, &err);
  return s != NULL ? 0 : err;
}
