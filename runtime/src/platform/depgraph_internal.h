/* Shared by the depgraph files (internal to platform/): the graph's layout
 * and the sorted type indexes that ordering and impact analysis build. */
#ifndef CPLUGIN_PLATFORM_DEPGRAPH_INTERNAL_H
#define CPLUGIN_PLATFORM_DEPGRAPH_INTERNAL_H

#include <stdint.h>

#include "platform/depgraph.h"

/* Nodes sorted by id, so index order is lexicographic order: ties broken
 * by index are broken by id. Each node is one allocation holding its
 * arrays and strings (free(node) releases all of it). */
struct depgraph {
  depgraph_node **nodes;
  size_t count;
  size_t cap;
};

/* NULL and "" both mean "not given" (a version, a min_version). */
static inline bool depgraph_unset(const char *s) {
  return s == NULL || s[0] == '\0';
}

/* 0 when `n` is well formed (see cpi_depgraph_add), else CP_EINVAL with the
 * reason in msg. */
int cpi_depgraph_check_node(const depgraph_node *n, char *msg, size_t cap);

/* Binary search over the sorted nodes: true and its index in *pos when
 * `id` is present, otherwise false and the index where it would go. */
bool cpi_depgraph_locate(const depgraph *g, const char *id, size_t *pos);

/* One (type, node) pair: node `node` provides (or requires) `type` as its
 * item number `item`. Arrays of these are sorted by type, then node. */
typedef struct depgraph_type_ref {
  const char *type;
  uint32_t node;
  uint32_t item;
} depgraph_type_ref;

/* Every provided service (requires == false) or every requirement (true)
 * of the graph, sorted. *out is NULL when there are none. Returns 0 or
 * CP_ENOMEM; free(*out) when done. */
int cpi_depgraph_index_build(const depgraph *g, bool requires,
                             depgraph_type_ref **out, size_t *count);

/* The run of refs[0..n) whose type is `type`: its length, and its start in
 * *first. */
size_t cpi_depgraph_index_range(const depgraph_type_ref *refs, size_t n,
                                const char *type, size_t *first);

/* True when `svc` satisfies `dep`: same type, and when dep has a
 * min_version, svc declares a version of at least that precedence. */
bool cpi_depgraph_satisfies(const depgraph_service *svc,
                            const depgraph_dependency *dep);

/* Writes why `dep` of plugin `id` is unmet: no provider of its type at
 * all, or (type_provided) none with a recent enough version. */
void cpi_depgraph_unmet_msg(char *msg, size_t cap, const char *id,
                            const depgraph_dependency *dep, bool type_provided);

/* Copies strs[0..n) into *out (one allocation). Returns 0 or CP_ENOMEM. */
int cpi_depgraph_list_make(depgraph_list *out, const char *const *strs,
                           size_t n);

/* printf into msg[0..cap) when cap > 0. */
void cpi_depgraph_msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CPLUGIN_PLATFORM_DEPGRAPH_INTERNAL_H */
