/* The log-linear histogram: bucket arithmetic and nearest-rank quantiles. */
#include "hist.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* 2^SUB_BITS sub-buckets per power of two (half of the linear range). */
enum { SUB_BITS = 7, SUB_COUNT = 1 << SUB_BITS, LINEAR = 2 * SUB_COUNT };

/* Buckets up to CTL_HIST_MAX_NS: the linear 0..255, then SUB_COUNT per power
 * of two from 2^8 to the power that holds 60 s (2^35). */
enum { TOP_SHIFT = 35 - SUB_BITS, BUCKETS = LINEAR + TOP_SHIFT * SUB_COUNT };

struct ctl_hist {
  atomic_uint_least64_t counts[BUCKETS];
  atomic_uint_least64_t total;
  atomic_uint_least64_t clamped;
  atomic_uint_least64_t sum_ns;
  atomic_int_least64_t min_ns; /* INT64_MAX while empty */
  atomic_int_least64_t max_ns;
};

ctl_hist *ctl_hist_create(void) {
  ctl_hist *h = malloc(sizeof *h);
  if (h == NULL) {
    return NULL;
  }
  for (int i = 0; i < BUCKETS; i++) {
    atomic_init(&h->counts[i], 0);
  }
  atomic_init(&h->total, 0);
  atomic_init(&h->clamped, 0);
  atomic_init(&h->sum_ns, 0);
  atomic_init(&h->min_ns, INT64_MAX);
  atomic_init(&h->max_ns, 0);
  return h;
}

void ctl_hist_destroy(ctl_hist *h) {
  free(h);
}

static int msb(uint64_t v) {
  return 63 - __builtin_clzll(v);
}

static int bucket_of(int64_t v) {
  if (v < LINEAR) {
    return (int)v;
  }
  int shift = msb((uint64_t)v) - SUB_BITS; /* >= 1 */
  int sub = (int)((uint64_t)v >> shift);   /* SUB_COUNT .. 2*SUB_COUNT-1 */
  return LINEAR + (shift - 1) * SUB_COUNT + (sub - SUB_COUNT);
}

/* The bucket's lowest value and its width. */
static void bucket_range(int idx, int64_t *low, int64_t *width) {
  if (idx < LINEAR) {
    *low = idx;
    *width = 1;
    return;
  }
  int shift = (idx - LINEAR) / SUB_COUNT + 1;
  int sub = (idx - LINEAR) % SUB_COUNT + SUB_COUNT;
  *low = (int64_t)sub << shift;
  *width = (int64_t)1 << shift;
}

static void store_min(atomic_int_least64_t *m, int64_t v) {
  int64_t cur = atomic_load_explicit(m, memory_order_relaxed);
  while (v < cur &&
         !atomic_compare_exchange_weak_explicit(
             m, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

static void store_max(atomic_int_least64_t *m, int64_t v) {
  int64_t cur = atomic_load_explicit(m, memory_order_relaxed);
  while (v > cur &&
         !atomic_compare_exchange_weak_explicit(
             m, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

void ctl_hist_record(ctl_hist *h, int64_t v) {
  if (v < 0) {
    v = 0;
  }
  if (v > CTL_HIST_MAX_NS) {
    v = CTL_HIST_MAX_NS;
    atomic_fetch_add_explicit(&h->clamped, 1, memory_order_relaxed);
  }
  atomic_fetch_add_explicit(&h->counts[bucket_of(v)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)v, memory_order_relaxed);
  store_min(&h->min_ns, v);
  store_max(&h->max_ns, v);
}

void ctl_hist_merge(ctl_hist *dst, const ctl_hist *src) {
  for (int i = 0; i < BUCKETS; i++) {
    uint64_t n = atomic_load_explicit(&src->counts[i], memory_order_relaxed);
    if (n > 0) {
      atomic_fetch_add_explicit(&dst->counts[i], n, memory_order_relaxed);
    }
  }
  atomic_fetch_add_explicit(&dst->total, ctl_hist_count(src),
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&dst->clamped, ctl_hist_clamped(src),
                            memory_order_relaxed);
  atomic_fetch_add_explicit(
      &dst->sum_ns, atomic_load_explicit(&src->sum_ns, memory_order_relaxed),
      memory_order_relaxed);
  if (ctl_hist_count(src) > 0) {
    store_min(&dst->min_ns, ctl_hist_min(src));
    store_max(&dst->max_ns, ctl_hist_max(src));
  }
}

uint64_t ctl_hist_count(const ctl_hist *h) {
  return atomic_load_explicit(&h->total, memory_order_relaxed);
}

uint64_t ctl_hist_clamped(const ctl_hist *h) {
  return atomic_load_explicit(&h->clamped, memory_order_relaxed);
}

int64_t ctl_hist_min(const ctl_hist *h) {
  return ctl_hist_count(h) == 0
             ? 0
             : atomic_load_explicit(&h->min_ns, memory_order_relaxed);
}

int64_t ctl_hist_max(const ctl_hist *h) {
  return atomic_load_explicit(&h->max_ns, memory_order_relaxed);
}

double ctl_hist_mean(const ctl_hist *h) {
  uint64_t n = ctl_hist_count(h);
  if (n == 0) {
    return 0;
  }
  return (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) /
         (double)n;
}

int64_t ctl_hist_quantile(const ctl_hist *h, double q) {
  uint64_t n = ctl_hist_count(h);
  if (n == 0) {
    return 0;
  }
  if (!(q > 0)) { /* also NaN */
    q = 0;
  }
  if (q > 1) {
    q = 1;
  }
  /* q * n is often meant to be a whole number (0.99 * 1000) that binary
   * floating point misses by an ulp: do not let that bump the rank. */
  double x = q * (double)n;
  uint64_t rank = (uint64_t)ceil(x - x * 1e-12);
  if (rank < 1) {
    rank = 1;
  }
  /* The extremes are known exactly. */
  if (rank >= n) {
    return ctl_hist_max(h);
  }
  if (rank == 1) {
    return ctl_hist_min(h);
  }
  uint64_t seen = 0;
  for (int i = 0; i < BUCKETS; i++) {
    seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (seen >= rank) {
      int64_t low = 0;
      int64_t width = 0;
      bucket_range(i, &low, &width);
      int64_t v = low + (width - 1) / 2;
      /* The exact extremes are known: never report beyond them. */
      if (v < ctl_hist_min(h)) {
        v = ctl_hist_min(h);
      }
      if (v > ctl_hist_max(h)) {
        v = ctl_hist_max(h);
      }
      return v;
    }
  }
  return ctl_hist_max(h);
}
