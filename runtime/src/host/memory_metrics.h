/* The host's operator views of its own state (internal): bytes held per
 * structure (cplugin_memory_bytes{structure}) and when each periodic sweep
 * last finished (cplugin_sweep_last_success_timestamp_seconds{sweeper}),
 * read from the pieces at each scrape. docs/metrics.md lists them. */
#ifndef CPLUGIN_HOST_MEMORY_METRICS_H
#define CPLUGIN_HOST_MEMORY_METRICS_H

#include <stdbool.h>

#include "cplugin/metric_registry.h"
#include "cplugin/ratelimit_policy.h"
#include "cplugin/registry.h"
#include "cplugin/router.h"
#include "cplugin/server.h"
#include "cplugin/tokens.h"

/* The pieces read; must outlive the metric registry. */
typedef struct cpi_host_structures {
  cp_token_store *tokens;
  cp_rate_policy *rate; /* NULL: no rate limits */
  cp_registry *registry;
  cp_router *router;
  cp_server *server;
  /* Which sweeps run periodically: only those get a timestamp series (a
   * sweep that never runs would look stalled). */
  bool tokens_swept;
  bool buckets_swept;
  bool liveness_swept;
} cpi_host_structures;

/* Adds both families to `registry`. Returns 0 or the error of
 * cp_metric_family_create / cp_metric_family_add_func. */
int cpi_host_attach_memory_metrics(cp_metric_registry *registry,
                                   const cpi_host_structures *s);

#endif /* CPLUGIN_HOST_MEMORY_METRICS_H */
