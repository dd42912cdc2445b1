/* cplugin — a metric registry: counters, gauges and histograms exposed in
 * the Prometheus text format (0.0.4). Nothing cplugin-specific: the
 * standard cplugin metrics built on it are in cplugin/metrics.h, the HTTP
 * listener in cplugin/metrics_http.h.
 *
 * Registry model. A family (one metric name, help text, label names) holds
 * series, one per combination of label values. A family accepts at most
 * `max_series` combinations; later new combinations all land in a single
 * overflow series whose every label value is CP_METRIC_OVERFLOW_VALUE, so
 * what callers (or attackers) send can never grow the registry without
 * bound. Label values that are not valid UTF-8 or longer than
 * CP_METRIC_LABEL_VALUE_MAX bytes also go to the overflow series.
 *
 * Hot path. Updating a series (cp_counter_add, cp_histogram_observe,
 * cp_gauge_set) takes no lock and never allocates. Counter and histogram
 * cells are striped: each updating thread owns a stripe (a cache line per
 * thread, claimed on its first update and returned when it exits) and
 * writes it without a locked instruction; threads beyond the
 * registry's stripe count share one extra stripe updated with atomic
 * read-modify-write. A scrape sums the stripes, so counts are exact; a
 * histogram's _sum may lag its _count by the observations in flight.
 * Looking a series up by label values (cp_counter_get ...) hashes the values
 * and is lock-free for combinations already present; the first use of a new
 * combination takes the registry's lock and allocates once. Keep the handle
 * to skip the lookup on later updates.
 *
 * Values are integers: counters are uint64, gauges int64, histograms observe
 * int64 values (negative ones count as 0). A family's unit may ask for
 * nanoseconds to be exported as seconds: the conversion is done with integer
 * arithmetic when the text is written ("0.0025"), so nothing drifts.
 *
 * Thread safety: every function may be called from any thread, except the
 * destroy functions (nothing else may be running on that object). Read
 * callbacks (cp_metric_read_fn) run on the scraping thread while the
 * registry renders; they must not create families in the same registry.
 */
#ifndef CPLUGIN_METRIC_REGISTRY_H
#define CPLUGIN_METRIC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits. */
#define CP_METRIC_MAX_LABELS 4        /* label names per family */
#define CP_METRIC_MAX_BUCKETS 32      /* histogram upper bounds (+Inf extra) */
#define CP_METRIC_NAME_MAX 128        /* metric and label name bytes */
#define CP_METRIC_HELP_MAX 1024       /* help text bytes */
#define CP_METRIC_LABEL_VALUE_MAX 256 /* label value bytes */
#define CP_METRIC_DEFAULT_MAX_SERIES 64
#define CP_METRIC_MAX_SERIES_LIMIT 65536
#define CP_METRIC_OVERFLOW_VALUE "__overflow__"

typedef enum cp_metric_type {
  CP_METRIC_COUNTER = 0,
  CP_METRIC_GAUGE = 1,
  CP_METRIC_HISTOGRAM = 2
} cp_metric_type;

/* How values are written. */
typedef enum cp_metric_unit {
  CP_METRIC_UNIT_NONE = 0,         /* integers as they are */
  CP_METRIC_UNIT_NS_AS_SECONDS = 1 /* nanoseconds in, seconds out */
} cp_metric_unit;

/* A value read at scrape time (gauge or counter backed by a callback). */
typedef int64_t (*cp_metric_read_fn)(void *user);

typedef struct cp_metric_registry cp_metric_registry;
typedef struct cp_metric_family cp_metric_family;
/* One series of a family. Handles stay valid until the registry is
 * destroyed. */
typedef struct cp_counter cp_counter;
typedef struct cp_gauge cp_gauge;
typedef struct cp_histogram cp_histogram;

/* --- registry ------------------------------------------------------------ */

typedef struct cp_metric_registry_options {
  /* Owned stripes per counter/histogram series: threads holding slots below
   * this write without locked instructions, the rest share one atomic
   * stripe. 0 = twice the online CPUs, clamped to 8..64. At most 256. */
  unsigned stripes;
} cp_metric_registry_options;

/* Fills `opts` with the defaults. */
CP_API void cp_metric_registry_options_init(cp_metric_registry_options *opts);

/* Creates an empty registry. `opts` may be NULL; it is copied. Returns 0,
 * CP_EINVAL or CP_ENOMEM. Destroy with cp_metric_registry_destroy. */
CP_API int cp_metric_registry_create(cp_metric_registry **out,
                                     const cp_metric_registry_options *opts);

/* Frees the registry with every family and series (handles become invalid).
 * NULL allowed. No other call on the registry may be running. */
CP_API void cp_metric_registry_destroy(cp_metric_registry *registry);

/* --- families ------------------------------------------------------------ */

typedef struct cp_metric_family_options {
  /* Metric name, [a-zA-Z_:][a-zA-Z0-9_:]*. Copied. */
  const char *name;
  /* Help text (UTF-8, no more than CP_METRIC_HELP_MAX bytes). Copied. */
  const char *help;
  /* Label names, [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", distinct,
   * and not "le" for histograms. Copied. */
  const char *const *label_names;
  size_t label_count;
  /* Label-value combinations before the overflow series (default
   * CP_METRIC_DEFAULT_MAX_SERIES; at most CP_METRIC_MAX_SERIES_LIMIT).
   * Ignored without labels (one series). */
  size_t max_series;
  cp_metric_unit unit;
  /* Histograms: upper bounds, strictly increasing, in the observed unit
   * (nanoseconds for CP_METRIC_UNIT_NS_AS_SECONDS). 1..CP_METRIC_MAX_BUCKETS
   * of them; +Inf is implied. Copied. */
  const int64_t *buckets;
  size_t bucket_count;
} cp_metric_family_options;

/* Zeroes `opts` (no labels, default max_series, unit none). */
CP_API void cp_metric_family_options_init(cp_metric_family_options *opts);

/* Registers a family in `registry`; it appears in the exposition once it has
 * a series. Returns 0 and sets *out (owned by the registry), CP_EINVAL for
 * a bad name, label, bucket list or type, CP_EEXIST when the name is taken,
 * or CP_ENOMEM. */
CP_API int cp_metric_family_create(cp_metric_family **out,
                                   cp_metric_registry *registry,
                                   cp_metric_type type,
                                   const cp_metric_family_options *opts);

/* The series for `values` (label_count strings, in label-name order; NULL
 * when the family has no labels), created on first use; the overflow series
 * when the family is full or a value is invalid. Returns NULL only when
 * `family` is NULL or of another type, or when memory runs out; every update
 * function accepts NULL and then does nothing. */
CP_API cp_counter *cp_counter_get(cp_metric_family *family,
                                  const char *const *values);
CP_API cp_gauge *cp_gauge_get(cp_metric_family *family,
                              const char *const *values);
CP_API cp_histogram *cp_histogram_get(cp_metric_family *family,
                                      const char *const *values);

/* Adds a series to a counter or gauge family whose value is `read(user)`,
 * evaluated at each scrape (a negative result reads as 0 for counters).
 * `user` is not owned and must stay valid while the registry can be
 * scraped. Returns 0; CP_EINVAL for a histogram family, NULL `read` or an
 * invalid value; CP_EEXIST when the combination exists; CP_ELIMIT when the
 * family is full (callbacks never go to the overflow series); CP_ENOMEM. */
CP_API int cp_metric_family_add_func(cp_metric_family *family,
                                     const char *const *values,
                                     cp_metric_read_fn read, void *user);

/* --- updates (lock-free, allocation-free; NULL handles are ignored) ---------
 * Not async-signal-safe: a signal handler updating the series its thread
 * was updating may lose one of the two updates. */

CP_API void cp_counter_add(cp_counter *counter, uint64_t n);
static inline void cp_counter_inc(cp_counter *counter) {
  cp_counter_add(counter, 1);
}

/* Gauges hold one atomic cell (no stripes: gauges are set, not summed). */
CP_API void cp_gauge_set(cp_gauge *gauge, int64_t value);
CP_API void cp_gauge_add(cp_gauge *gauge, int64_t delta);

CP_API void cp_histogram_observe(cp_histogram *histogram, int64_t value);

/* --- reads (for tests and for hosts that report elsewhere) --------------- */

/* Current value (sum over stripes; callback series are evaluated). */
CP_API uint64_t cp_counter_value(const cp_counter *counter);
CP_API int64_t cp_gauge_value(const cp_gauge *gauge);

typedef struct cp_histogram_snapshot {
  size_t bucket_count;                         /* upper bounds */
  int64_t bounds[CP_METRIC_MAX_BUCKETS];       /* as registered */
  uint64_t buckets[CP_METRIC_MAX_BUCKETS + 1]; /* per bucket, not
                                                  cumulative; the last one
                                                  is (bounds[n-1], +Inf) */
  uint64_t count;                              /* sum of buckets[] */
  uint64_t sum;                                /* sum of observed values */
} cp_histogram_snapshot;

/* Fills `out` (zeroed for a NULL histogram). */
CP_API void cp_histogram_read(const cp_histogram *histogram,
                              cp_histogram_snapshot *out);

/* --- exposition ---------------------------------------------------------- */

/* The content type of cp_metric_registry_render's output. */
#define CP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes every family with at least one series in the Prometheus text format
 * 0.0.4: families in registration order, series in creation order (the
 * overflow series last). Returns 0 with *text (NUL-terminated, *len bytes
 * without the NUL; free it with cp_metric_text_free) or CP_ENOMEM. */
CP_API int cp_metric_registry_render(cp_metric_registry *registry, char **text,
                                     size_t *len);

/* Frees text returned by a render function. NULL allowed. */
CP_API void cp_metric_text_free(char *text);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_METRIC_REGISTRY_H */
