/* One shard of the token store (internal): an open-addressing table read
 * without locks under a sequence counter.
 *
 * Layout: a validation touches one 64-byte slot (key, name hash, token,
 * expiry, and the index of a previous-token record), so a valid check costs
 * one cache line. The previous token of a refreshed identity lives in a
 * separate record, read only while its overlap window is open. The name
 * part of the runtime ID is interned per shard (core/intern.h), followed
 * after its NUL by the identity's principal ("" when anonymous): a slot
 * names the pair by a 32-bit id in the room the previous-token index left,
 * and the identities of one plugin name and principal share one copy.
 *
 * Memory that readers may touch never moves and is never freed while the
 * store lives: the slots and the records sit in regions reserved at creation
 * for the shard's most entries (address space only: pages are touched as the
 * table grows into them). Growth rehashes in place, inside one write section,
 * so there are no retired tables to keep.
 *
 * Readers: cpi_token_shard_read copies a slot between two reads of `seq` and
 * retries when they differ or are odd. Slot words are read and written with
 * relaxed atomics, so a torn read is detected, never undefined.
 * Writers: hold `mu`, make `seq` odd, change slots, make it even again. */
#ifndef CPLUGIN_TOKENS_TOKEN_TABLE_H
#define CPLUGIN_TOKENS_TOKEN_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/intern.h"

enum { CP_TOKEN_WORDS = 4 }; /* 32-byte token as 64-bit words */

/* The hot part of an identity: exactly one cache line. */
typedef struct cp_token_slot {
  uint64_t key; /* the runtime ID's random suffix; 0 = empty */
  uint64_t id_hash;
  uint64_t token[CP_TOKEN_WORDS];
  int64_t expires_ns;
  uint32_t prev; /* 0 = never refreshed; else 1 + index of its record */
  uint32_t name; /* writers only: the name's id in the shard's `names` */
} __attribute__((aligned(64))) cp_token_slot;

/* The token a refresh replaced, valid until expires_ns. */
typedef struct cp_token_prev {
  uint64_t token[CP_TOKEN_WORDS];
  int64_t expires_ns;
  uint32_t next_free; /* writers: free-list link, 1 + index; 0 = end */
  uint32_t pad_;
} cp_token_prev;

typedef struct cp_token_shard {
  uint32_t seq;
  size_t size;           /* slots in use (readers load it atomically) */
  cp_token_slot *slots;  /* reserved for `capacity` slots */
  cp_token_prev *prevs;  /* reserved for `max_entries` records */
  size_t capacity;       /* most slots: max_entries at load 7/8 */
  size_t max_entries;    /* inserts beyond fail with CP_ELIMIT */
  size_t count;          /* entries */
  size_t reserved_bytes; /* of both regions, for munmap */
  uint32_t prevs_used;   /* records ever handed out (high-water mark) */
  uint32_t prev_free;    /* free records, 1 + index; 0 = none */
  cp_intern names;       /* writers only: the entries' names */
  pthread_mutex_t mu;
} __attribute__((aligned(64))) cp_token_shard;

/* What a reader copies out of a slot (and its record). */
typedef struct cp_token_view {
  uint64_t id_hash;
  uint64_t token[CP_TOKEN_WORDS];
  int64_t expires_ns;
  uint64_t prev_token[CP_TOKEN_WORDS];
  int64_t prev_expires_ns; /* INT64_MIN: no previous token */
} cp_token_view;

/* Prepares a shard for up to `max_entries` entries (at most UINT32_MAX;
 * the store's cap is far below), names hashed with `key`. Returns 0 or
 * CP_ENOMEM. */
int cpi_token_shard_init(cp_token_shard *sh, size_t max_entries,
                         const cp_siphash_key *key);
void cpi_token_shard_destroy(cp_token_shard *sh);

/* Lock-free lookup: true and *view filled when `key` is present. */
bool cpi_token_shard_read(cp_token_shard *sh, uint64_t key,
                          cp_token_view *view);

/* The following require sh->mu. */

/* Index of `key` in the table, or -1. */
long cpi_token_shard_find(const cp_token_shard *sh, uint64_t key);

/* Inserts a new entry named name[0..len) (key must be absent; slot->prev
 * and slot->name are ignored). Returns 0, CP_ELIMIT when the shard holds
 * max_entries, or CP_ENOMEM. */
int cpi_token_shard_insert(cp_token_shard *sh, const cp_token_slot *slot,
                           const char *name, size_t len);

/* Removes the entry at `index`, copying its name (NUL-terminated) to `name`,
 * which has room for the longest name the store issues. */
void cpi_token_shard_remove(cp_token_shard *sh, long index, char *name,
                            size_t cap);

/* Sets both tokens of the entry at `index` (a replica adopting another's
 * state of the identity). */
void cpi_token_shard_set(cp_token_shard *sh, long index,
                         const uint64_t token[CP_TOKEN_WORDS],
                         int64_t expires_ns,
                         const uint64_t prev_token[CP_TOKEN_WORDS],
                         int64_t prev_expires_ns);

/* The entry at `index` (writers: no retry needed). */
const cp_token_slot *cpi_token_shard_slot(const cp_token_shard *sh, long index);
const char *cpi_token_shard_name(const cp_token_shard *sh, long index);
/* Until when the entry at `index` stays valid with either token. */
int64_t cpi_token_shard_valid_until(const cp_token_shard *sh, long index);

/* Bytes the shard's entries occupy: its table's slots at their current
 * size, the previous-token records handed out, the interned names. Pages
 * reserved but not reached are not counted. */
size_t cpi_token_shard_bytes(const cp_token_shard *sh);

#endif /* CPLUGIN_TOKENS_TOKEN_TABLE_H */
