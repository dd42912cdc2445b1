/* The metric registry: creation, family registration and validation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "metrics/metrics_internal.h"
#include "metrics/names.h"
#include "metrics/slots.h"

enum { MIN_DEFAULT_STRIPES = 8, MAX_DEFAULT_STRIPES = 64 };

void cp_metric_registry_options_init(cp_metric_registry_options *opts) {
  memset(opts, 0, sizeof *opts);
}

static unsigned default_stripes(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  long n = cpus > 0 ? cpus * 2 : MIN_DEFAULT_STRIPES;
  if (n < MIN_DEFAULT_STRIPES) {
    n = MIN_DEFAULT_STRIPES;
  }
  if (n > MAX_DEFAULT_STRIPES) {
    n = MAX_DEFAULT_STRIPES;
  }
  return (unsigned)n;
}

int cp_metric_registry_create(cp_metric_registry **out,
                              const cp_metric_registry_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  unsigned stripes = opts != NULL ? opts->stripes : 0;
  if (stripes > CP_METRIC_MAX_SLOTS) {
    return CP_EINVAL;
  }
  cp_metric_registry *r = calloc(1, sizeof *r);
  if (r == NULL) {
    return CP_ENOMEM;
  }
  if (pthread_mutex_init(&r->mu, NULL) != 0) {
    free(r);
    return CP_ENOMEM;
  }
  r->stripes = stripes != 0 ? stripes : default_stripes();
  atomic_init(&r->first, NULL);
  *out = r;
  return 0;
}

static void free_family(cp_metric_family *f) {
  cpi_family_free_series(f);
  for (size_t i = 0; i < f->label_count; i++) {
    free(f->label_names[i]);
  }
  free(f->label_names);
  free(f->bounds);
  free(f->help);
  free(f->name);
  free(f);
}

void cp_metric_registry_destroy(cp_metric_registry *registry) {
  if (registry == NULL) {
    return;
  }
  cp_metric_family *f = atomic_load(&registry->first);
  while (f != NULL) {
    cp_metric_family *next = atomic_load(&f->next);
    free_family(f);
    f = next;
  }
  pthread_mutex_destroy(&registry->mu);
  free(registry);
}

void cp_metric_family_options_init(cp_metric_family_options *opts) {
  memset(opts, 0, sizeof *opts);
}

static bool labels_valid(cp_metric_type type,
                         const cp_metric_family_options *o) {
  if (o->label_count > CP_METRIC_MAX_LABELS ||
      (o->label_count > 0 && o->label_names == NULL)) {
    return false;
  }
  for (size_t i = 0; i < o->label_count; i++) {
    const char *name = o->label_names[i];
    if (!cpi_metric_label_name_valid(name) ||
        (type == CP_METRIC_HISTOGRAM && strcmp(name, "le") == 0)) {
      return false;
    }
    for (size_t k = 0; k < i; k++) {
      if (strcmp(o->label_names[k], name) == 0) {
        return false;
      }
    }
  }
  return true;
}

static bool buckets_valid(cp_metric_type type,
                          const cp_metric_family_options *o) {
  if (type != CP_METRIC_HISTOGRAM) {
    return o->bucket_count == 0;
  }
  if (o->bucket_count == 0 || o->bucket_count > CP_METRIC_MAX_BUCKETS ||
      o->buckets == NULL) {
    return false;
  }
  for (size_t i = 1; i < o->bucket_count; i++) {
    if (o->buckets[i] <= o->buckets[i - 1]) {
      return false;
    }
  }
  return true;
}

static bool opts_valid(cp_metric_type type, const cp_metric_family_options *o) {
  if (type != CP_METRIC_COUNTER && type != CP_METRIC_GAUGE &&
      type != CP_METRIC_HISTOGRAM) {
    return false;
  }
  if (o->unit != CP_METRIC_UNIT_NONE &&
      o->unit != CP_METRIC_UNIT_NS_AS_SECONDS) {
    return false;
  }
  if (!cpi_metric_name_valid(o->name) ||
      o->max_series > CP_METRIC_MAX_SERIES_LIMIT) {
    return false;
  }
  if (o->help != NULL) {
    size_t n = strnlen(o->help, CP_METRIC_HELP_MAX + 1);
    if (n > CP_METRIC_HELP_MAX || !cpi_metric_utf8_valid(o->help, n)) {
      return false;
    }
  }
  return labels_valid(type, o) && buckets_valid(type, o);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n + 1);
  }
  return d;
}

static cp_metric_family *find_family(cp_metric_registry *r, const char *name) {
  for (cp_metric_family *f = atomic_load(&r->first); f != NULL;
       f = atomic_load(&f->next)) {
    if (strcmp(f->name, name) == 0) {
      return f;
    }
  }
  return NULL;
}

/* Copies the description and sets up the series storage (with the
 * overflow series of a labelled family). Called with the registry lock. */
static int build_family(cp_metric_registry *r, cp_metric_type type,
                        const cp_metric_family_options *o,
                        cp_metric_family **out) {
  cp_metric_family *f = calloc(1, sizeof *f);
  if (f == NULL) {
    return CP_ENOMEM;
  }
  f->registry = r;
  atomic_init(&f->next, NULL);
  f->type = type;
  f->unit = o->unit;
  f->label_count = o->label_count;
  f->max_series = o->label_count == 0  ? 1
                  : o->max_series == 0 ? CP_METRIC_DEFAULT_MAX_SERIES
                                       : o->max_series;
  f->bound_count = o->bucket_count;
  f->name = dup_str(o->name);
  f->help = dup_str(o->help != NULL ? o->help : "");
  f->label_names = calloc(o->label_count + 1, sizeof *f->label_names);
  f->bounds = calloc(o->bucket_count + 1, sizeof *f->bounds);
  bool ok = f->name != NULL && f->help != NULL && f->label_names != NULL &&
            f->bounds != NULL;
  for (size_t i = 0; ok && i < o->label_count; i++) {
    f->label_names[i] = dup_str(o->label_names[i]);
    ok = f->label_names[i] != NULL;
  }
  if (ok && o->bucket_count > 0) {
    memcpy(f->bounds, o->buckets, o->bucket_count * sizeof *f->bounds);
  }
  f->cells_per_series = type == CP_METRIC_COUNTER     ? 1
                        : type == CP_METRIC_HISTOGRAM ? o->bucket_count + 2
                                                      : 0;
  if (f->cells_per_series > 0) {
    f->lanes = f->cells_per_series <= CP_METRIC_LINE_CELLS
                   ? CP_METRIC_LINE_CELLS / f->cells_per_series
                   : 1;
    size_t used = f->lanes * f->cells_per_series;
    f->line_cells = (used + CP_METRIC_LINE_CELLS - 1) / CP_METRIC_LINE_CELLS *
                    CP_METRIC_LINE_CELLS;
  }
  int rc = ok ? cpi_family_init_storage(f, r->stripes) : CP_ENOMEM;
  if (rc != 0) {
    free_family(f);
    return rc;
  }
  *out = f;
  return 0;
}

int cp_metric_family_create(cp_metric_family **out,
                            cp_metric_registry *registry, cp_metric_type type,
                            const cp_metric_family_options *opts) {
  if (out != NULL) {
    *out = NULL;
  }
  if (registry == NULL || opts == NULL || out == NULL ||
      !opts_valid(type, opts)) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&registry->mu);
  int rc = CP_EEXIST;
  cp_metric_family *f = NULL;
  if (find_family(registry, opts->name) == NULL) {
    rc = build_family(registry, type, opts, &f);
  }
  if (rc == 0) {
    /* release: a scrape that sees the link sees a complete family. */
    if (registry->last == NULL) {
      atomic_store_explicit(&registry->first, f, memory_order_release);
    } else {
      atomic_store_explicit(&registry->last->next, f, memory_order_release);
    }
    registry->last = f;
    *out = f;
  }
  pthread_mutex_unlock(&registry->mu);
  return rc;
}
