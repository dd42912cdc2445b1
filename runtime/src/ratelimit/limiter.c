/* The rate limiter: create and destroy, the check path, bucket allocation,
 * counters. Eviction and the sweeper thread are in limiter_sweep.c. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "crypto/crypto.h"
#include "core/siphash.h"
#include "cplugin/errors.h"
#include "cplugin/ratelimit.h"
#include "ratelimit/gcra.h"
#include "ratelimit/limiter_internal.h"

_Static_assert(sizeof(rl_bucket) == CP_RATE_BUCKET_BYTES,
               "CP_RATE_BUCKET_BYTES matches the bucket");

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define NS_PER_MS 1000000LL

/* Internal outcome: look the key up again (it was inserted, evicted or its
 * bucket recycled meanwhile). Never returned to callers. */
#define RL_AGAIN (-100)

void cp_rate_limiter_options_init(cp_rate_limiter_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_buckets = 100000;
  opts->idle_evict_ms = INT64_C(5) * 60 * 1000;
  opts->sweep_interval_ms = INT64_C(60) * 1000;
  opts->clock = NULL;
}

size_t cp_rate_limiter_bytes_per_bucket(void) {
  return sizeof(rl_bucket);
}

static bool options_valid(const cp_rate_limiter_options *o) {
  return o->max_buckets >= 1 && o->max_buckets <= CP_RATE_MAX_BUCKETS_LIMIT &&
         o->idle_evict_ms >= 0 && o->idle_evict_ms <= INT64_MAX / NS_PER_MS &&
         o->sweep_interval_ms >= 0 &&
         o->sweep_interval_ms <= INT64_MAX / NS_PER_MS &&
         (o->clock == NULL || o->clock->now_ns != NULL);
}

static void free_limiter(cp_rate_limiter *l, size_t shards_ready) {
  for (size_t i = 0; i < shards_ready; i++) {
    cpi_bucket_index_destroy(&l->shards[i]);
  }
  free(l->buckets);
  free(l->free_ids);
  pthread_mutex_destroy(&l->alloc_mu);
  free(l);
}

int cp_rate_limiter_create(cp_rate_limiter **out,
                           const cp_rate_limiter_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_rate_limiter_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_rate_limiter_options_init(&o);
  }
  if (!options_valid(&o)) {
    return CP_EINVAL;
  }
  size_t size = (sizeof(cp_rate_limiter) + 63) & ~(size_t)63;
  cp_rate_limiter *l = aligned_alloc(64, size);
  if (l == NULL) {
    return CP_ENOMEM;
  }
  memset(l, 0, size);
  atomic_init(&l->live, 0);
  atomic_init(&l->full_denials, 0);
  cpi_sweep_mark_init(&l->swept);
  l->opts = o;
  /* Refill needs no more than tick precision. */
  l->clock = o.clock != NULL ? o.clock : cpi_clock_coarse();
  l->idle_ns = o.idle_evict_ms * NS_PER_MS;
  int64_t sweep_ns = o.sweep_interval_ms * NS_PER_MS;
  l->rate0_retry_ns = CP_RATE_RETRY_NEVER;
  if (sweep_ns > 0 && l->idle_ns <= INT64_MAX - sweep_ns) {
    l->rate0_retry_ns = l->idle_ns + sweep_ns;
  }
  pthread_mutex_init(&l->alloc_mu, NULL);
  /* Large calloc'd blocks are fresh mappings: untouched pages cost no
   * memory, and buckets are handed out from the front. */
  l->buckets = calloc(o.max_buckets, sizeof(rl_bucket));
  l->free_ids = calloc(o.max_buckets, sizeof(uint32_t));
  if (l->buckets == NULL || l->free_ids == NULL) {
    free_limiter(l, 0);
    return CP_ENOMEM;
  }
  if (cpi_random_bytes(&l->hash_key, sizeof l->hash_key) != 0) {
    free_limiter(l, 0);
    return CP_ESYS;
  }
  size_t per_shard = cpi_bucket_index_shard_entries(o.max_buckets);
  size_t ready = 0;
  while (ready < RL_SHARDS &&
         cpi_bucket_index_init(&l->shards[ready], per_shard) == 0) {
    ready++;
  }
  if (ready < RL_SHARDS) {
    free_limiter(l, ready);
    return CP_ENOMEM;
  }
  int rc = cpi_rl_sweeper_start(l, o.clock);
  if (rc != 0) {
    free_limiter(l, RL_SHARDS);
    return rc;
  }
  *out = l;
  return 0;
}

void cp_rate_limiter_destroy(cp_rate_limiter *l) {
  if (l == NULL) {
    return;
  }
  cpi_rl_sweeper_stop(l);
  free_limiter(l, RL_SHARDS);
}

size_t cp_rate_limiter_count(const cp_rate_limiter *l) {
  return l == NULL ? 0 : atomic_load_explicit(&l->live, memory_order_relaxed);
}

/* --- allocation ------------------------------------------------------------
 * `live` is reserved first, so a reservation that succeeds always finds a
 * bucket: evictions return the bucket before they release the reservation.
 */

static uint32_t alloc_bucket(cp_rate_limiter *l) {
  size_t live = atomic_fetch_add_explicit(&l->live, 1, memory_order_relaxed);
  if (live >= l->opts.max_buckets) {
    atomic_fetch_sub_explicit(&l->live, 1, memory_order_relaxed);
    return RL_NO_BUCKET;
  }
  uint32_t id = RL_NO_BUCKET;
  pthread_mutex_lock(&l->alloc_mu);
  if (l->free_count > 0) {
    id = l->free_ids[--l->free_count];
  } else if (l->never_used < l->opts.max_buckets) {
    id = l->never_used++;
  }
  pthread_mutex_unlock(&l->alloc_mu);
  if (id == RL_NO_BUCKET) {
    atomic_fetch_sub_explicit(&l->live, 1, memory_order_relaxed);
  }
  return id;
}

void cpi_rl_release_buckets(cp_rate_limiter *l, const uint32_t *ids, size_t n) {
  if (n == 0) {
    return;
  }
  pthread_mutex_lock(&l->alloc_mu);
  for (size_t i = 0; i < n; i++) {
    l->free_ids[l->free_count++] = ids[i];
  }
  if (l->free_count > l->free_high) {
    l->free_high = l->free_count;
  }
  pthread_mutex_unlock(&l->alloc_mu);
  atomic_fetch_sub_explicit(&l->live, n, memory_order_relaxed);
}

/* --- the check path --------------------------------------------------------
 */

static uint64_t key_hash(const cp_rate_limiter *l, const char *key,
                         size_t len) {
  uint64_t h = cpi_siphash13(&l->hash_key, key, len);
  return h != 0 ? h : 1; /* 0 marks a bucket that never had a key */
}

static void spin(unsigned *spins) {
  if (++*spins % 64 == 0) {
    sched_yield(); /* the lock holder may have been preempted */
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static cp_rate_result deny_full(cp_rate_limiter *l, int64_t *retry) {
  atomic_fetch_add_explicit(&l->full_denials, 1, memory_order_relaxed);
  *retry = l->idle_ns;
  return CP_RATE_DENY_FULL;
}

/* First check of `key`: inserts its bucket under the shard mutex. */
static int insert(cp_rate_limiter *l, rl_shard *sh, uint64_t key,
                  cp_rate_limit limit, int64_t now, int64_t *retry) {
  pthread_mutex_lock(&sh->mu);
  if (cpi_bucket_index_find(sh, key, l->buckets) != RL_NO_BUCKET) {
    pthread_mutex_unlock(&sh->mu); /* another thread inserted it */
    return RL_AGAIN;
  }
  uint32_t id = alloc_bucket(l);
  if (id == RL_NO_BUCKET) {
    pthread_mutex_unlock(&sh->mu);
    return deny_full(l, retry);
  }
  rl_bucket *b = &l->buckets[id];
  /* Key before state: a reader that loads this state sees this key. */
  STORE(&b->key, key);
  STORE(&b->limit, rl_limit_pack(limit));
  STORE(&b->last_ns, now);
  __atomic_store_n(&b->state, rl_seal(cpi_rl_first(limit, now), key),
                   __ATOMIC_RELEASE);
  if (cpi_bucket_index_insert(sh, key, id) != 0) {
    __atomic_store_n(&b->state, rl_seal(RL_STATE_EVICTED, key),
                     __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sh->mu);
    cpi_rl_release_buckets(l, &id, 1);
    return deny_full(l, retry);
  }
  pthread_mutex_unlock(&sh->mu);
  *retry = 0;
  return CP_RATE_ALLOW;
}

/* The key is now checked under a different limit: re-expresses the state
 * while holding the bucket (state LOCKED), so no check decides on a state
 * and a limit that do not belong together. Other checks of this key spin
 * for these few instructions; other keys are not involved. When another
 * thread changed the state first, the caller reloads and looks again. */
static void relimit(rl_bucket *b, uint64_t key, int64_t raw,
                    cp_rate_limit limit, int64_t now) {
  if (!__atomic_compare_exchange_n(&b->state, &raw,
                                   rl_seal(RL_STATE_LOCKED, key), false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    return;
  }
  cp_rate_limit had = rl_limit_unpack(LOAD(&b->limit));
  int64_t v = cpi_rl_rescale(had, limit, rl_seal(raw, key), now);
  STORE(&b->limit, rl_limit_pack(limit));
  __atomic_store_n(&b->state, rl_seal(v, key), __ATOMIC_RELEASE);
}

/* One check on bucket `b`, found for `key`. Returns a cp_rate_result, or
 * RL_AGAIN when the bucket no longer belongs to the key. */
static int take(cp_rate_limiter *l, rl_bucket *b, uint64_t key,
                cp_rate_limit limit, int64_t now, int64_t *retry) {
  uint64_t want = rl_limit_pack(limit);
  unsigned spins = 0;
  for (;;) {
    int64_t raw = __atomic_load_n(&b->state, __ATOMIC_ACQUIRE);
    if (LOAD(&b->key) != key) {
      return RL_AGAIN; /* recycled for another key */
    }
    int64_t v = rl_seal(raw, key);
    if (v == RL_STATE_EVICTED) {
      return RL_AGAIN;
    }
    if (v == RL_STATE_LOCKED) {
      spin(&spins);
      continue;
    }
    if (LOAD(&b->limit) != want) {
      relimit(b, key, raw, limit, now);
      continue;
    }
    if (limit.rate_per_sec == 0) {
      STORE(&b->last_ns, now); /* idleness of a bucket that never refills */
    }
    int64_t next = 0;
    if (!cpi_rl_take(limit, v, now, &next, retry)) {
      if (limit.rate_per_sec == 0) {
        *retry = l->rate0_retry_ns;
      }
      return CP_RATE_DENY;
    }
    if (__atomic_compare_exchange_n(&b->state, &raw, rl_seal(next, key), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      *retry = 0;
      return CP_RATE_ALLOW;
    }
  }
}

static cp_rate_result check(cp_rate_limiter *l, const char *key, size_t key_len,
                            cp_rate_limit limit, int64_t *retry) {
  if (limit.burst == 0) {
    return CP_RATE_DENY; /* no bucket: nothing to remember */
  }
  int64_t now = l->clock->now_ns(l->clock->user);
  uint64_t h = key_hash(l, key != NULL ? key : "", key_len);
  rl_shard *sh = &l->shards[h & (RL_SHARDS - 1)];
  for (;;) {
    uint32_t id = cpi_bucket_index_lookup(sh, h, l->buckets);
    int r = id == RL_NO_BUCKET ? insert(l, sh, h, limit, now, retry)
                               : take(l, &l->buckets[id], h, limit, now, retry);
    if (r != RL_AGAIN) {
      return (cp_rate_result)r;
    }
    if (id != RL_NO_BUCKET) {
      /* The sweeper may still be removing the evicted entry: wait for it
       * on the shard mutex rather than finding the same entry again. */
      r = insert(l, sh, h, limit, now, retry);
      if (r != RL_AGAIN) {
        return (cp_rate_result)r;
      }
    }
  }
}

int cp_rate_limiter_check(cp_rate_limiter *l, const char *key, size_t key_len,
                          cp_rate_limit limit, cp_rate_result *result,
                          int64_t *retry_after_ns) {
  int64_t ignored = 0;
  int64_t *retry = retry_after_ns != NULL ? retry_after_ns : &ignored;
  *retry = CP_RATE_RETRY_NEVER;
  if (result != NULL) {
    *result = CP_RATE_DENY;
  }
  if (l == NULL || result == NULL || (key == NULL && key_len > 0) ||
      key_len > CP_RATE_KEY_MAX) {
    return CP_EINVAL;
  }
  *result = check(l, key, key_len, limit, retry);
  return 0;
}

void cp_rate_limiter_get_stats(cp_rate_limiter *l, cp_rate_limiter_stats *out) {
  if (out == NULL) {
    return;
  }
  memset(out, 0, sizeof *out);
  out->bucket_bytes = sizeof(rl_bucket);
  if (l == NULL) {
    return;
  }
  out->buckets = atomic_load_explicit(&l->live, memory_order_relaxed);
  out->max_buckets = l->opts.max_buckets;
  out->full_denials =
      atomic_load_explicit(&l->full_denials, memory_order_relaxed);
  size_t bytes = sizeof *l;
  pthread_mutex_lock(&l->alloc_mu);
  bytes += (size_t)l->never_used * sizeof(rl_bucket);
  bytes += l->free_high * sizeof(uint32_t);
  pthread_mutex_unlock(&l->alloc_mu);
  for (size_t i = 0; i < RL_SHARDS; i++) {
    pthread_mutex_lock(&l->shards[i].mu);
    bytes += cpi_bucket_index_bytes(&l->shards[i]);
    pthread_mutex_unlock(&l->shards[i].mu);
  }
  out->memory_bytes = bytes;
  out->sweeps = cpi_sweep_mark_count(&l->swept);
  out->last_sweep_unix_ms = cpi_sweep_mark_unix_ms(&l->swept);
}
