/* A family's series: lock-free lookup by label values, insertion under the
 * registry lock, striped cell storage, and the overflow series. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "metrics/metrics_internal.h"
#include "metrics/names.h"

enum { CACHE_LINE = 64 };

static const uint64_t FNV_OFFSET = 14695981039346656037ULL;
static const uint64_t FNV_PRIME = 1099511628211ULL;

/* FNV-1a with a 0xFF byte after each value: 0xFF never occurs in UTF-8, so
 * ("a","bc") and ("ab","c") differ. A family holds at most max_series
 * entries, which bounds probing even for colliding values. */
static uint64_t hash_values(const char *const *values, const size_t *lens,
                            size_t n) {
  uint64_t h = FNV_OFFSET;
  for (size_t i = 0; i < n; i++) {
    const unsigned char *p = (const unsigned char *)values[i];
    for (size_t k = 0; k < lens[i]; k++) {
      h = (h ^ p[k]) * FNV_PRIME;
    }
    h = (h ^ 0xFFu) * FNV_PRIME;
  }
  return h;
}

/* Fills lens[]; false when a value is missing, too long or not UTF-8. */
static bool values_valid(const cp_metric_family *f, const char *const *values,
                         size_t *lens) {
  if (f->label_count > 0 && values == NULL) {
    return false;
  }
  for (size_t i = 0; i < f->label_count; i++) {
    if (values[i] == NULL) {
      return false;
    }
    lens[i] = strnlen(values[i], CP_METRIC_LABEL_VALUE_MAX + 1);
    if (lens[i] > CP_METRIC_LABEL_VALUE_MAX ||
        !cpi_metric_utf8_valid(values[i], lens[i])) {
      return false;
    }
  }
  return true;
}

static bool same_values(const cp_series *s, const char *const *values,
                        const size_t *lens, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strncmp(s->values[i], values[i], lens[i] + 1) != 0) {
      return false;
    }
  }
  return true;
}

/* Probes the index; returns the series or NULL, and in *slot the empty
 * slot where it would go. */
static cp_series *lookup(const cp_metric_family *f, uint64_t h,
                         const char *const *values, const size_t *lens,
                         size_t *slot) {
  size_t i = (size_t)h & f->index_mask;
  for (;;) {
    cp_series *s = atomic_load_explicit(&f->index[i], memory_order_acquire);
    if (s == NULL) {
      *slot = i;
      return NULL;
    }
    if (s->hash == h && same_values(s, values, lens, f->label_count)) {
      return s;
    }
    i = (i + 1) & f->index_mask;
  }
}

/* Takes the next lane of the current chunk, allocating a chunk when full.
 * Returns the lane's cell base or NULL. */
static _Atomic uint64_t *take_cells(cp_metric_family *f) {
  if (f->chunk == NULL || f->chunk_used == f->lanes) {
    void **chunks = realloc(f->chunks, (f->chunk_count + 1) * sizeof *chunks);
    if (chunks == NULL) {
      return NULL;
    }
    f->chunks = chunks;
    size_t bytes =
        (size_t)(f->stripes + 1) * f->line_cells * sizeof(_Atomic uint64_t);
    void *chunk = aligned_alloc(CACHE_LINE, bytes);
    if (chunk == NULL) {
      return NULL;
    }
    /* Zero is a valid representation of every lock-free atomic here. */
    memset(chunk, 0, bytes);
    f->chunks[f->chunk_count++] = chunk;
    f->chunk = chunk;
    f->chunk_used = 0;
  }
  return f->chunk + f->cells_per_series * f->chunk_used++;
}

/* One allocation: the series, its value pointers, then the value bytes. */
static cp_series *new_series(cp_metric_family *f, const char *const *values,
                             const size_t *lens, uint64_t h,
                             cp_metric_read_fn read, void *user) {
  size_t bytes = sizeof(cp_series) + f->label_count * sizeof(char *);
  for (size_t i = 0; i < f->label_count; i++) {
    bytes += lens[i] + 1;
  }
  cp_series *s = calloc(1, bytes);
  if (s == NULL) {
    return NULL;
  }
  s->family = f;
  s->hash = h;
  s->values = (const char **)(s + 1);
  char *text = (char *)(s->values + f->label_count);
  for (size_t i = 0; i < f->label_count; i++) {
    memcpy(text, values[i], lens[i]);
    text[lens[i]] = '\0';
    s->values[i] = text;
    text += lens[i] + 1;
  }
  atomic_init(&s->gauge, 0);
  atomic_init(&s->used, false);
  s->stripes = f->stripes;
  s->stride = f->line_cells;
  s->bounds = f->bounds;
  s->bound_count = f->bound_count;
  s->read = read;
  s->user = user;
  /* Callback series read their value; they need no cells. */
  if (f->cells_per_series > 0 && read == NULL) {
    s->cells = take_cells(f);
    if (s->cells == NULL) {
      free(s);
      return NULL;
    }
  }
  return s;
}

int cpi_family_init_storage(cp_metric_family *f, unsigned stripes) {
  f->stripes = stripes;
  size_t cap = 2;
  while (cap < 2 * f->max_series) {
    cap *= 2;
  }
  f->index_mask = cap - 1;
  f->index = calloc(cap, sizeof *f->index);
  f->series = calloc(f->max_series, sizeof *f->series);
  atomic_init(&f->series_count, 0);
  if (f->index == NULL || f->series == NULL) {
    return CP_ENOMEM;
  }
  if (f->label_count > 0) {
    const char *values[CP_METRIC_MAX_LABELS] = {NULL};
    size_t lens[CP_METRIC_MAX_LABELS] = {0};
    for (size_t i = 0; i < f->label_count; i++) {
      values[i] = CP_METRIC_OVERFLOW_VALUE;
      lens[i] = strlen(CP_METRIC_OVERFLOW_VALUE);
    }
    f->overflow = new_series(f, values, lens, 0, NULL, NULL);
    if (f->overflow == NULL) {
      return CP_ENOMEM;
    }
    f->overflow->overflow = true;
  }
  return 0;
}

void cpi_family_free_series(cp_metric_family *f) {
  size_t n = atomic_load(&f->series_count);
  for (size_t i = 0; i < n; i++) {
    free(f->series[i]);
  }
  free(f->overflow);
  for (size_t i = 0; i < f->chunk_count; i++) {
    free(f->chunks[i]);
  }
  free(f->chunks);
  free(f->series);
  free(f->index);
}

static cp_series *use_overflow(cp_metric_family *f) {
  if (f->overflow != NULL) {
    atomic_store_explicit(&f->overflow->used, true, memory_order_relaxed);
  }
  return f->overflow;
}

/* The slow path: creates the series under the registry lock. */
static cp_series *insert(cp_metric_family *f, const char *const *values,
                         const size_t *lens, uint64_t h, cp_metric_read_fn read,
                         void *user, int *err) {
  pthread_mutex_t *mu = &f->registry->mu;
  pthread_mutex_lock(mu);
  size_t slot = 0;
  cp_series *s = lookup(f, h, values, lens, &slot);
  size_t n = atomic_load_explicit(&f->series_count, memory_order_relaxed);
  if (s != NULL) {
    *err = read != NULL ? CP_EEXIST : 0;
    s = read != NULL ? NULL : s;
  } else if (n == f->max_series) {
    *err = CP_ELIMIT;
    s = read != NULL ? NULL : use_overflow(f);
  } else {
    s = new_series(f, values, lens, h, read, user);
    if (s == NULL) {
      *err = CP_ENOMEM;
      s = read != NULL ? NULL : use_overflow(f);
    } else {
      f->series[n] = s;
      /* release: readers that find the series see it whole. */
      atomic_store_explicit(&f->series_count, n + 1, memory_order_release);
      atomic_store_explicit(&f->index[slot], s, memory_order_release);
      *err = 0;
    }
  }
  pthread_mutex_unlock(mu);
  return s;
}

cp_series *cpi_family_series(cp_metric_family *f, const char *const *values,
                             cp_metric_read_fn read, void *user, int *err) {
  size_t lens[CP_METRIC_MAX_LABELS] = {0};
  if (!values_valid(f, values, lens)) {
    *err = CP_EINVAL;
    return read != NULL ? NULL : use_overflow(f);
  }
  uint64_t h = hash_values(values, lens, f->label_count);
  size_t slot = 0;
  cp_series *s = lookup(f, h, values, lens, &slot);
  if (s != NULL && read == NULL) {
    *err = 0;
    return s;
  }
  return insert(f, values, lens, h, read, user, err);
}
