/* An intrusive chained hash table. */
#include "core/htab.h"

#include <stdlib.h>

#include "cplugin/errors.h"

enum { INITIAL_BUCKETS = 16 };

int cpi_htab_init(cp_htab *t) {
  t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
  t->mask = INITIAL_BUCKETS - 1;
  t->count = 0;
  return t->buckets == NULL ? CP_ENOMEM : 0;
}

void cpi_htab_release(cp_htab *t) {
  free(t->buckets);
  t->buckets = NULL;
  t->count = 0;
}

cp_hnode *cpi_htab_chain(const cp_htab *t, uint64_t hash) {
  return t->buckets[hash & t->mask];
}

static void grow(cp_htab *t) {
  size_t n = (t->mask + 1) * 2;
  cp_hnode **b = calloc(n, sizeof *b);
  if (b == NULL) {
    return;
  }
  for (size_t i = 0; i <= t->mask; i++) {
    cp_hnode *node = t->buckets[i];
    while (node != NULL) {
      cp_hnode *next = node->next;
      node->next = b[node->hash & (n - 1)];
      b[node->hash & (n - 1)] = node;
      node = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->mask = n - 1;
}

void cpi_htab_insert(cp_htab *t, cp_hnode *node) {
  /* Up to two items per bucket: a bucket costs as much as an item's link,
   * and chains of one or two nodes still take a cache miss or two. */
  if (t->count > 2 * t->mask + 1) {
    grow(t);
  }
  cp_hnode **head = &t->buckets[node->hash & t->mask];
  node->next = *head;
  *head = node;
  t->count++;
}

void cpi_htab_remove(cp_htab *t, cp_hnode *node) {
  for (cp_hnode **link = &t->buckets[node->hash & t->mask]; *link != NULL;
       link = &(*link)->next) {
    if (*link == node) {
      *link = node->next;
      node->next = NULL;
      t->count--;
      return;
    }
  }
}
