/* An intrusive chained hash table (internal): items embed a cp_hnode and are
 * found by a 64-bit hash the caller computes (a keyed SipHash for names that
 * peers choose), so lookups never allocate and items are never copied.
 *
 * The table doubles when it holds more than two items per bucket; when that
 * allocation fails it keeps its buckets (chains get longer, lookups stay
 * correct). Not thread-safe: the owner's lock guards it. */
#ifndef CPLUGIN_CORE_HTAB_H
#define CPLUGIN_CORE_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_hnode {
  struct cp_hnode *next;
  uint64_t hash;
} cp_hnode;

typedef struct cp_htab {
  cp_hnode **buckets;
  size_t mask; /* bucket count - 1 (a power of two) */
  size_t count;
} cp_htab;

/* The item that embeds `node` as `member`. */
#define CP_HNODE_ITEM(node, type, member) \
  ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Returns 0 or CP_ENOMEM. */
int cpi_htab_init(cp_htab *t);

/* Frees the buckets (not the items). */
void cpi_htab_release(cp_htab *t);

/* First node of the chain that may hold `hash`; walk it with node->next and
 * compare node->hash before the key. */
cp_hnode *cpi_htab_chain(const cp_htab *t, uint64_t hash);

/* Links `node` (node->hash set by the caller). */
void cpi_htab_insert(cp_htab *t, cp_hnode *node);

/* Unlinks `node`, which must be in the table. */
void cpi_htab_remove(cp_htab *t, cp_hnode *node);

#endif /* CPLUGIN_CORE_HTAB_H */
