/* Dependency graph: the sorted (type, node) indexes that ordering and
 * impact analysis search, and when a provided service satisfies a
 * requirement. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "platform/depgraph_internal.h"
#include "core/semver.h"

bool cpi_depgraph_satisfies(const depgraph_service *svc,
                            const depgraph_dependency *dep) {
  if (strcmp(svc->type, dep->type) != 0) {
    return false;
  }
  if (depgraph_unset(dep->min_version)) {
    return true;
  }
  return !depgraph_unset(svc->version) &&
         cpi_semver_compare(svc->version, dep->min_version) >= 0;
}

void cpi_depgraph_unmet_msg(char *msg, size_t cap, const char *id,
                            const depgraph_dependency *dep,
                            bool type_provided) {
  if (type_provided) {
    cpi_depgraph_msg(msg, cap,
                     "plugin \"%s\" requires service \"%s\" >= %s but no "
                     "provider has that version",
                     id, dep->type, dep->min_version);
  } else {
    cpi_depgraph_msg(msg, cap,
                     "plugin \"%s\" requires service \"%s\" but no provider "
                     "exists",
                     id, dep->type);
  }
}

static int compare_refs(const void *a, const void *b) {
  const depgraph_type_ref *x = a;
  const depgraph_type_ref *y = b;
  int c = strcmp(x->type, y->type);
  if (c != 0) {
    return c;
  }
  return (x->node > y->node) - (x->node < y->node);
}

int cpi_depgraph_index_build(const depgraph *g, bool requires,
                             depgraph_type_ref **out, size_t *count) {
  size_t total = 0;
  for (size_t i = 0; i < g->count; i++) {
    total +=
        requires ? g->nodes[i]->requires_count : g->nodes[i]->provides_count;
  }
  *out = NULL;
  *count = 0;
  if (total == 0) {
    return 0;
  }
  depgraph_type_ref *refs = malloc(total * sizeof *refs);
  if (refs == NULL) {
    return CP_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < g->count; i++) {
    const depgraph_node *n = g->nodes[i];
    size_t items = requires ? n->requires_count : n->provides_count;
    for (size_t j = 0; j < items; j++) {
      refs[k].type = requires ? n->requires[j].type : n->provides[j].type;
      refs[k].node = (uint32_t)i;
      refs[k].item = (uint32_t)j;
      k++;
    }
  }
  qsort(refs, total, sizeof *refs, compare_refs);
  *out = refs;
  *count = total;
  return 0;
}

size_t cpi_depgraph_index_range(const depgraph_type_ref *refs, size_t n,
                                const char *type, size_t *first) {
  size_t lo = 0;
  size_t hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(refs[mid].type, type) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  size_t end = lo;
  while (end < n && strcmp(refs[end].type, type) == 0) {
    end++;
  }
  *first = lo;
  return end - lo;
}
