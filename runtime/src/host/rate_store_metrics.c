/* The host's metrics of its link to Redis, when it shares rate limits
 * (cplugin/ratelimit_redis.h): read from the policy at each scrape. */
#include "host/rate_store_metrics.h"

#include <stddef.h>

#include "cplugin/errors.h"
#include "host/read_metrics.h"

static cp_rate_redis_stats read_stats(void *policy) {
  cp_rate_redis_stats s = {0};
  (void)cp_rate_policy_redis_stats(policy, &s);
  return s;
}

static int64_t store_up(void *p) {
  return read_stats(p).up ? 1 : 0;
}
static int64_t store_failures(void *p) {
  return (int64_t)read_stats(p).failures;
}
static int64_t store_leases(void *p) {
  return (int64_t)read_stats(p).leases;
}
static int64_t store_outage_calls(void *p) {
  return (int64_t)read_stats(p).outage_calls;
}
static int64_t store_buckets(void *p) {
  return (int64_t)read_stats(p).buckets;
}

static const cpi_read_metric store_metrics[] = {
    {"cplugin_rate_limit_store_up",
     "1 while the Redis that shares rate limits answers, else 0",
     CP_METRIC_GAUGE, store_up},
    {"cplugin_rate_limit_store_failures_total",
     "Connects and round trips to the rate-limit Redis that failed, and "
     "bucket keys found holding something else",
     CP_METRIC_COUNTER, store_failures},
    {"cplugin_rate_limit_store_leases_total",
     "Bucket leases and returns the rate-limit Redis answered",
     CP_METRIC_COUNTER, store_leases},
    {"cplugin_rate_limit_store_outage_calls_total",
     "Calls the outage policy decided while the rate-limit Redis was away",
     CP_METRIC_COUNTER, store_outage_calls},
    {"cplugin_rate_limit_store_buckets",
     "Shared buckets this replica holds a lease of", CP_METRIC_GAUGE,
     store_buckets},
};

int cpi_host_attach_rate_store_metrics(cp_metric_registry *registry,
                                       cp_rate_policy *policy) {
  cp_rate_redis_stats probe;
  if (cp_rate_policy_redis_stats(policy, &probe) != 0) {
    return 0; /* limits of this process only: nothing to report */
  }
  return cpi_host_add_read_metrics(
      registry, store_metrics, sizeof store_metrics / sizeof store_metrics[0],
      policy);
}
