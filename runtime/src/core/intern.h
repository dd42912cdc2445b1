/* Interned strings (internal): each distinct string is stored once with a
 * reference count and named by a 32-bit id, so records that repeat a
 * string (the many identities of one plugin name) hold 4 bytes instead of
 * a copy with its allocation header.
 *
 * Strings may come from peers, so lookups hash with a keyed SipHash (chains
 * stay short whatever the peer sends). Ids are 1 + an index into the entry
 * array and are reused after their last reference goes. Not thread-safe:
 * the owner's lock guards it. */
#ifndef CPLUGIN_CORE_INTERN_H
#define CPLUGIN_CORE_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "core/siphash.h"

/* 16 bytes: the length sits in the string's own allocation, just before
 * its first byte, where malloc's rounding usually leaves room anyway. */
typedef struct cp_intern_entry {
  char *str;     /* NUL-terminated copy; NULL while the entry is free */
  uint32_t refs; /* references; 0 while free */
  uint32_t next; /* live: next in its chain; free: next free (1 + index) */
} cp_intern_entry;

typedef struct cp_intern {
  cp_siphash_key key;
  cp_intern_entry *entries; /* `cap` entries, `used` ever handed out */
  uint32_t *heads;          /* chain heads (1 + index, 0 = end), mask + 1 */
  size_t mask;
  uint32_t cap;
  uint32_t used;
  uint32_t free_head; /* 1 + index of a free entry, 0 = none */
  uint32_t count;     /* distinct strings held */
} cp_intern;

/* Ids never exceed this (the entry count's limit). */
#define CP_INTERN_MAX_IDS (UINT32_MAX / 2)

/* An empty table; allocates nothing until the first add. */
void cpi_intern_init(cp_intern *t, const cp_siphash_key *key);

/* Frees every string and the table, whatever their references. */
void cpi_intern_release(cp_intern *t);

/* Takes a reference to the string s[0..len) (copying it the first time)
 * and sets *id. Returns 0, CP_EINVAL (len over UINT32_MAX - 1), CP_ELIMIT
 * (CP_INTERN_MAX_IDS strings, or UINT32_MAX references to this one) or
 * CP_ENOMEM; on failure nothing changed. */
int cpi_intern_add(cp_intern *t, const char *s, size_t len, uint32_t *id);

/* Drops one reference; the string is freed with the last one. */
void cpi_intern_put(cp_intern *t, uint32_t id);

/* The string `id` names (valid while a reference is held), and its length. */
const char *cpi_intern_str(const cp_intern *t, uint32_t id);
size_t cpi_intern_len(const cp_intern *t, uint32_t id);

/* Distinct strings held. */
size_t cpi_intern_count(const cp_intern *t);

/* Bytes held: the entry and chain arrays and every string's block. Walks
 * the entries (for statistics, not hot paths). */
size_t cpi_intern_bytes(const cp_intern *t);

#endif /* CPLUGIN_CORE_INTERN_H */
