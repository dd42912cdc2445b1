/* The host's metrics of a rate policy that shares its limits through Redis
 * (internal). */
#ifndef CPLUGIN_HOST_RATE_STORE_METRICS_H
#define CPLUGIN_HOST_RATE_STORE_METRICS_H

#include "cplugin/metric_registry.h"
#include "cplugin/ratelimit_policy.h"

/* Adds cplugin_rate_limit_store_{up, failures_total, leases_total,
 * outage_calls_total, buckets} to `registry`, read from `policy` at each
 * scrape; nothing for a policy without Redis. Returns 0 or the error of
 * cp_metric_family_create. */
int cpi_host_attach_rate_store_metrics(cp_metric_registry *registry,
                                       cp_rate_policy *policy);

#endif /* CPLUGIN_HOST_RATE_STORE_METRICS_H */
