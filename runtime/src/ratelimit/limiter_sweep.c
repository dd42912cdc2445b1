/* Eviction of idle buckets, and the background sweep that runs it. */
#include <stdbool.h>
#include <time.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "ratelimit/gcra.h"
#include "ratelimit/limiter_internal.h"

enum { BATCH = 64 };

/* Evicts the bucket in `slot` if it is idle: its state becomes EVICTED
 * (a check racing with us wins the compare-and-swap and keeps it). */
static bool evict_if_idle(cp_rate_limiter *l, rl_bucket *b, int64_t now) {
  uint64_t key = __atomic_load_n(&b->key, __ATOMIC_RELAXED);
  int64_t raw = __atomic_load_n(&b->state, __ATOMIC_ACQUIRE);
  int64_t v = rl_seal(raw, key);
  if (v == RL_STATE_LOCKED || v == RL_STATE_EVICTED) {
    return false;
  }
  cp_rate_limit limit =
      rl_limit_unpack(__atomic_load_n(&b->limit, __ATOMIC_RELAXED));
  int64_t last = __atomic_load_n(&b->last_ns, __ATOMIC_RELAXED);
  if (!cpi_rl_idle(limit, v, last, now, l->idle_ns)) {
    return false;
  }
  return __atomic_compare_exchange_n(&b->state, &raw,
                                     rl_seal(RL_STATE_EVICTED, key), false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Evicts up to BATCH idle buckets of one shard into `ids`; returns how many
 * and whether the shard may hold more. */
static size_t sweep_shard(cp_rate_limiter *l, rl_shard *sh, int64_t now,
                          uint32_t *ids, bool *more) {
  size_t n = 0;
  *more = false;
  pthread_mutex_lock(&sh->mu);
  size_t slots = cpi_bucket_index_slots(sh);
  for (size_t i = 0; i < slots;) {
    uint32_t id = cpi_bucket_index_id_at(sh, i);
    if (id == RL_NO_BUCKET || !evict_if_idle(l, &l->buckets[id], now)) {
      i++;
      continue;
    }
    /* Removal may shift a later entry into slot i: look at it again. */
    cpi_bucket_index_remove_at(sh, i);
    ids[n++] = id;
    if (n == BATCH) {
      *more = true;
      break;
    }
  }
  pthread_mutex_unlock(&sh->mu);
  return n;
}

size_t cp_rate_limiter_sweep(cp_rate_limiter *l) {
  if (l == NULL) {
    return 0;
  }
  uint32_t ids[BATCH];
  size_t total = 0;
  int64_t now = l->clock->now_ns(l->clock->user);
  for (size_t k = 0; k < RL_SHARDS; k++) {
    bool more = true;
    while (more) {
      size_t n = sweep_shard(l, &l->shards[k], now, ids, &more);
      cpi_rl_release_buckets(l, ids, n);
      total += n;
    }
  }
  cpi_sweep_mark_done(&l->swept);
  return total;
}

/* The background sweep: on the housekeeping thread, every interval. */
static void sweep_due(void *user) {
  cp_rate_limiter *l = user;
  cp_rate_limiter_sweep(l);
  /* Without memory to re-arm, sweeps stop; a full limiter then refuses new
   * keys (CP_RATE_DENY_FULL) until cp_rate_limiter_sweep is called. */
  (void)cpi_timer_arm(&l->sweep_timer, cpi_ms_to_ns(l->opts.sweep_interval_ms));
}

int cpi_rl_sweeper_start(cp_rate_limiter *l, const cp_clock *clock) {
  if (l->opts.sweep_interval_ms <= 0) {
    return 0;
  }
  int rc = cpi_housekeeper_acquire(clock, &l->hk);
  if (rc == 0) {
    cpi_timer_init(&l->sweep_timer, l->hk, sweep_due, l);
    rc =
        cpi_timer_arm(&l->sweep_timer, cpi_ms_to_ns(l->opts.sweep_interval_ms));
  }
  if (rc != 0) {
    cpi_housekeeper_release(l->hk);
    l->hk = NULL;
  }
  return rc;
}

void cpi_rl_sweeper_stop(cp_rate_limiter *l) {
  if (l->hk == NULL) {
    return;
  }
  cpi_timer_cancel(&l->sweep_timer);
  cpi_housekeeper_release(l->hk);
  l->hk = NULL;
}
