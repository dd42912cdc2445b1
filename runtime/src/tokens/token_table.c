/* Token store shards: lock-free reads under a sequence counter, backward-shift
 * deletion (no tombstones, so the table never needs rebuilding), growth by
 * doubling. */
#include "tokens/token_table.h"

#include <stdlib.h>
#include <string.h>

#include "core/seqlock.h"
#include "cplugin/errors.h"

enum { INITIAL_SLOTS = 16, SHARD_BITS = 6 };

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static cp_token_table *table_new(size_t slots) {
  cp_token_table *t = calloc(1, sizeof *t + slots * sizeof(cp_token_slot));
  if (t != NULL) {
    t->mask = slots - 1;
  }
  return t;
}

/* The low bits of the key pick the shard; the next ones the slot. */
static size_t home_of(uint64_t key, size_t mask) {
  return (size_t)(key >> SHARD_BITS) & mask;
}

int token_shard_init(cp_token_shard *sh) {
  memset(sh, 0, sizeof *sh);
  sh->table = table_new(INITIAL_SLOTS);
  if (sh->table == NULL) {
    return CP_ENOMEM;
  }
  pthread_mutex_init(&sh->mu, NULL);
  return 0;
}

void token_shard_destroy(cp_token_shard *sh) {
  cp_token_table *t = sh->table;
  if (t != NULL) {
    for (size_t i = 0; i <= t->mask; i++) {
      free(t->slots[i].runtime_id);
    }
    free(t);
  }
  cp_token_table *r = sh->retired;
  while (r != NULL) {
    cp_token_table *next = r->retired_next;
    free(r);
    r = next;
  }
  pthread_mutex_destroy(&sh->mu);
}

static void copy_view(const cp_token_slot *s, cp_token_view *v) {
  v->id_hash = LOAD(&s->id_hash);
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    v->token[w] = LOAD(&s->token[w]);
    v->prev_token[w] = LOAD(&s->prev_token[w]);
  }
  v->expires_ns = LOAD(&s->expires_ns);
  v->prev_expires_ns = LOAD(&s->prev_expires_ns);
}

/* One attempt; the caller validates it against the sequence counter. */
static bool read_once(const cp_token_table *t, uint64_t key,
                      cp_token_view *view) {
  size_t mask = t->mask;
  size_t i = home_of(key, mask);
  for (size_t probes = 0; probes <= mask; probes++) {
    uint64_t k = LOAD(&t->slots[i].key);
    if (k == 0) {
      return false;
    }
    if (k == key) {
      copy_view(&t->slots[i], view);
      return true;
    }
    i = (i + 1) & mask;
  }
  return false;
}

bool token_shard_read(cp_token_shard *sh, uint64_t key, cp_token_view *view) {
  for (;;) {
    uint32_t snapshot = cp_seq_read_begin(&sh->seq);
    const cp_token_table *t = __atomic_load_n(&sh->table, __ATOMIC_ACQUIRE);
    bool found = read_once(t, key, view);
    if (!cp_seq_read_retry(&sh->seq, snapshot)) {
      return found;
    }
  }
}

long token_shard_find(const cp_token_shard *sh, uint64_t key) {
  const cp_token_table *t = sh->table;
  size_t i = home_of(key, t->mask);
  for (size_t probes = 0; probes <= t->mask; probes++) {
    if (t->slots[i].key == 0) {
      return -1;
    }
    if (t->slots[i].key == key) {
      return (long)i;
    }
    i = (i + 1) & t->mask;
  }
  return -1;
}

const cp_token_slot *token_shard_slot(const cp_token_shard *sh, long index) {
  return &sh->table->slots[index];
}

static void store_slot(cp_token_slot *dst, const cp_token_slot *src) {
  STORE(&dst->key, src->key);
  STORE(&dst->id_hash, src->id_hash);
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    STORE(&dst->token[w], src->token[w]);
    STORE(&dst->prev_token[w], src->prev_token[w]);
  }
  STORE(&dst->expires_ns, src->expires_ns);
  STORE(&dst->prev_expires_ns, src->prev_expires_ns);
  dst->runtime_id = src->runtime_id;
}

static void place(cp_token_table *t, const cp_token_slot *slot) {
  size_t i = home_of(slot->key, t->mask);
  while (t->slots[i].key != 0) {
    i = (i + 1) & t->mask;
  }
  store_slot(&t->slots[i], slot);
}

/* Doubles the table when it would pass 3/4 full. */
static int maybe_grow(cp_token_shard *sh) {
  cp_token_table *old = sh->table;
  size_t size = old->mask + 1;
  if ((sh->count + 1) * 4 <= size * 3) {
    return 0;
  }
  cp_token_table *t = table_new(size * 2);
  if (t == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < size; i++) {
    if (old->slots[i].key != 0) {
      place(t, &old->slots[i]);
    }
  }
  cp_seq_write_begin(&sh->seq);
  __atomic_store_n(&sh->table, t, __ATOMIC_RELEASE);
  cp_seq_write_end(&sh->seq);
  old->retired_next = sh->retired;
  sh->retired = old;
  return 0;
}

int token_shard_insert(cp_token_shard *sh, const cp_token_slot *slot) {
  int rc = maybe_grow(sh);
  if (rc != 0) {
    return rc;
  }
  cp_seq_write_begin(&sh->seq);
  place(sh->table, slot);
  cp_seq_write_end(&sh->seq);
  sh->count++;
  return 0;
}

/* True when the entry at `j` (home `home`) may move back into the hole at
 * `hole`: its home is not cyclically inside (hole, j]. */
static bool may_fill(size_t hole, size_t j, size_t home) {
  if (hole <= j) {
    return home <= hole || home > j;
  }
  return home <= hole && home > j;
}

char *token_shard_remove(cp_token_shard *sh, long index) {
  cp_token_table *t = sh->table;
  size_t hole = (size_t)index;
  char *id = t->slots[hole].runtime_id;
  cp_seq_write_begin(&sh->seq);
  size_t j = hole;
  for (;;) {
    j = (j + 1) & t->mask;
    uint64_t k = t->slots[j].key;
    if (k == 0) {
      break;
    }
    if (may_fill(hole, j, home_of(k, t->mask))) {
      store_slot(&t->slots[hole], &t->slots[j]);
      hole = j;
    }
  }
  static const cp_token_slot empty;
  store_slot(&t->slots[hole], &empty);
  cp_seq_write_end(&sh->seq);
  sh->count--;
  return id;
}

void token_shard_rotate(cp_token_shard *sh, long index,
                        const uint64_t token[CP_TOKEN_WORDS],
                        int64_t expires_ns, int64_t prev_expires_ns) {
  cp_token_slot *s = &sh->table->slots[index];
  cp_seq_write_begin(&sh->seq);
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    STORE(&s->prev_token[w], s->token[w]);
    STORE(&s->token[w], token[w]);
  }
  STORE(&s->prev_expires_ns, prev_expires_ns);
  STORE(&s->expires_ns, expires_ns);
  cp_seq_write_end(&sh->seq);
}
