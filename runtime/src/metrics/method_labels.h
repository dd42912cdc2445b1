/* Method labels of the standard metrics: a bounded, lock-free map from a
 * registered method's descriptor to its series handles (internal). */
#ifndef CPLUGIN_METRICS_METHOD_LABELS_H
#define CPLUGIN_METRICS_METHOD_LABELS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "cplugin/metrics.h"

/* The label value for unknown methods and for methods past the limit. */
#define CP_METHOD_LABEL_OTHER "other"

/* Handles are resolved on first use and cached; a stale read of NULL only
 * costs a second (idempotent) lookup. */
typedef struct cpi_method_label_slot {
  _Atomic(const cp_method_desc *) key; /* published last */
  char *path;                          /* the label value (copied) */
  bool is_other; /* a method past the limit: counted under "other" */
  cp_histogram *duration;
  _Atomic(cp_counter *) requests[CP_STATUS_CODE_COUNT];
  _Atomic(cp_counter *) denials;
} cpi_method_label_slot;

typedef struct cp_method_labels {
  pthread_mutex_t mu; /* insertion only */
  cpi_method_label_slot *slots;
  size_t mask;
  size_t count; /* methods with their own label */
  size_t keys;  /* occupied slots: labelled methods + redirects to other */
  size_t max;
  cpi_method_label_slot other;
  cp_metric_family *duration_family; /* to create an entry's histogram */
} cp_method_labels;

/* Sets up room for `max` labelled methods (and as many more remembered as
 * "other", so that they too skip the lock). Returns 0 or CP_ENOMEM. */
int cpi_method_labels_init(cp_method_labels *t, size_t max,
                           cp_metric_family *duration_family);
void cpi_method_labels_destroy(cp_method_labels *t);

/* The entry of `method`: inserted on first sight (lock, one allocation);
 * the "other" entry for NULL, for a full table or when memory runs out. */
cpi_method_label_slot *cpi_method_labels_find(cp_method_labels *t,
                                              const cp_method_desc *method);

#endif /* CPLUGIN_METRICS_METHOD_LABELS_H */
