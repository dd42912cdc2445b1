/* Rate-limiter index shards: lock-free reads under a sequence counter,
 * backward-shift deletion (no tombstones), growth by doubling at 7/8 full
 * (into a new small table, then in place in the reserved region).
 * Entries are one word, eight to a cache line, so even long probe runs stay
 * cheap and the fuller table keeps the index small.
 *
 * An entry's high half is its tag: bits 6..37 of the key hash (bits 0..5
 * pick the shard). The home slot is the tag's low bits, so growth and
 * deletion never need the bucket; the tag's remaining bits filter probes. */
#include "ratelimit/bucket_index.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/reserve.h"
#include "core/seqlock.h"
#include "cplugin/errors.h"

enum { INITIAL_SLOTS = 16 };

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define TAG_MASK 0xffffffff00000000ULL

static rl_index_table *table_new(size_t slots) {
  rl_index_table *t = calloc(1, sizeof *t + slots * sizeof(uint64_t));
  if (t != NULL) {
    t->mask = slots - 1;
  }
  return t;
}

static size_t table_bytes(const rl_index_table *t) {
  return sizeof *t + (t->mask + 1) * sizeof(uint64_t);
}

static uint64_t tag_of(uint64_t key) {
  return (key >> RL_SHARD_BITS) << 32;
}

static size_t home_of(uint64_t entry, size_t mask) {
  return (size_t)(entry >> 32) & mask;
}

static uint64_t entry_of(uint64_t key, uint32_t id) {
  return tag_of(key) | ((uint64_t)id + 1);
}

static uint32_t id_of(uint64_t entry) {
  return (uint32_t)(entry & ~TAG_MASK) - 1;
}

size_t cpi_bucket_index_shard_entries(size_t max_buckets) {
  size_t mean = (max_buckets + RL_SHARDS - 1) / RL_SHARDS;
  size_t root = 1;
  while (root * root < mean) {
    root++;
  }
  size_t entries = mean + 8 * root + 32;
  return entries < max_buckets ? entries : max_buckets;
}

int cpi_bucket_index_init(rl_shard *sh, size_t max_entries) {
  memset(sh, 0, sizeof *sh);
  /* The region's slots: a power of two that holds max_entries under 7/8. */
  size_t slots = RL_REGION_SLOTS;
  while (slots / 8 * 7 <= max_entries) {
    slots *= 2;
  }
  sh->max_slots = slots;
  sh->reserved_bytes =
      cpi_page_round(sizeof(rl_index_table) + slots * sizeof(uint64_t));
  void *region = cpi_reserve(sh->reserved_bytes);
  if (region == NULL) {
    return CP_ENOMEM;
  }
  sh->region = region;
  sh->table = table_new(INITIAL_SLOTS);
  if (sh->table == NULL) {
    cpi_reserve_release(region, sh->reserved_bytes);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&sh->mu, NULL);
  return 0;
}

void cpi_bucket_index_destroy(rl_shard *sh) {
  if (sh->table != sh->region) {
    free(sh->table);
  }
  rl_index_table *r = sh->retired;
  while (r != NULL) {
    rl_index_table *next = r->retired_next;
    free(r);
    r = next;
  }
  cpi_reserve_release(sh->region, sh->reserved_bytes);
  pthread_mutex_destroy(&sh->mu);
}

/* One probe of table `t`; the caller validates it (readers: against the
 * sequence counter; writers: they hold the mutex). The mask is read once:
 * a small table's never changes, and the region's never passes its
 * reserved end, so a stale one still reads mapped memory. */
static uint32_t probe(const rl_index_table *t, uint64_t key,
                      const rl_bucket *buckets) {
  size_t mask = LOAD(&t->mask);
  uint64_t tag = tag_of(key);
  size_t i = home_of(tag, mask);
  for (size_t n = 0; n <= mask; n++) {
    uint64_t e = LOAD(&t->entries[i]);
    if (e == 0) {
      return RL_NO_BUCKET;
    }
    if ((e & TAG_MASK) == tag) {
      uint32_t id = id_of(e);
      if (LOAD(&buckets[id].key) == key) {
        return id;
      }
    }
    i = (i + 1) & mask;
  }
  return RL_NO_BUCKET;
}

uint32_t cpi_bucket_index_lookup(rl_shard *sh, uint64_t key,
                                 const rl_bucket *buckets) {
  for (;;) {
    uint32_t snapshot = cp_seq_read_begin(&sh->seq);
    const rl_index_table *t = __atomic_load_n(&sh->table, __ATOMIC_ACQUIRE);
    uint32_t id = probe(t, key, buckets);
    if (!cp_seq_read_retry(&sh->seq, snapshot)) {
      return id;
    }
  }
}

uint32_t cpi_bucket_index_find(const rl_shard *sh, uint64_t key,
                               const rl_bucket *buckets) {
  return probe(sh->table, key, buckets);
}

static void place(rl_index_table *t, uint64_t entry) {
  size_t i = home_of(entry, t->mask);
  while (t->entries[i] != 0) {
    i = (i + 1) & t->mask;
  }
  STORE(&t->entries[i], entry);
}

/* Doubles the region's table in place: the entries are copied aside, the
 * slots in use are cleared and everything is placed again, all inside one
 * write section (readers wait it out). The slots past the old size have
 * never been touched, so they are zero. */
static int grow_in_place(rl_shard *sh, size_t grown) {
  rl_index_table *t = sh->region;
  size_t size = t->mask + 1;
  uint64_t *moving = malloc(sh->count * sizeof *moving);
  if (moving == NULL) {
    return CP_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < size; i++) {
    if (t->entries[i] != 0) {
      moving[n++] = t->entries[i];
    }
  }
  cp_seq_write_begin(&sh->seq);
  for (size_t i = 0; i < size; i++) {
    STORE(&t->entries[i], 0);
  }
  STORE(&t->mask, grown - 1);
  for (size_t i = 0; i < n; i++) {
    place(t, moving[i]);
  }
  cp_seq_write_end(&sh->seq);
  free(moving);
  return 0;
}

/* Doubles the table when the next entry would pass 7/8 load. Returns 0 or
 * CP_ENOMEM (out of memory, or the shard holds its most entries). */
static int maybe_grow(rl_shard *sh) {
  rl_index_table *old = sh->table;
  size_t size = old->mask + 1;
  if ((sh->count + 1) * 8 <= size * 7) {
    return 0;
  }
  size_t grown = size * 2;
  if (grown > sh->max_slots) { /* small tables never get here */
    return CP_ENOMEM;
  }
  if (old == sh->region) {
    return grow_in_place(sh, grown);
  }
  rl_index_table *t = sh->region; /* untouched until now: all zero */
  if (grown < RL_REGION_SLOTS) {
    t = table_new(grown);
    if (t == NULL) {
      return CP_ENOMEM;
    }
  }
  t->mask = grown - 1;
  for (size_t i = 0; i < size; i++) {
    if (old->entries[i] != 0) {
      place(t, old->entries[i]);
    }
  }
  cp_seq_write_begin(&sh->seq);
  __atomic_store_n(&sh->table, t, __ATOMIC_RELEASE);
  cp_seq_write_end(&sh->seq);
  old->retired_next = sh->retired;
  sh->retired = old;
  sh->retired_bytes += table_bytes(old);
  return 0;
}

int cpi_bucket_index_insert(rl_shard *sh, uint64_t key, uint32_t id) {
  int rc = maybe_grow(sh);
  if (rc != 0) {
    return rc;
  }
  cp_seq_write_begin(&sh->seq);
  place(sh->table, entry_of(key, id));
  cp_seq_write_end(&sh->seq);
  sh->count++;
  return 0;
}

size_t cpi_bucket_index_slots(const rl_shard *sh) {
  return sh->table->mask + 1;
}

uint32_t cpi_bucket_index_id_at(const rl_shard *sh, size_t slot) {
  uint64_t e = sh->table->entries[slot];
  return e == 0 ? RL_NO_BUCKET : id_of(e);
}

/* True when the entry at `j` (home `home`) may move back into the hole at
 * `hole`: its home is not cyclically inside (hole, j]. */
static bool may_fill(size_t hole, size_t j, size_t home) {
  if (hole <= j) {
    return home <= hole || home > j;
  }
  return home <= hole && home > j;
}

void cpi_bucket_index_remove_at(rl_shard *sh, size_t slot) {
  rl_index_table *t = sh->table;
  size_t hole = slot;
  cp_seq_write_begin(&sh->seq);
  size_t j = hole;
  for (;;) {
    j = (j + 1) & t->mask;
    uint64_t e = t->entries[j];
    if (e == 0) {
      break;
    }
    if (may_fill(hole, j, home_of(e, t->mask))) {
      STORE(&t->entries[hole], e);
      hole = j;
    }
  }
  STORE(&t->entries[hole], 0);
  cp_seq_write_end(&sh->seq);
  sh->count--;
}

size_t cpi_bucket_index_bytes(const rl_shard *sh) {
  return table_bytes(sh->table) + sh->retired_bytes;
}
