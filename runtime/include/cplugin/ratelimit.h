/* cplugin — the rate limiter: one token bucket per key.
 *
 * Semantics (those of connect-plugin-go's TokenBucketLimiter): a bucket
 * holds up to `burst` tokens and gains `rate_per_sec` tokens per second; a
 * key's bucket is created full on its first check; each allowed check takes
 * one token. rate 0 makes `burst` a one-time budget; burst 0 denies every
 * check. When a key is checked with a different limit than before, the new
 * limit applies from that check on: the tokens the key has used are carried
 * over and refill continues at the new rate (a key that has used more than
 * the new burst waits until refill brings it under).
 *
 * Arithmetic is integer nanoseconds (GCRA, the "virtual scheduling" form of a
 * token bucket): a token is worth ceil(1e9 / rate) ns, rounded up so that the
 * limiter never admits more than `rate` per second, and nothing drifts: 8
 * checks at exactly 8/s over one second are all admitted, a 9th is not.
 *
 * Keys are byte strings of at most CP_RATE_KEY_MAX bytes. They are identified
 * by a 64-bit SipHash-1-3 keyed with a per-limiter random secret, so a caller
 * cannot choose keys that share a bucket; two live keys do so by chance with
 * probability below n^2 / 2^65 (3e-10 for 100 000 keys), and a shared bucket
 * can only make the limiter stricter, never more permissive.
 *
 * Memory: CP_RATE_BUCKET_BYTES (32) bytes of state per key, plus its share of
 * the lookup index (see cp_rate_limiter_get_stats). At most `max_buckets`
 * keys are tracked. Full-table policy: REJECT NEW KEYS. While the table is
 * full, a check for a key that has no bucket is denied with
 * CP_RATE_DENY_FULL (keys that have a bucket keep working), until a sweep
 * evicts idle buckets. Nobody's budget can be reset by flooding the table
 * with new keys.
 *
 * Eviction: a bucket is idle once it has been full (untouched) for
 * `idle_evict_ms` — evicting it then changes nothing a caller can observe.
 * Buckets with rate 0 never refill; they are idle `idle_evict_ms` after their
 * last check, and eviction renews their budget (as upstream does).
 *
 * Concurrency: checks take no lock. Lookups read a sharded open-addressing
 * index under sequence counters (readers never wait for each other); the
 * decision is one compare-and-swap on the bucket's 64-bit state, so checks on
 * one key from many threads are exact (never more admitted than the bucket
 * allows) and checks on different keys share no lock and no atomic word (two
 * 32-byte buckets may share a cache line). The first check of a key inserts
 * its bucket under a per-shard mutex.
 *
 * Thread safety: every function may be called from any thread, except
 * cp_rate_limiter_destroy (no other call on the limiter may be running).
 */
#ifndef CPLUGIN_RATELIMIT_H
#define CPLUGIN_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/clock.h"
#include "cplugin/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key accepted by cp_rate_limiter_check. */
#define CP_RATE_KEY_MAX 512
/* Bytes of state kept per key (one bucket). */
#define CP_RATE_BUCKET_BYTES 32
/* Largest max_buckets accepted (2^26: 2 GiB of address space reserved). */
#define CP_RATE_MAX_BUCKETS_LIMIT ((size_t)1 << 26)
/* retry_after_ns value meaning "no token will come": burst 0, or rate 0
 * without a background sweep to renew the budget. */
#define CP_RATE_RETRY_NEVER INT64_MAX

/* A limit: `burst` tokens of capacity, `rate_per_sec` tokens per second of
 * refill. Rates above 10^9 per second behave as 10^9 per second. */
typedef struct cp_rate_limit {
  uint32_t rate_per_sec;
  uint32_t burst;
} cp_rate_limit;

typedef enum cp_rate_result {
  CP_RATE_ALLOW = 0,      /* admitted; one token taken */
  CP_RATE_DENY = 1,       /* the key's bucket is empty */
  CP_RATE_DENY_FULL = 2,  /* a new key, and max_buckets keys are tracked
                            (or no memory to grow the index) */
  CP_RATE_DENY_OUTAGE = 3 /* only from a policy sharing limits through Redis
                             (cplugin/ratelimit_redis.h): Redis is
                             unreachable and the outage policy is deny */
} cp_rate_result;

typedef struct cp_rate_limiter cp_rate_limiter;

typedef struct cp_rate_limiter_options {
  /* Keys tracked at once (default 100 000, at most
   * CP_RATE_MAX_BUCKETS_LIMIT). The bucket array is reserved as address
   * space at create time; its pages are touched as buckets are used. */
  size_t max_buckets;
  /* A bucket idle this long may be evicted (default 300 000 = 5 min). */
  int64_t idle_evict_ms;
  /* Background sweep period (default 60 000 ms), on `clock` (the system
   * clock when NULL), so a cp_manual_clock drives it in tests; 0 = no
   * background sweep (call cp_rate_limiter_sweep yourself). The sweeps run
   * on the process's one housekeeping thread, shared by every limiter,
   * store and watch of that clock. */
  int64_t sweep_interval_ms;
  /* NULL = CLOCK_MONOTONIC_COARSE: a few nanoseconds per read instead of
   * ~25, refill advancing in steps of the kernel tick (1-4 ms). Pass
   * cp_clock_system() for nanosecond steps, or a cp_manual_clock in tests.
   * Not owned; must outlive the limiter. */
  const cp_clock *clock;
} cp_rate_limiter_options;

/* Fills `opts` with the defaults. */
CP_API void cp_rate_limiter_options_init(cp_rate_limiter_options *opts);

/* Creates a limiter (and arms its background sweep when
 * sweep_interval_ms > 0).
 * `opts` may be NULL for the defaults; it is copied. Returns 0 and sets
 * *out; CP_EINVAL for out of range options; CP_ENOMEM; CP_ESYS when the
 * random source for the hash secret or the housekeeping thread cannot be
 * had. Destroy
 * with cp_rate_limiter_destroy. */
CP_API int cp_rate_limiter_create(cp_rate_limiter **out,
                                  const cp_rate_limiter_options *opts);

/* Cancels the background sweep (waiting for one in progress), then frees
 * everything. NULL allowed. No
 * other call on the limiter may be running or start afterwards. */
CP_API void cp_rate_limiter_destroy(cp_rate_limiter *limiter);

/* Checks (and on success consumes) one token of `key`'s bucket under
 * `limit`. `key` need not be NUL-terminated and is not retained.
 * *retry_after_ns (if not NULL) receives 0 when allowed; after CP_RATE_DENY
 * the time until the next token (>= 1), or for a rate-0 limit the time after
 * which an unused bucket is evicted and its budget renewed (idle_evict +
 * sweep interval), or CP_RATE_RETRY_NEVER; after CP_RATE_DENY_FULL the
 * idle-eviction period. Sets *result and returns 0; returns CP_EINVAL for
 * a NULL limiter or result, a NULL key with key_len > 0, or key_len >
 * CP_RATE_KEY_MAX (*result, when given, is then CP_RATE_DENY: bad arguments
 * never admit). Takes no lock unless the key is new; never allocates unless
 * the key is new and the index must grow. */
CP_API int cp_rate_limiter_check(cp_rate_limiter *limiter, const char *key,
                                 size_t key_len, cp_rate_limit limit,
                                 cp_rate_result *result,
                                 int64_t *retry_after_ns);

/* Evicts every idle bucket now; returns how many. The background sweep
 * calls it every sweep_interval_ms. Checks keep running meanwhile; insertions into
 * the shard being swept wait for it. */
CP_API size_t cp_rate_limiter_sweep(cp_rate_limiter *limiter);

/* Live buckets (for a cplugin_rate_limit_buckets_active gauge). 0 for NULL. */
CP_API size_t cp_rate_limiter_count(const cp_rate_limiter *limiter);

/* Bytes of state per bucket: CP_RATE_BUCKET_BYTES. */
CP_API size_t cp_rate_limiter_bytes_per_bucket(void);

typedef struct cp_rate_limiter_stats {
  size_t buckets;        /* live buckets */
  size_t max_buckets;    /* the configured cap */
  size_t bucket_bytes;   /* state per bucket (CP_RATE_BUCKET_BYTES) */
  size_t memory_bytes;   /* bucket slots in use or recycled, index
                            tables, free list */
  uint64_t full_denials; /* checks answered CP_RATE_DENY_FULL */
  /* Sweeps finished (background and cp_rate_limiter_sweep), and when the
   * last one finished: wall-clock ms since the Unix epoch, or the
   * limiter's creation before the first. */
  uint64_t sweeps;
  int64_t last_sweep_unix_ms;
} cp_rate_limiter_stats;

/* Fills `out`; memory_bytes / buckets is the memory per tracked key. Takes
 * each shard's mutex briefly (not for hot paths). */
CP_API void cp_rate_limiter_get_stats(cp_rate_limiter *limiter,
                                      cp_rate_limiter_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_RATELIMIT_H */
