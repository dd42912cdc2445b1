/* The hot path: counter, gauge and histogram updates on striped cells, the
 * typed series lookups, and reads that sum the stripes. */
#include <string.h>

#include "cplugin/errors.h"
#include "metrics/metrics_internal.h"
#include "metrics/slots.h"

/* The calling thread's stripe row of `s`; *owned tells whether the thread
 * is its only writer (otherwise it is the shared row). */
static inline _Atomic uint64_t *my_row(const cp_series *s, bool *owned) {
  unsigned slot = cp_metric_slot();
  *owned = slot < s->stripes;
  return s->cells + (size_t)(*owned ? slot : s->stripes) * s->stride;
}

/* Adds `n` to a cell of a row. In an owned row a relaxed load and store
 * suffice (no locked instruction): the atomics only make the scraper's
 * concurrent reads well-defined. */
static inline void cell_add(_Atomic uint64_t *cell, bool owned, uint64_t n) {
  if (owned) {
    atomic_store_explicit(cell,
                          atomic_load_explicit(cell, memory_order_relaxed) + n,
                          memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(cell, n, memory_order_relaxed);
  }
}

void cp_counter_add(cp_counter *counter, uint64_t n) {
  const cp_series *s = cp_series_of(counter);
  if (s == NULL || s->cells == NULL) {
    return;
  }
  bool owned;
  _Atomic uint64_t *row = my_row(s, &owned);
  cell_add(row, owned, n);
}

/* Lower bound (the first bound >= value: Prometheus buckets are "le"),
 * written so that the compiler uses conditional moves: durations land in
 * unpredictable buckets, and a mispredicted branch per halving would cost
 * more than the whole update. */
static inline size_t bucket_of(const int64_t *bounds, size_t bound_count,
                               int64_t value) {
  if (bound_count == 0) {
    return 0;
  }
  const int64_t *base = bounds;
  size_t n = bound_count;
  while (n > 1) {
    size_t half = n / 2;
    base = base[half] < value ? base + half : base;
    n -= half;
  }
  return (size_t)(base - bounds) + (*base < value);
}

size_t cpi_histogram_bucket(const int64_t *bounds, size_t bound_count,
                            int64_t value) {
  return bucket_of(bounds, bound_count, value);
}

void cp_histogram_observe(cp_histogram *histogram, int64_t value) {
  const cp_series *s = cp_series_of(histogram);
  if (s == NULL || s->cells == NULL) {
    return;
  }
  if (value < 0) {
    value = 0;
  }
  /* Everything read from the series before the first store: the compiler
   * cannot tell that the cells do not alias it. */
  size_t bound_count = s->bound_count;
  size_t b = bucket_of(s->bounds, bound_count, value);
  bool owned;
  _Atomic uint64_t *row = my_row(s, &owned);
  cell_add(&row[b], owned, 1);
  cell_add(&row[bound_count + 1], owned, (uint64_t)value);
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

uint64_t cpi_series_cell_sum(const cp_series *s, size_t j) {
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
  return s->cells != NULL ? cpi_series_cell_sum(s, 0) : 0;
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
    out->buckets[b] = cpi_series_cell_sum(s, b);
    out->count += out->buckets[b];
  }
  out->sum = cpi_series_cell_sum(s, s->bound_count + 1);
}

/* --- typed lookups --------------------------------------------------------
 */

static cp_series *typed_get(cp_metric_family *family, cp_metric_type type,
                            const char *const *values) {
  if (family == NULL || family->type != type) {
    return NULL;
  }
  int err = 0;
  return cpi_family_series(family, values, NULL, NULL, &err);
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
  cp_series *s = cpi_family_series(family, values, read, user, &err);
  return s != NULL ? 0 : err;
}
