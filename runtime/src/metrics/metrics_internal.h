/* Registry internals shared by the metrics sources (internal). */
#ifndef CPLUGIN_METRICS_INTERNAL_H
#define CPLUGIN_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/metrics.h"
#include "metrics/buckets.h"

/* uint64 cells per cache line: a stripe row starts on its own line. */
#define CP_METRIC_LINE_CELLS 8u

/* One series. cp_counter, cp_gauge and cp_histogram handles point here. */
typedef struct cp_series {
  struct cp_metric_family *family;
  uint64_t hash;
  const char **values; /* label_count strings, allocated with the series */
  /* Counters and histograms: cell j of stripe s is cells[s * stride + j];
   * stripes 0..stripes-1 have one writer each, stripe `stripes` is shared.
   * NULL for gauges and callback series. */
  _Atomic uint64_t *cells;
  size_t stride;
  unsigned stripes;
  const int64_t *bounds; /* histograms: the family's bounds */
  size_t bound_count;
  _Atomic int64_t gauge;  /* gauges */
  cp_metric_read_fn read; /* callback series, else NULL */
  void *user;
  bool overflow;
  atomic_bool used; /* the overflow series is written only once used */
} cp_series;

struct cp_metric_family {
  cp_metric_registry *registry;
  _Atomic(struct cp_metric_family *) next;
  cp_metric_type type;
  cp_metric_unit unit;
  char *name;
  char *help;
  char **label_names;
  size_t label_count;
  size_t max_series;
  int64_t *bounds;
  size_t bound_count;

  /* Cell layout: a chunk holds `lanes` series side by side in each stripe
   * row of `line_cells` cells (whole cache lines), so small series of one
   * stripe share a line that only that stripe's thread writes. */
  size_t cells_per_series;
  size_t lanes;
  size_t line_cells;
  unsigned stripes;
  _Atomic uint64_t *chunk; /* the chunk being filled */
  size_t chunk_used;       /* lanes used in it */
  void **chunks;           /* every chunk, for destroy */
  size_t chunk_count;

  /* series[0 .. series_count) in creation order; published with release. */
  cp_series **series;
  atomic_size_t series_count;
  /* Open addressing over `index_mask + 1` slots; entries never move or go. */
  _Atomic(cp_series *) *index;
  size_t index_mask;
  cp_series *overflow; /* NULL without labels */
};

struct cp_metric_registry {
  pthread_mutex_t mu; /* family creation and series insertion */
  unsigned stripes;
  _Atomic(cp_metric_family *) first;
  cp_metric_family *last;
};

static inline cp_series *cp_series_of(const void *handle) {
  return (cp_series *)handle; /* handles are series */
}

/* Finds or creates the series for `values` (registry lock taken only to
 * create). With `read`, creates a callback series or fails; *err receives
 * the reason for a NULL result (CP_EEXIST, CP_ELIMIT, CP_EINVAL,
 * CP_ENOMEM). series_table.c. */
cp_series *cpi_family_series(cp_metric_family *family,
                             const char *const *values, cp_metric_read_fn read,
                             void *user, int *err);

/* Allocates the series array and index of a described family, and its
 * overflow series when it has labels. Called with the registry lock held.
 * Returns 0 or CP_ENOMEM. series_table.c. */
int cpi_family_init_storage(cp_metric_family *family, unsigned stripes);

/* Frees a family's series, chunks and index (also after a partial
 * cpi_family_init_storage). series_table.c. */
void cpi_family_free_series(cp_metric_family *family);

/* Sum of cell `j` over every stripe of `s`. update.c. */
uint64_t cpi_series_cell_sum(const cp_series *s, size_t j);

#endif /* CPLUGIN_METRICS_INTERNAL_H */
