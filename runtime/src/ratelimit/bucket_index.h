/* One shard of the rate limiter's key index (internal): open addressing
 * from key hash to bucket id, read without locks under a sequence counter
 * (the scheme of tokens/token_table.h).
 *
 * An entry is one word: a 32-bit tag taken from the key hash (its low bits
 * are the home slot, the rest filter probes, so a probe rarely touches a
 * bucket that is not the one sought) and the bucket id plus one (0 =
 * empty). The key hash's lowest RL_SHARD_BITS bits pick the shard.
 *
 * Readers: bucket_index_lookup retries when a writer overlapped its probe.
 * Writers hold `mu`. Tables replaced by growth are kept until the shard is
 * destroyed, so a reader still holding one reads valid (stale) memory and
 * then retries; growth doubles, so they cost at most the live table. */
#ifndef CPLUGIN_RATELIMIT_BUCKET_INDEX_H
#define CPLUGIN_RATELIMIT_BUCKET_INDEX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit/bucket.h"

enum { RL_SHARD_BITS = 6, RL_SHARDS = 1 << RL_SHARD_BITS };

#define RL_NO_BUCKET UINT32_MAX

typedef struct rl_index_table {
  struct rl_index_table *retired_next;
  size_t mask;
  uint64_t entries[];
} rl_index_table;

typedef struct rl_shard {
  uint32_t seq;
  rl_index_table *table;
  pthread_mutex_t mu;
  size_t count;
  rl_index_table *retired;
  size_t retired_bytes;
} __attribute__((aligned(64))) rl_shard;

int bucket_index_init(rl_shard *sh);
void bucket_index_destroy(rl_shard *sh);

/* Lock-free: the id of the bucket whose key is `key`, or RL_NO_BUCKET. */
uint32_t bucket_index_lookup(rl_shard *sh, uint64_t key,
                             const rl_bucket *buckets);

/* The following require sh->mu. */

/* As bucket_index_lookup, for a writer. */
uint32_t bucket_index_find(const rl_shard *sh, uint64_t key,
                           const rl_bucket *buckets);

/* Adds key -> id (key must be absent). Returns 0 or CP_ENOMEM. */
int bucket_index_insert(rl_shard *sh, uint64_t key, uint32_t id);

/* Slots in the current table, and the bucket id in slot `slot` (or
 * RL_NO_BUCKET when the slot is empty). */
size_t bucket_index_slots(const rl_shard *sh);
uint32_t bucket_index_id_at(const rl_shard *sh, size_t slot);

/* Empties slot `slot`; a later entry may move into it, so a caller walking
 * the slots looks at the same slot again. */
void bucket_index_remove_at(rl_shard *sh, size_t slot);

/* Bytes of the live and retired tables. */
size_t bucket_index_bytes(const rl_shard *sh);

#endif /* CPLUGIN_RATELIMIT_BUCKET_INDEX_H */
