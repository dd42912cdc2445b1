/* The cp_metrics object, shared by the standard-metrics sources
 * (internal). */
#ifndef CPLUGIN_METRICS_STANDARD_INTERNAL_H
#define CPLUGIN_METRICS_STANDARD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cplugin/metrics.h"
#include "metrics/method_labels.h"

struct cp_metrics {
  cp_metric_registry *registry;
  cp_metric_family *requests;
  cp_metric_family *duration;
  cp_metric_family *token_duration;
  cp_metric_family *denials;
  cp_metric_family *buckets_active;
  cp_metric_family *tokens_active;
  cp_metric_family *handshakes;
  cp_metric_family *rss;
  cp_metric_family *threads;
  cp_histogram *token_histogram;
  cp_method_labels methods;
  bool methods_ready;
  uint32_t token_mask; /* sample when (tick & mask) == 0 */
  atomic_bool ready;
  /* Set before the listener starts; read by its thread. */
  cp_ready_check_fn ready_check;
  void *ready_user;
};

/* Validations seen by this thread, for sampling (token_timing.c).
 * initial-exec: one %fs-relative access, no __tls_get_addr call. It is a
 * global symbol on purpose: for a *static* initial-exec thread-local in a
 * shared object, gold (Bazel's default linker) emits its TPOFF64 relocation
 * with the symbol's offset dropped, so the variable aliased another module
 * variable at offset 0. References through a global symbol are resolved
 * correctly. */
extern _Thread_local uint32_t cpi_metric_token_tick
    __attribute__((tls_model("initial-exec")));

#endif /* CPLUGIN_METRICS_STANDARD_INTERNAL_H */
