/* Sampled timing of runtime token validation. A validation costs tens of
 * nanoseconds and a clock read about twenty, so timing every one would
 * double its cost: each thread times one validation in token_sample_every
 * (the first, then every Nth), with one thread-local increment for the
 * others. The histogram's _count is therefore about validations / N; its
 * quantiles are those of the sample. */
#include "core/clock.h"
#include "metrics/standard_internal.h"

_Thread_local uint32_t cpi_metric_token_tick
    __attribute__((tls_model("initial-exec"))) = 0;

int64_t cp_metrics_token_validation_begin(cp_metrics *metrics) {
  if (metrics == NULL || (cpi_metric_token_tick++ & metrics->token_mask) != 0) {
    return 0;
  }
  int64_t now = cpi_clock_monotonic_ns();
  return now != 0 ? now : 1; /* 0 means "not sampled" */
}

void cp_metrics_token_validation_end(cp_metrics *metrics, int64_t begin_ns) {
  if (metrics == NULL || begin_ns == 0) {
    return;
  }
  cp_histogram_observe(metrics->token_histogram,
                       cpi_clock_monotonic_ns() - begin_ns);
}

void cp_metrics_observe_token_validation(cp_metrics *metrics,
                                         int64_t duration_ns) {
  if (metrics != NULL) {
    cp_histogram_observe(metrics->token_histogram, duration_ns);
  }
}

bool cp_metrics_validate_token(cp_metrics *metrics, cp_token_store *store,
                               const char *runtime_id, size_t runtime_id_len,
                               const char *token, size_t token_len) {
  int64_t begin = cp_metrics_token_validation_begin(metrics);
  bool ok = cp_token_store_validate(store, runtime_id, runtime_id_len, token,
                                    token_len);
  cp_metrics_token_validation_end(metrics, begin);
  return ok;
}
