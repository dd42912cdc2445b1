/* Token store shards: lock-free reads under a sequence counter, linear
 * probing with backward-shift deletion (no tombstones), in-place growth by
 * half inside reserved address space. */
#include "tokens/token_table.h"

#include <stdlib.h>
#include <string.h>

#include "core/reserve.h"
#include "core/seqlock.h"
#include "crypto/crypto.h"
#include "cplugin/errors.h"

enum { INITIAL_SLOTS = 16 };

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

_Static_assert(sizeof(cp_token_slot) == 64, "a slot is one cache line");

/* Home slot of a key: the high 32 bits (random; the low bits picked the
 * shard) scaled to the table size, which need not be a power of two. */
static size_t home_of(uint64_t key, size_t size) {
  return (size_t)(((key >> 32) * (uint64_t)size) >> 32);
}

static size_t next_of(size_t i, size_t size) {
  return i + 1 == size ? 0 : i + 1;
}

int cpi_token_shard_init(cp_token_shard *sh, size_t max_entries,
                         const cp_siphash_key *key) {
  memset(sh, 0, sizeof *sh);
  sh->max_entries = max_entries;
  /* max_entries is the shard's far tail (token_store.c: eight standard
   * deviations over its mean share), which the table may reach at load
   * 7/8; a shard of a full store holds about its mean, at load ~0.7, where
   * sizing for 3/4 at the tail left it at ~0.6 (memory per token 64 / load
   * bytes). */
  sh->capacity = max_entries + max_entries / 7 + 1;
  if (sh->capacity < INITIAL_SLOTS) {
    sh->capacity = INITIAL_SLOTS;
  }
  size_t slot_bytes = cpi_page_round(sh->capacity * sizeof(cp_token_slot));
  size_t prev_bytes = cpi_page_round(max_entries * sizeof(cp_token_prev));
  sh->reserved_bytes = slot_bytes + prev_bytes;
  void *region = cpi_reserve(sh->reserved_bytes);
  if (region == NULL) {
    return CP_ENOMEM;
  }
  sh->slots = region;
  sh->prevs = (cp_token_prev *)((char *)region + slot_bytes);
  sh->size = INITIAL_SLOTS;
  cpi_intern_init(&sh->names, key);
  pthread_mutex_init(&sh->mu, NULL);
  return 0;
}

void cpi_token_shard_destroy(cp_token_shard *sh) {
  cpi_intern_release(&sh->names);
  /* The previous tokens and live tokens must not outlive the store in
   * memory that the allocator could hand out again: unmapping returns the
   * pages to the kernel, which zeroes them before any reuse. */
  if (sh->slots != NULL) {
    cpi_reserve_release(sh->slots, sh->reserved_bytes);
  }
  pthread_mutex_destroy(&sh->mu);
}

/* One attempt; the caller validates it against the sequence counter. */
static bool read_once(const cp_token_shard *sh, uint64_t key,
                      cp_token_view *v) {
  size_t size = __atomic_load_n(&sh->size, __ATOMIC_RELAXED);
  const cp_token_slot *slots = sh->slots;
  size_t i = home_of(key, size);
  for (size_t probes = 0; probes < size; probes++) {
    const cp_token_slot *s = &slots[i];
    uint64_t k = LOAD(&s->key);
    if (k == 0) {
      return false;
    }
    if (k == key) {
      v->id_hash = LOAD(&s->id_hash);
      for (int w = 0; w < CP_TOKEN_WORDS; w++) {
        v->token[w] = LOAD(&s->token[w]);
      }
      v->expires_ns = LOAD(&s->expires_ns);
      uint32_t prev = LOAD(&s->prev);
      /* A stale or torn index is still bounded: it is retried anyway. */
      if (prev != 0 && prev <= sh->max_entries) {
        const cp_token_prev *r = &sh->prevs[prev - 1];
        for (int w = 0; w < CP_TOKEN_WORDS; w++) {
          v->prev_token[w] = LOAD(&r->token[w]);
        }
        v->prev_expires_ns = LOAD(&r->expires_ns);
      } else {
        memset(v->prev_token, 0, sizeof v->prev_token);
        v->prev_expires_ns = INT64_MIN;
      }
      return true;
    }
    i = next_of(i, size);
  }
  return false;
}

bool cpi_token_shard_read(cp_token_shard *sh, uint64_t key,
                          cp_token_view *view) {
  for (;;) {
    uint32_t snapshot = cp_seq_read_begin(&sh->seq);
    bool found = read_once(sh, key, view);
    if (!cp_seq_read_retry(&sh->seq, snapshot)) {
      return found;
    }
  }
}

long cpi_token_shard_find(const cp_token_shard *sh, uint64_t key) {
  size_t i = home_of(key, sh->size);
  for (size_t probes = 0; probes < sh->size; probes++) {
    uint64_t k = sh->slots[i].key;
    if (k == 0) {
      return -1;
    }
    if (k == key) {
      return (long)i;
    }
    i = next_of(i, sh->size);
  }
  return -1;
}

const cp_token_slot *cpi_token_shard_slot(const cp_token_shard *sh,
                                          long index) {
  return &sh->slots[index];
}

const char *cpi_token_shard_name(const cp_token_shard *sh, long index) {
  return cpi_intern_str(&sh->names, sh->slots[index].name);
}

int64_t cpi_token_shard_valid_until(const cp_token_shard *sh, long index) {
  const cp_token_slot *s = &sh->slots[index];
  int64_t until = s->expires_ns;
  if (s->prev != 0 && sh->prevs[s->prev - 1].expires_ns > until) {
    until = sh->prevs[s->prev - 1].expires_ns;
  }
  return until;
}

static void store_slot(cp_token_slot *dst, const cp_token_slot *src) {
  STORE(&dst->key, src->key);
  STORE(&dst->id_hash, src->id_hash);
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    STORE(&dst->token[w], src->token[w]);
  }
  STORE(&dst->expires_ns, src->expires_ns);
  STORE(&dst->prev, src->prev);
  dst->name = src->name;
}

static void clear_slot(cp_token_slot *s) {
  static const cp_token_slot empty;
  store_slot(s, &empty);
}

/* Places an entry in the first free slot from its home (inside a write
 * section). */
static void place(cp_token_shard *sh, const cp_token_slot *slot) {
  size_t i = home_of(slot->key, sh->size);
  while (sh->slots[i].key != 0) {
    i = next_of(i, sh->size);
  }
  store_slot(&sh->slots[i], slot);
}

/* Grows the table by half when the next entry would pass 3/4 load: the
 * entries are copied aside, the slots in use are cleared and everything is
 * placed again, all inside one write section (readers wait it out). The
 * slots past the old size have never been touched, so they are zero. */
static int maybe_grow(cp_token_shard *sh) {
  size_t size = sh->size;
  if ((sh->count + 1) * 4 <= size * 3 || size == sh->capacity) {
    return 0;
  }
  size_t grown = size + size / 2;
  if (grown > sh->capacity) {
    grown = sh->capacity;
  }
  cp_token_slot *moving = malloc(sh->count * sizeof *moving);
  if (moving == NULL) {
    return CP_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < size; i++) {
    if (sh->slots[i].key != 0) {
      moving[n++] = sh->slots[i];
    }
  }
  cp_seq_write_begin(&sh->seq);
  for (size_t i = 0; i < size; i++) {
    clear_slot(&sh->slots[i]);
  }
  __atomic_store_n(&sh->size, grown, __ATOMIC_RELAXED);
  for (size_t i = 0; i < n; i++) {
    place(sh, &moving[i]);
  }
  cp_seq_write_end(&sh->seq);
  cpi_secure_zero(moving, n * sizeof *moving); /* copies of live tokens */
  free(moving);
  return 0;
}

int cpi_token_shard_insert(cp_token_shard *sh, const cp_token_slot *slot,
                           const char *name, size_t len) {
  if (sh->count >= sh->max_entries) {
    return CP_ELIMIT;
  }
  int rc = maybe_grow(sh);
  if (rc != 0) {
    return rc;
  }
  cp_token_slot fresh = *slot;
  fresh.prev = 0;
  rc = cpi_intern_add(&sh->names, name, len, &fresh.name);
  if (rc != 0) {
    return rc == CP_ELIMIT ? CP_ENOMEM : rc; /* never: at most one per entry */
  }
  cp_seq_write_begin(&sh->seq);
  place(sh, &fresh);
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

/* Wipes a previous-token record and puts it on the free list (inside a
 * write section). */
static void release_prev(cp_token_shard *sh, uint32_t prev) {
  cp_token_prev *r = &sh->prevs[prev - 1];
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    STORE(&r->token[w], 0);
  }
  STORE(&r->expires_ns, INT64_MIN);
  r->next_free = sh->prev_free;
  sh->prev_free = prev;
}

void cpi_token_shard_remove(cp_token_shard *sh, long index, char *name,
                            size_t cap) {
  size_t hole = (size_t)index;
  uint32_t name_id = sh->slots[hole].name;
  /* The name only: the principal follows its NUL (token_table.h). */
  size_t len = strlen(cpi_intern_str(&sh->names, name_id));
  if (len >= cap) {
    len = cap - 1; /* never: the store's buffers hold any name it issued */
  }
  memcpy(name, cpi_intern_str(&sh->names, name_id), len);
  name[len] = '\0';
  cpi_intern_put(&sh->names, name_id);
  cp_seq_write_begin(&sh->seq);
  if (sh->slots[hole].prev != 0) {
    release_prev(sh, sh->slots[hole].prev);
  }
  size_t j = hole;
  for (;;) {
    j = next_of(j, sh->size);
    uint64_t k = sh->slots[j].key;
    if (k == 0) {
      break;
    }
    if (may_fill(hole, j, home_of(k, sh->size))) {
      store_slot(&sh->slots[hole], &sh->slots[j]);
      hole = j;
    }
  }
  clear_slot(&sh->slots[hole]);
  cp_seq_write_end(&sh->seq);
  sh->count--;
}

/* A record for the entry's previous token: its own, or a free one (there is
 * always one: at most one per entry, and max_entries records). */
static uint32_t prev_record_of(cp_token_shard *sh, const cp_token_slot *s) {
  if (s->prev != 0) {
    return s->prev;
  }
  if (sh->prev_free != 0) {
    uint32_t prev = sh->prev_free;
    sh->prev_free = sh->prevs[prev - 1].next_free;
    return prev;
  }
  return ++sh->prevs_used;
}

void cpi_token_shard_set(cp_token_shard *sh, long index,
                         const uint64_t token[CP_TOKEN_WORDS],
                         int64_t expires_ns,
                         const uint64_t prev_token[CP_TOKEN_WORDS],
                         int64_t prev_expires_ns) {
  cp_token_slot *s = &sh->slots[index];
  uint32_t prev = prev_record_of(sh, s);
  cp_token_prev *r = &sh->prevs[prev - 1];
  cp_seq_write_begin(&sh->seq);
  for (int w = 0; w < CP_TOKEN_WORDS; w++) {
    STORE(&r->token[w], prev_token[w]);
    STORE(&s->token[w], token[w]);
  }
  STORE(&r->expires_ns, prev_expires_ns);
  STORE(&s->prev, prev);
  STORE(&s->expires_ns, expires_ns);
  cp_seq_write_end(&sh->seq);
}

size_t cpi_token_shard_bytes(const cp_token_shard *sh) {
  return sh->size * sizeof(cp_token_slot) +
         (size_t)sh->prevs_used * sizeof(cp_token_prev) +
         cpi_intern_bytes(&sh->names);
}
