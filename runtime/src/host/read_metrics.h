/* Metric families whose one value is read from an object at each scrape
 * (internal): what the host reports of its links to Redis and etcd. */
#ifndef CPLUGIN_HOST_READ_METRICS_H
#define CPLUGIN_HOST_READ_METRICS_H

#include <stddef.h>

#include "cplugin/metric_registry.h"

typedef struct cpi_read_metric {
  const char *name;
  const char *help;
  cp_metric_type type;
  cp_metric_read_fn read;
} cpi_read_metric;

/* Adds one family per entry of metrics[0..n), each read with `user`.
 * Returns 0 or the error of cp_metric_family_create. */
int cpi_host_add_read_metrics(cp_metric_registry *registry,
                              const cpi_read_metric *metrics, size_t n,
                              void *user);

#endif /* CPLUGIN_HOST_READ_METRICS_H */
