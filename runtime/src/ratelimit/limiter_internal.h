/* The rate limiter's shared internals: the check path (limiter.c) and the
 * sweep (limiter_sweep.c). */
#ifndef CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H
#define CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/siphash.h"
#include "cplugin/ratelimit.h"
#include "ratelimit/bucket.h"
#include "ratelimit/bucket_index.h"

struct cp_rate_limiter {
  /* Read by every check; never written after create. */
  cp_rate_limiter_options opts;
  const cp_clock *clock;
  int64_t idle_ns;
  int64_t rate0_retry_ns; /* wait that renews a rate-0 budget, or NEVER */
  cp_siphash_key hash_key;
  rl_bucket *buckets; /* max_buckets, address space reserved at create */

  rl_shard shards[RL_SHARDS]; /* cache-line aligned, one mutex each */

  /* Written on insertion and eviction only: placed after the shards, so
   * the fields every check reads never share a cache line with them. */
  size_t live;              /* atomic */
  uint64_t full_denials;    /* atomic */
  pthread_mutex_t alloc_mu; /* guards the four below */
  uint32_t *free_ids;       /* evicted buckets to recycle */
  size_t free_count;
  size_t free_high;    /* most entries free_ids ever held (memory figure) */
  uint32_t never_used; /* buckets [never_used, max) were never handed out */

  pthread_t sweeper;
  pthread_mutex_t sweep_mu;
  pthread_cond_t sweep_cv;
  bool sweeper_running;
  bool stopping;
};

/* Returns evicted buckets to the free list and the live count. */
void cpi_rl_release_buckets(cp_rate_limiter *l, const uint32_t *ids, size_t n);

/* Starts the sweeper thread (sweep_interval_ms > 0). Returns 0 or CP_ESYS. */
int cpi_rl_sweeper_start(cp_rate_limiter *l);

/* Wakes and joins the sweeper thread, if running. */
void cpi_rl_sweeper_stop(cp_rate_limiter *l);

#endif /* CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H */
