/* Dependency graph: node storage, lookups, and the result lists handed to
 * callers. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "platform/depgraph_internal.h"

int cpi_depgraph_create(depgraph **out) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = calloc(1, sizeof **out);
  return *out != NULL ? 0 : CP_ENOMEM;
}

void cpi_depgraph_destroy(depgraph *g) {
  if (g == NULL) {
    return;
  }
  for (size_t i = 0; i < g->count; i++) {
    free(g->nodes[i]);
  }
  free(g->nodes);
  free(g);
}

void cpi_depgraph_msg(char *msg, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (msg != NULL && cap > 0) {
    /* clang-tidy 14 misreads the va_list when it analyses several files
     * in one run (see core/status.c). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(msg, cap, fmt, ap);
  }
  va_end(ap);
}

bool cpi_depgraph_locate(const depgraph *g, const char *id, size_t *pos) {
  size_t lo = 0;
  size_t hi = g->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(g->nodes[mid]->id, id);
    if (c == 0) {
      *pos = mid;
      return true;
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *pos = lo;
  return false;
}

/* --- storage ------------------------------------------------------------- */

static size_t string_size(const char *s) {
  return depgraph_unset(s) ? 0 : strlen(s) + 1;
}

/* Copies s into the block at *cursor; unset strings become NULL so stored
 * nodes have one spelling for "no version". */
static const char *place(char **cursor, const char *s) {
  if (depgraph_unset(s)) {
    return NULL;
  }
  size_t n = strlen(s) + 1;
  char *dst = *cursor;
  memcpy(dst, s, n);
  *cursor += n;
  return dst;
}

/* One allocation: the node, its two arrays, then every string. The struct
 * sizes are multiples of pointer alignment, so the arrays stay aligned. */
static depgraph_node *copy_node(const depgraph_node *src) {
  size_t pc = src->provides_count;
  size_t rc = src->requires_count;
  size_t size = sizeof(depgraph_node) + pc * sizeof(depgraph_service) +
                rc * sizeof(depgraph_dependency) + string_size(src->id);
  for (size_t i = 0; i < pc; i++) {
    size += string_size(src->provides[i].type) +
            string_size(src->provides[i].version);
  }
  for (size_t i = 0; i < rc; i++) {
    size += string_size(src->requires[i].type) +
            string_size(src->requires[i].min_version);
  }
  depgraph_node *n = malloc(size);
  if (n == NULL) {
    return NULL;
  }
  depgraph_service *provides = (depgraph_service *)(n + 1);
  depgraph_dependency *requires = (depgraph_dependency *)(provides + pc);
  char *cursor = (char *)(requires + rc);
  n->id = place(&cursor, src->id);
  for (size_t i = 0; i < pc; i++) {
    provides[i].type = place(&cursor, src->provides[i].type);
    provides[i].version = place(&cursor, src->provides[i].version);
  }
  for (size_t i = 0; i < rc; i++) {
    requires[i] = src->requires[i];
    requires[i].type = place(&cursor, src->requires[i].type);
    requires[i].min_version = place(&cursor, src->requires[i].min_version);
  }
  n->provides = pc > 0 ? provides : NULL;
  n->provides_count = pc;
  n->requires = rc > 0 ? requires : NULL;
  n->requires_count = rc;
  return n;
}

int cpi_depgraph_add(depgraph *g, const depgraph_node *node, char *msg,
                     size_t msg_cap) {
  cpi_depgraph_msg(msg, msg_cap, "%s", "");
  if (g == NULL || node == NULL) {
    cpi_depgraph_msg(msg, msg_cap, "graph and node are required");
    return CP_EINVAL;
  }
  int rc = cpi_depgraph_check_node(node, msg, msg_cap);
  if (rc != 0) {
    return rc;
  }
  size_t pos;
  if (cpi_depgraph_locate(g, node->id, &pos)) {
    cpi_depgraph_msg(msg, msg_cap, "plugin \"%s\" is already in the graph",
                     node->id);
    return CP_EEXIST;
  }
  if (g->count >= DEPGRAPH_MAX_NODES) {
    cpi_depgraph_msg(msg, msg_cap, "the graph already holds %d plugins",
                     DEPGRAPH_MAX_NODES);
    return CP_ELIMIT;
  }
  if (g->count == g->cap) {
    size_t cap = g->cap == 0 ? 8 : g->cap * 2;
    depgraph_node **grown = realloc(g->nodes, cap * sizeof *grown);
    if (grown == NULL) {
      cpi_depgraph_msg(msg, msg_cap, "out of memory");
      return CP_ENOMEM;
    }
    g->nodes = grown;
    g->cap = cap;
  }
  depgraph_node *copy = copy_node(node);
  if (copy == NULL) {
    cpi_depgraph_msg(msg, msg_cap, "out of memory");
    return CP_ENOMEM;
  }
  memmove(&g->nodes[pos + 1], &g->nodes[pos],
          (g->count - pos) * sizeof *g->nodes);
  g->nodes[pos] = copy;
  g->count++;
  return 0;
}

int cpi_depgraph_remove(depgraph *g, const char *id) {
  if (g == NULL || id == NULL) {
    return CP_EINVAL;
  }
  size_t pos;
  if (!cpi_depgraph_locate(g, id, &pos)) {
    return CP_ENOTFOUND;
  }
  free(g->nodes[pos]);
  memmove(&g->nodes[pos], &g->nodes[pos + 1],
          (g->count - pos - 1) * sizeof *g->nodes);
  g->count--;
  return 0;
}

size_t cpi_depgraph_count(const depgraph *g) {
  return g != NULL ? g->count : 0;
}

const depgraph_node *cpi_depgraph_find(const depgraph *g, const char *id) {
  size_t pos;
  if (g == NULL || id == NULL || !cpi_depgraph_locate(g, id, &pos)) {
    return NULL;
  }
  return g->nodes[pos];
}

static bool node_provides(const depgraph_node *n, const char *type) {
  for (size_t i = 0; i < n->provides_count; i++) {
    if (strcmp(n->provides[i].type, type) == 0) {
      return true;
    }
  }
  return false;
}

bool cpi_depgraph_has_service(const depgraph *g, const char *type) {
  if (g == NULL || type == NULL) {
    return false;
  }
  for (size_t i = 0; i < g->count; i++) {
    if (node_provides(g->nodes[i], type)) {
      return true;
    }
  }
  return false;
}

int cpi_depgraph_providers(const depgraph *g, const char *type,
                           depgraph_list *out) {
  if (out != NULL) {
    out->items = NULL;
    out->count = 0;
  }
  if (g == NULL || type == NULL || out == NULL) {
    return CP_EINVAL;
  }
  if (g->count == 0) {
    return 0;
  }
  const char **ids = malloc(g->count * sizeof *ids);
  if (ids == NULL) {
    return CP_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < g->count; i++) {
    if (node_provides(g->nodes[i], type)) {
      ids[n++] = g->nodes[i]->id;
    }
  }
  int rc = cpi_depgraph_list_make(out, ids, n);
  free(ids);
  return rc;
}

int cpi_depgraph_check_requires(const depgraph *g, const depgraph_node *node,
                                char *msg, size_t msg_cap) {
  cpi_depgraph_msg(msg, msg_cap, "%s", "");
  if (g == NULL || node == NULL) {
    cpi_depgraph_msg(msg, msg_cap, "graph and node are required");
    return CP_EINVAL;
  }
  int rc = cpi_depgraph_check_node(node, msg, msg_cap);
  if (rc != 0) {
    return rc;
  }
  for (size_t i = 0; i < node->requires_count; i++) {
    const depgraph_dependency *dep = &node->requires[i];
    if (!dep->required_for_startup) {
      continue;
    }
    bool type_provided = false;
    bool satisfied = false;
    for (size_t n = 0; n < g->count && !satisfied; n++) {
      const depgraph_node *p = g->nodes[n];
      if (strcmp(p->id, node->id) == 0) {
        continue;
      }
      for (size_t s = 0; s < p->provides_count && !satisfied; s++) {
        if (strcmp(p->provides[s].type, dep->type) == 0) {
          type_provided = true;
          satisfied = cpi_depgraph_satisfies(&p->provides[s], dep);
        }
      }
    }
    if (!satisfied) {
      cpi_depgraph_unmet_msg(msg, msg_cap, node->id, dep, type_provided);
      return CP_ENOTFOUND;
    }
  }
  return 0;
}

/* --- results ------------------------------------------------------------- */

int cpi_depgraph_list_make(depgraph_list *out, const char *const *strs,
                           size_t n) {
  out->items = NULL;
  out->count = 0;
  if (n == 0) {
    return 0;
  }
  size_t size = n * sizeof(char *);
  for (size_t i = 0; i < n; i++) {
    size += strlen(strs[i]) + 1;
  }
  char **items = malloc(size);
  if (items == NULL) {
    return CP_ENOMEM;
  }
  char *cursor = (char *)(items + n);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(strs[i]) + 1;
    memcpy(cursor, strs[i], len);
    items[i] = cursor;
    cursor += len;
  }
  out->items = items;
  out->count = n;
  return 0;
}

void cpi_depgraph_list_free(depgraph_list *list) {
  if (list == NULL) {
    return;
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

void cpi_depgraph_impact_free(depgraph_impact *impact) {
  if (impact == NULL) {
    return;
  }
  free(impact->target);
  impact->target = NULL;
  cpi_depgraph_list_free(&impact->affected_services);
  cpi_depgraph_list_free(&impact->affected_plugins);
  cpi_depgraph_list_free(&impact->optional_impact);
}
