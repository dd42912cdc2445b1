/* Descriptor -> method-label entry map for the standard metrics. Registered
 * methods are keyed by descriptor address (generated descriptors are
 * static), so the per-call lookup is a hash of a pointer and one compare;
 * no string from the wire ever becomes a label. */
#include "metrics/method_labels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

static void init_entry(cpi_method_label_slot *e) {
  atomic_init(&e->key, NULL);
  e->path = NULL;
  e->is_other = false;
  e->duration = NULL;
  for (size_t i = 0; i < CP_STATUS_CODE_COUNT; i++) {
    atomic_init(&e->requests[i], NULL);
  }
  atomic_init(&e->denials, NULL);
}

static cp_histogram *duration_of(cp_method_labels *t, const char *path) {
  const char *values[1] = {path};
  return cp_histogram_get(t->duration_family, values);
}

int cpi_method_labels_init(cp_method_labels *t, size_t max,
                           cp_metric_family *duration_family) {
  memset(t, 0, sizeof *t);
  /* Up to 2 * max keys at a load factor of at most one half. */
  size_t cap = 4;
  while (cap < 4 * max) {
    cap *= 2;
  }
  t->slots = malloc(cap * sizeof *t->slots);
  if (t->slots == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < cap; i++) {
    init_entry(&t->slots[i]);
  }
  if (pthread_mutex_init(&t->mu, NULL) != 0) {
    free(t->slots);
    t->slots = NULL;
    return CP_ENOMEM;
  }
  t->mask = cap - 1;
  t->max = max;
  t->duration_family = duration_family;
  init_entry(&t->other);
  t->other.path = strdup(CP_METHOD_LABEL_OTHER);
  t->other.duration = duration_of(t, CP_METHOD_LABEL_OTHER);
  if (t->other.path == NULL || t->other.duration == NULL) {
    cpi_method_labels_destroy(t);
    return CP_ENOMEM;
  }
  return 0;
}

void cpi_method_labels_destroy(cp_method_labels *t) {
  if (t->slots != NULL) {
    for (size_t i = 0; i <= t->mask; i++) {
      free(t->slots[i].path);
    }
    free(t->slots);
    pthread_mutex_destroy(&t->mu);
  }
  free(t->other.path);
  memset(t, 0, sizeof *t);
}

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

/* Returns the entry holding `method`, or the empty slot where it would go
 * (its key NULL). Never full: at most half the slots hold keys. */
static cpi_method_label_slot *probe(const cp_method_labels *t,
                                    const cp_method_desc *method) {
  size_t i = hash_ptr(method) & t->mask;
  for (;;) {
    cpi_method_label_slot *e = &t->slots[i];
    const cp_method_desc *k =
        atomic_load_explicit(&e->key, memory_order_acquire);
    if (k == method || k == NULL) {
      return e;
    }
    i = (i + 1) & t->mask;
  }
}

static cpi_method_label_slot *insert(cp_method_labels *t,
                                     const cp_method_desc *method) {
  pthread_mutex_lock(&t->mu);
  cpi_method_label_slot *e = probe(t, method);
  if (atomic_load_explicit(&e->key, memory_order_relaxed) == NULL) {
    if (t->keys == 2 * t->max) {
      e = &t->other; /* pathological: more methods than slots */
    } else if (t->count == t->max) {
      e->is_other = true;
    } else {
      char *path = method->path != NULL
                       ? strndup(method->path, CP_METRIC_LABEL_VALUE_MAX + 1)
                       : NULL;
      e->duration = path != NULL ? duration_of(t, path) : NULL;
      e->path = path;
      e->is_other = path == NULL; /* a descriptor without a path */
      if (path != NULL && e->duration == NULL) {
        free(path); /* out of memory: retried on the next call */
        e->path = NULL;
        e = &t->other;
      } else if (path != NULL) {
        t->count++;
      }
    }
    if (e != &t->other) {
      t->keys++;
      /* release: a thread that sees the key sees the rest of the entry. */
      atomic_store_explicit(&e->key, method, memory_order_release);
    }
  }
  pthread_mutex_unlock(&t->mu);
  return e->is_other ? &t->other : e;
}

cpi_method_label_slot *cpi_method_labels_find(cp_method_labels *t,
                                              const cp_method_desc *method) {
  if (method == NULL) {
    return &t->other;
  }
  cpi_method_label_slot *e = probe(t, method);
  if (atomic_load_explicit(&e->key, memory_order_acquire) == method) {
    return e->is_other ? &t->other : e;
  }
  return insert(t, method);
}
