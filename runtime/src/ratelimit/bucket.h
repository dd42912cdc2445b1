/* One rate-limit bucket (internal): the per-key state, 32 bytes.
 *
 * Buckets live in one array for the limiter's lifetime and are recycled
 * through a free list, so a reader holding a stale bucket id always reads
 * valid memory; it detects reuse by reading `key` after `state`.
 *
 * `state` is sealed: it holds the GCRA state (see gcra.h) XOR the key's hash.
 * A reader's compare-and-swap expects the sealed value it loaded, so if the
 * bucket were evicted and recycled for another key between that load and
 * the swap, the swap succeeds only if the other key's sealed state equals
 * it bit for bit (probability 2^-64), instead of whenever the two plain
 * states happen to be equal (likely for small rate-0 counts). */
#ifndef CPLUGIN_RATELIMIT_BUCKET_H
#define CPLUGIN_RATELIMIT_BUCKET_H

#include <stdint.h>

typedef struct rl_bucket {
  uint64_t key;    /* keyed hash of the key; written before state */
  int64_t state;   /* sealed state; the decision's compare-and-swap word */
  uint64_t limit;  /* rl_limit_pack of the limit `state` is expressed in */
  int64_t last_ns; /* rate-0 buckets: time of the last check (eviction) */
} rl_bucket;

_Static_assert(sizeof(rl_bucket) == 32, "a bucket is 32 bytes");

static inline int64_t rl_seal(int64_t state, uint64_t key) {
  return (int64_t)((uint64_t)state ^ key);
}

#endif /* CPLUGIN_RATELIMIT_BUCKET_H */
