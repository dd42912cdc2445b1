/* One shard of the rate limiter's key index (internal): open addressing
 * from key hash to bucket id, read without locks under a sequence counter
 * (the scheme of tokens/token_table.h).
 *
 * An entry is one word: a 32-bit tag taken from the key hash (its low bits
 * are the home slot, the rest filter probes, so a probe rarely touches a
 * bucket that is not the one sought) and the bucket id plus one (0 =
 * empty). The key hash's lowest RL_SHARD_BITS bits pick the shard.
 *
 * Readers: cpi_bucket_index_lookup retries when a writer overlapped its probe.
 * Writers hold `mu`. A reader may still hold a table a writer replaced, so
 * replaced tables stay readable until the shard is destroyed: small tables
 * (under RL_REGION_SLOTS) are allocated and kept when outgrown, a few KiB
 * per shard at most; from RL_REGION_SLOTS on, the table lives in a region
 * reserved at creation for the shard's most entries (address space only:
 * pages are touched as it grows into them) and doubles in place inside one
 * write section, so large tables leave nothing behind. */
#ifndef CPLUGIN_RATELIMIT_BUCKET_INDEX_H
#define CPLUGIN_RATELIMIT_BUCKET_INDEX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit/bucket.h"

enum { RL_SHARD_BITS = 6, RL_SHARDS = 1 << RL_SHARD_BITS };

#define RL_NO_BUCKET UINT32_MAX

enum { RL_REGION_SLOTS = 512 }; /* 4 KiB of entries: a page */

typedef struct rl_index_table {
  struct rl_index_table *retired_next;
  size_t mask; /* fixed, except in the region, where it grows in place */
  uint64_t entries[];
} rl_index_table;

typedef struct rl_shard {
  uint32_t seq;
  rl_index_table *table;  /* readers load it atomically, then its mask */
  rl_index_table *region; /* reserved for max_slots entries */
  size_t max_slots;
  size_t reserved_bytes;
  size_t count;
  rl_index_table *retired; /* outgrown small tables */
  size_t retired_bytes;
  pthread_mutex_t mu;
} __attribute__((aligned(64))) rl_shard;

/* Entries one shard must be able to hold when the limiter holds
 * `max_buckets`: keys are keyed hashes, spread binomially over the shards,
 * so the mean plus eight standard deviations (and a floor for small
 * limiters) is practically never reached; a shard that does reach it
 * answers as a full limiter does. */
size_t cpi_bucket_index_shard_entries(size_t max_buckets);

/* Reserves room for `max_entries` entries. Returns 0 or CP_ENOMEM. */
int cpi_bucket_index_init(rl_shard *sh, size_t max_entries);
void cpi_bucket_index_destroy(rl_shard *sh);

/* Lock-free: the id of the bucket whose key is `key`, or RL_NO_BUCKET. */
uint32_t cpi_bucket_index_lookup(rl_shard *sh, uint64_t key,
                                 const rl_bucket *buckets);

/* The following require sh->mu. */

/* As cpi_bucket_index_lookup, for a writer. */
uint32_t cpi_bucket_index_find(const rl_shard *sh, uint64_t key,
                               const rl_bucket *buckets);

/* Adds key -> id (key must be absent). Returns 0, or CP_ENOMEM when out of
 * memory or room. */
int cpi_bucket_index_insert(rl_shard *sh, uint64_t key, uint32_t id);

/* Slots in the current table, and the bucket id in slot `slot` (or
 * RL_NO_BUCKET when the slot is empty). */
size_t cpi_bucket_index_slots(const rl_shard *sh);
uint32_t cpi_bucket_index_id_at(const rl_shard *sh, size_t slot);

/* Empties slot `slot`; a later entry may move into it, so a caller walking
 * the slots looks at the same slot again. */
void cpi_bucket_index_remove_at(rl_shard *sh, size_t slot);

/* Bytes of the table in use and of the small tables it replaced. */
size_t cpi_bucket_index_bytes(const rl_shard *sh);

#endif /* CPLUGIN_RATELIMIT_BUCKET_INDEX_H */
