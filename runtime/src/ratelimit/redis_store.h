/* The rate policy's shared buckets in Redis (internal; behaviour in
 * cplugin/ratelimit_redis.h): the lease table, and the thread that keeps
 * the link to Redis and leases for it. */
#ifndef CPLUGIN_RATELIMIT_REDIS_STORE_H
#define CPLUGIN_RATELIMIT_REDIS_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "cplugin/ratelimit.h"
#include "cplugin/ratelimit_redis.h"

typedef struct cpi_redis_store cpi_redis_store;

/* What a call gets from the shared bucket. */
typedef enum cpi_store_verdict {
  CPI_STORE_ALLOW = 0,
  CPI_STORE_DENY = 1,  /* the bucket is empty: RESOURCE_EXHAUSTED */
  CPI_STORE_FULL = 2,  /* too many buckets: as CP_RATE_DENY_FULL */
  CPI_STORE_OUTAGE = 3 /* unreachable, policy DENY: UNAVAILABLE */
} cpi_store_verdict;

/* Checks `opts` (CP_EINVAL), then starts the thread, which connects in the
 * background: an unreachable Redis is an outage, not an error. Returns 0,
 * CP_EINVAL, CP_ENOMEM or CP_ESYS. */
int cpi_redis_store_create(cpi_redis_store **out,
                           const cp_rate_redis_options *opts,
                           size_t max_buckets);

/* Stops the thread and frees everything. NULL allowed. */
void cpi_redis_store_destroy(cpi_redis_store *s);

/* One token of the shared bucket of rule `rule_path` ("*" for the default)
 * and the caller named by the bucket key's `tag` byte and the `len` bytes
 * at `caller`. A limit with rate or burst 0 is never shared: ALLOW, the
 * replica's own bucket decides. Any thread; never blocks on Redis.
 * *retry_ns gets the wait for DENY and OUTAGE. */
cpi_store_verdict cpi_redis_store_take(cpi_redis_store *s,
                                       const char *rule_path, char tag,
                                       const char *caller, size_t len,
                                       cp_rate_limit limit, int64_t *retry_ns);

void cpi_redis_store_stats(cpi_redis_store *s, cp_rate_redis_stats *out);

#endif /* CPLUGIN_RATELIMIT_REDIS_STORE_H */
