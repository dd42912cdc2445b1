/* Startup order: Kahn's algorithm over "provider before requirer" edges,
 * smallest ready id first; on a cycle, one cycle is found and named.
 *
 * Edges are never materialised: a node's in-degree is counted from the
 * provider index, and finishing a node walks the requirer index of each
 * type it provides. Memory stays linear in the declarations even when many
 * plugins provide the same type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "platform/depgraph_internal.h"

/* A binary min-heap of node indexes: since nodes are sorted by id, the
 * smallest index is the lexicographically smallest ready plugin. */
typedef struct ready_heap {
  uint32_t *items;
  size_t count;
} ready_heap;

static void heap_push(ready_heap *h, uint32_t v) {
  size_t i = h->count++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->items[parent] <= v) {
      break;
    }
    h->items[i] = h->items[parent];
    i = parent;
  }
  h->items[i] = v;
}

static uint32_t heap_pop(ready_heap *h) {
  uint32_t top = h->items[0];
  uint32_t last = h->items[--h->count];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->count) {
      break;
    }
    if (child + 1 < h->count && h->items[child + 1] < h->items[child]) {
      child++;
    }
    if (last <= h->items[child]) {
      break;
    }
    h->items[i] = h->items[child];
    i = child;
  }
  if (h->count > 0) {
    h->items[i] = last;
  }
  return top;
}

typedef struct order_state {
  const depgraph *g;
  depgraph_type_ref *provs; /* provided services, by type */
  size_t nprovs;
  depgraph_type_ref *reqs; /* requirements, by type */
  size_t nreqs;
  size_t *indeg; /* per node: satisfying providers not yet started */
  bool *started; /* per node */
  uint32_t *seq; /* the order (node indexes), then scratch for the cycle */
  size_t started_count;
} order_state;

static const depgraph_service *service_at(const depgraph *g,
                                          const depgraph_type_ref *r) {
  return &g->nodes[r->node]->provides[r->item];
}

static const depgraph_dependency *requirement_at(const depgraph *g,
                                                 const depgraph_type_ref *r) {
  return &g->nodes[r->node]->requires[r->item];
}

/* In-degrees, and the first startup requirement (by id, then declaration
 * order) that nothing satisfies. */
static int count_in_degrees(order_state *s, char *msg, size_t cap) {
  const depgraph *g = s->g;
  for (size_t v = 0; v < g->count; v++) {
    const depgraph_node *n = g->nodes[v];
    for (size_t j = 0; j < n->requires_count; j++) {
      const depgraph_dependency *dep = &n->requires[j];
      if (!dep->required_for_startup) {
        continue;
      }
      size_t first;
      size_t len =
          cpi_depgraph_index_range(s->provs, s->nprovs, dep->type, &first);
      size_t satisfying = 0;
      for (size_t r = first; r < first + len; r++) {
        satisfying += cpi_depgraph_satisfies(service_at(g, &s->provs[r]), dep);
      }
      if (satisfying == 0) {
        cpi_depgraph_unmet_msg(msg, cap, n->id, dep, len > 0);
        return CP_ENOTFOUND;
      }
      s->indeg[v] += satisfying;
    }
  }
  return 0;
}

/* Starts node u: each startup requirement it satisfies loses one wait. */
static void release_dependents(order_state *s, uint32_t u, ready_heap *heap) {
  const depgraph_node *n = s->g->nodes[u];
  for (size_t i = 0; i < n->provides_count; i++) {
    const depgraph_service *svc = &n->provides[i];
    size_t first;
    size_t len = cpi_depgraph_index_range(s->reqs, s->nreqs, svc->type, &first);
    for (size_t r = first; r < first + len; r++) {
      const depgraph_dependency *dep = requirement_at(s->g, &s->reqs[r]);
      if (dep->required_for_startup && cpi_depgraph_satisfies(svc, dep)) {
        uint32_t v = s->reqs[r].node;
        if (--s->indeg[v] == 0) {
          heap_push(heap, v);
        }
      }
    }
  }
}

static void run_kahn(order_state *s, ready_heap *heap) {
  for (size_t v = 0; v < s->g->count; v++) {
    if (s->indeg[v] == 0) {
      heap_push(heap, (uint32_t)v);
    }
  }
  while (heap->count > 0) {
    uint32_t u = heap_pop(heap);
    s->started[u] = true;
    s->seq[s->started_count++] = u;
    release_dependents(s, u, heap);
  }
}

/* The smallest not-started node satisfying one of v's startup
 * requirements. After Kahn stops, every node left waits on at least one
 * such node, so the result is always < count. */
static size_t waiting_on(const order_state *s, size_t v) {
  const depgraph_node *n = s->g->nodes[v];
  size_t best = s->g->count;
  for (size_t j = 0; j < n->requires_count; j++) {
    const depgraph_dependency *dep = &n->requires[j];
    if (!dep->required_for_startup) {
      continue;
    }
    size_t first;
    size_t len =
        cpi_depgraph_index_range(s->provs, s->nprovs, dep->type, &first);
    for (size_t r = first; r < first + len; r++) {
      uint32_t u = s->provs[r].node;
      if (!s->started[u] && u < best &&
          cpi_depgraph_satisfies(service_at(s->g, &s->provs[r]), dep)) {
        best = u;
      }
    }
  }
  return best;
}

/* Appends `text` to msg, keeping a NUL; once full, the message ends in
 * "..." so a cut-off cycle is not mistaken for a whole one. */
static void msg_append(char *msg, size_t cap, size_t *len, const char *text) {
  if (msg == NULL || cap == 0) {
    return;
  }
  size_t room = cap - 1 - *len;
  size_t n = strlen(text);
  if (n <= room) {
    memcpy(msg + *len, text, n);
    *len += n;
    msg[*len] = '\0';
    return;
  }
  memcpy(msg + *len, text, room);
  *len = cap - 1;
  msg[*len] = '\0';
  if (cap > 3) {
    memcpy(msg + cap - 4, "...", 3);
  }
}

/* Walks "waits on" links from the smallest blocked node until one repeats;
 * the repeated stretch is a cycle, named from its smallest id. */
static int name_cycle(order_state *s, char *msg, size_t cap) {
  const depgraph *g = s->g;
  size_t *step_of = s->indeg; /* reused: step at which a node was visited */
  uint32_t *path = s->seq;    /* reused: the walk */
  size_t v = 0;
  while (s->started[v]) {
    v++;
  }
  for (size_t i = 0; i < g->count; i++) {
    step_of[i] = SIZE_MAX;
  }
  size_t steps = 0;
  while (v < g->count && step_of[v] == SIZE_MAX) {
    step_of[v] = steps;
    path[steps++] = (uint32_t)v;
    v = waiting_on(s, v);
  }
  if (v >= g->count) { /* unreachable by the invariant above */
    cpi_depgraph_msg(msg, cap, "dependency cycle among %zu plugins",
                     g->count - s->started_count);
    return CP_ESTATE;
  }
  size_t start = step_of[v];
  size_t cycle_len = steps - start;
  size_t smallest = start;
  for (size_t i = start; i < steps; i++) {
    if (path[i] < path[smallest]) {
      smallest = i;
    }
  }
  size_t len = 0;
  msg_append(msg, cap, &len, "dependency cycle: ");
  for (size_t k = 0; k <= cycle_len; k++) {
    size_t at = start + (smallest - start + k) % cycle_len;
    if (k > 0) {
      msg_append(msg, cap, &len, " -> ");
    }
    msg_append(msg, cap, &len, g->nodes[path[at]]->id);
  }
  return CP_ESTATE;
}

static int order_graph(order_state *s, depgraph_list *out, char *msg,
                       size_t cap) {
  const depgraph *g = s->g;
  int rc = cpi_depgraph_index_build(g, false, &s->provs, &s->nprovs);
  if (rc == 0) {
    rc = cpi_depgraph_index_build(g, true, &s->reqs, &s->nreqs);
  }
  s->indeg = calloc(g->count, sizeof *s->indeg);
  s->started = calloc(g->count, sizeof *s->started);
  s->seq = calloc(g->count, sizeof *s->seq);
  uint32_t *heap_items = calloc(g->count, sizeof *heap_items);
  const char **ids = calloc(g->count, sizeof *ids);
  if (rc == 0 && (s->indeg == NULL || s->started == NULL || s->seq == NULL ||
                  heap_items == NULL || ids == NULL)) {
    rc = CP_ENOMEM;
  }
  if (rc == 0) {
    rc = count_in_degrees(s, msg, cap);
  }
  if (rc == 0) {
    ready_heap heap = {heap_items, 0};
    run_kahn(s, &heap);
    if (s->started_count < g->count) {
      rc = name_cycle(s, msg, cap);
    }
  }
  if (rc == 0) {
    for (size_t i = 0; i < g->count; i++) {
      ids[i] = g->nodes[s->seq[i]]->id;
    }
    rc = cpi_depgraph_list_make(out, ids, g->count);
  }
  if (rc == CP_ENOMEM) {
    cpi_depgraph_msg(msg, cap, "out of memory");
  }
  free(ids);
  free(heap_items);
  return rc;
}

int cpi_depgraph_startup_order(const depgraph *g, depgraph_list *out, char *msg,
                               size_t msg_cap) {
  cpi_depgraph_msg(msg, msg_cap, "%s", "");
  if (out != NULL) {
    out->items = NULL;
    out->count = 0;
  }
  if (g == NULL || out == NULL) {
    cpi_depgraph_msg(msg, msg_cap, "graph and output are required");
    return CP_EINVAL;
  }
  if (g->count == 0) {
    return 0;
  }
  order_state s = {.g = g};
  int rc = order_graph(&s, out, msg, msg_cap);
  free(s.provs);
  free(s.reqs);
  free(s.indeg);
  free(s.started);
  free(s.seq);
  return rc;
}
