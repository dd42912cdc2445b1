/* One shard of the token store (internal): an open-addressing table read
 * without locks under a sequence counter.
 *
 * Readers: token_shard_read copies a slot between two reads of `seq` and
 * retries when they differ or are odd. Slot words are read and written with
 * relaxed atomics, so a torn read is detected, never undefined.
 * Writers: hold `mu`, make `seq` odd, change slots, make it even again.
 * Tables replaced by growth are kept until the store is destroyed, so a
 * reader that still holds the old pointer reads valid (if stale) memory and
 * then retries. Growth doubles, so the kept tables cost at most as much as the
 * live one. */
#ifndef CPLUGIN_TOKENS_TOKEN_TABLE_H
#define CPLUGIN_TOKENS_TOKEN_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CP_TOKEN_WORDS = 4 }; /* 32-byte token as 64-bit words */

typedef struct cp_token_slot {
  uint64_t key; /* the runtime ID's random suffix; 0 = empty */
  uint64_t id_hash;
  uint64_t token[CP_TOKEN_WORDS];
  int64_t expires_ns;
  uint64_t prev_token[CP_TOKEN_WORDS];
  int64_t prev_expires_ns; /* INT64_MIN: no previous token */
  char *runtime_id;        /* touched by writers only */
} cp_token_slot;

typedef struct cp_token_table {
  struct cp_token_table *retired_next;
  size_t mask;
  cp_token_slot slots[];
} cp_token_table;

typedef struct cp_token_shard {
  uint32_t seq;
  cp_token_table *table;
  pthread_mutex_t mu;
  size_t count;
  cp_token_table *retired;
} __attribute__((aligned(64))) cp_token_shard;

/* What a reader copies out of a slot. */
typedef struct cp_token_view {
  uint64_t id_hash;
  uint64_t token[CP_TOKEN_WORDS];
  int64_t expires_ns;
  uint64_t prev_token[CP_TOKEN_WORDS];
  int64_t prev_expires_ns;
} cp_token_view;

int token_shard_init(cp_token_shard *sh);
void token_shard_destroy(cp_token_shard *sh);

/* Lock-free lookup: true and *view filled when `key` is present. */
bool token_shard_read(cp_token_shard *sh, uint64_t key, cp_token_view *view);

/* The following require sh->mu. */

/* Index of `key` in the current table, or -1. */
long token_shard_find(const cp_token_shard *sh, uint64_t key);

/* Inserts a new slot (key must be absent); takes ownership of runtime_id.
 * Returns 0 or CP_ENOMEM. */
int token_shard_insert(cp_token_shard *sh, const cp_token_slot *slot);

/* Removes the slot at `index`; returns its runtime_id (caller frees). */
char *token_shard_remove(cp_token_shard *sh, long index);

/* Replaces the token of the slot at `index`, keeping the old one as previous
 * until prev_expires_ns. */
void token_shard_rotate(cp_token_shard *sh, long index,
                        const uint64_t token[CP_TOKEN_WORDS],
                        int64_t expires_ns, int64_t prev_expires_ns);

/* Reads the slot at `index` (writers: no retry needed). */
const cp_token_slot *token_shard_slot(const cp_token_shard *sh, long index);

#endif /* CPLUGIN_TOKENS_TOKEN_TABLE_H */
