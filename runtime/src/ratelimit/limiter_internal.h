/* The rate limiter's shared internals: the check path (limiter.c) and the
 * sweep (limiter_sweep.c). */
#ifndef CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H
#define CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/housekeeper.h"
#include "core/siphash.h"
#include "cplugin/ratelimit.h"
#include "ratelimit/bucket.h"
#include "core/sweep_mark.h"
#include "ratelimit/bucket_index.h"

struct cp_rate_limiter {
  /* Read by every check; never written after create. */
  cp_rate_limiter_options opts;
  const cp_clock *clock;
  int64_t idle_ns;
  int64_t rate0_retry_ns; /* wait that renews a rate-0 budget, or NEVER */
  cp_siphash_key hash_key;
  rl_bucket *buckets; /* max_buckets, address space reserved at create */
  /* The background sweep, on the process's housekeeping thread for the
   * limiter's clock (sweep_interval_ms > 0; hk NULL otherwise). Its timer
   * is written once a sweep interval, in what would be padding before the
   * aligned shards. */
  cpi_housekeeper *hk;
  cpi_timer sweep_timer;

  rl_shard shards[RL_SHARDS]; /* cache-line aligned, one mutex each */

  /* Written on insertion and eviction only: placed after the shards, so
   * the fields every check reads never share a cache line with them. */
  atomic_size_t live;
  atomic_uint_fast64_t full_denials;
  cpi_sweep_mark swept;     /* written once a sweep */
  pthread_mutex_t alloc_mu; /* guards free_ids .. free_high, never_used */
  uint32_t *free_ids;       /* evicted buckets to recycle */
  size_t free_count;
  size_t free_high; /* most entries free_ids ever held (memory figure) */

  uint32_t never_used; /* buckets [never_used, max) were never handed out;
                          guarded by alloc_mu */
};

/* Returns evicted buckets to the free list and the live count. */
void cpi_rl_release_buckets(cp_rate_limiter *l, const uint32_t *ids, size_t n);

/* Arms the background sweep (sweep_interval_ms > 0) on the housekeeping
 * thread of `clock` (NULL: the system clock). Returns 0, CP_ENOMEM or
 * CP_ESYS. */
int cpi_rl_sweeper_start(cp_rate_limiter *l, const cp_clock *clock);

/* Cancels the background sweep (waiting for one in progress). */
void cpi_rl_sweeper_stop(cp_rate_limiter *l);

#endif /* CPLUGIN_RATELIMIT_LIMITER_INTERNAL_H */
