/* Impact analysis: which plugins lose a startup requirement, transitively,
 * when one plugin goes away, and which merely lose a provider.
 *
 * Upstream (findDependents) recurses, and judges each service by whether a
 * provider other than the plugin being visited remains, so a service whose
 * remaining providers are themselves being lost still counts as available.
 * Here a worklist of lost plugins runs to a fixed point, and each
 * requirement keeps a count of its satisfying providers still alive: a
 * startup requirement whose count reaches zero loses its plugin. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "platform/depgraph_internal.h"

typedef struct impact_state {
  const depgraph *g;
  depgraph_type_ref *provs; /* provided services, by type */
  size_t nprovs;
  depgraph_type_ref *reqs; /* requirements, by type */
  size_t nreqs;
  size_t *alive;  /* per requirement: satisfying providers not lost */
  bool *touched;  /* per requirement: some satisfying provider was lost */
  bool *lost;     /* per node: removed, or left without a requirement */
  uint32_t *work; /* lost nodes whose dependents are still to visit */
} impact_state;

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int list_services(const depgraph_node *n, depgraph_list *out) {
  if (n->provides_count == 0) {
    return 0;
  }
  const char **types = malloc(n->provides_count * sizeof *types);
  if (types == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n->provides_count; i++) {
    types[i] = n->provides[i].type;
  }
  qsort(types, n->provides_count, sizeof *types, compare_strings);
  int rc = cpi_depgraph_list_make(out, types, n->provides_count);
  free(types);
  return rc;
}

static void count_alive(impact_state *s) {
  for (size_t r = 0; r < s->nreqs; r++) {
    const depgraph_type_ref *req = &s->reqs[r];
    const depgraph_dependency *dep =
        &s->g->nodes[req->node]->requires[req->item];
    size_t first;
    size_t len =
        cpi_depgraph_index_range(s->provs, s->nprovs, dep->type, &first);
    for (size_t p = first; p < first + len; p++) {
      const depgraph_type_ref *prov = &s->provs[p];
      s->alive[r] += cpi_depgraph_satisfies(
          &s->g->nodes[prov->node]->provides[prov->item], dep);
    }
  }
}

/* Loses `target`, then every plugin left without a startup requirement,
 * until nothing changes. Each node enters the worklist at most once. */
static void propagate(impact_state *s, uint32_t target) {
  size_t pending = 0;
  s->lost[target] = true;
  s->work[pending++] = target;
  while (pending > 0) {
    const depgraph_node *x = s->g->nodes[s->work[--pending]];
    for (size_t i = 0; i < x->provides_count; i++) {
      const depgraph_service *svc = &x->provides[i];
      size_t first;
      size_t len =
          cpi_depgraph_index_range(s->reqs, s->nreqs, svc->type, &first);
      for (size_t r = first; r < first + len; r++) {
        uint32_t v = s->reqs[r].node;
        const depgraph_dependency *dep =
            &s->g->nodes[v]->requires[s->reqs[r].item];
        if (!cpi_depgraph_satisfies(svc, dep)) {
          continue;
        }
        s->alive[r]--;
        s->touched[r] = true;
        if (s->alive[r] == 0 && dep->required_for_startup && !s->lost[v]) {
          s->lost[v] = true;
          s->work[pending++] = v;
        }
      }
    }
  }
}

/* Both lists in node order, which is id order. */
static int collect(const impact_state *s, uint32_t target,
                   depgraph_impact *out) {
  size_t n = s->g->count;
  const char **affected = malloc(n * sizeof *affected);
  const char **optional = malloc(n * sizeof *optional);
  bool *hurt = calloc(n, sizeof *hurt);
  int rc = CP_ENOMEM;
  if (affected != NULL && optional != NULL && hurt != NULL) {
    for (size_t r = 0; r < s->nreqs; r++) {
      hurt[s->reqs[r].node] |= s->touched[r];
    }
    size_t na = 0;
    size_t no = 0;
    for (size_t v = 0; v < n; v++) {
      if (v == target) {
        continue;
      }
      if (s->lost[v]) {
        affected[na++] = s->g->nodes[v]->id;
      } else if (hurt[v]) {
        optional[no++] = s->g->nodes[v]->id;
      }
    }
    rc = cpi_depgraph_list_make(&out->affected_plugins, affected, na);
    if (rc == 0) {
      rc = cpi_depgraph_list_make(&out->optional_impact, optional, no);
    }
  }
  free(affected);
  free(optional);
  free(hurt);
  return rc;
}

static int analyse(impact_state *s, uint32_t target, depgraph_impact *out) {
  size_t n = s->g->count;
  int rc = list_services(s->g->nodes[target], &out->affected_services);
  if (rc == 0) {
    rc = cpi_depgraph_index_build(s->g, false, &s->provs, &s->nprovs);
  }
  if (rc == 0) {
    rc = cpi_depgraph_index_build(s->g, true, &s->reqs, &s->nreqs);
  }
  if (rc != 0) {
    return rc;
  }
  /* +1: calloc(0) may return NULL, and a graph may have no requirements. */
  s->alive = calloc(s->nreqs + 1, sizeof *s->alive);
  s->touched = calloc(s->nreqs + 1, sizeof *s->touched);
  s->lost = calloc(n, sizeof *s->lost);
  s->work = calloc(n, sizeof *s->work);
  if (s->alive == NULL || s->touched == NULL || s->lost == NULL ||
      s->work == NULL) {
    return CP_ENOMEM;
  }
  count_alive(s);
  propagate(s, target);
  return collect(s, target, out);
}

int cpi_depgraph_impact_of(const depgraph *g, const char *id,
                           depgraph_impact *out) {
  if (out != NULL) {
    memset(out, 0, sizeof *out);
  }
  if (g == NULL || id == NULL || out == NULL ||
      strnlen(id, DEPGRAPH_ID_MAX + 1) > DEPGRAPH_ID_MAX) {
    return CP_EINVAL;
  }
  size_t len = strlen(id) + 1;
  out->target = malloc(len);
  if (out->target == NULL) {
    return CP_ENOMEM;
  }
  memcpy(out->target, id, len);
  size_t target;
  if (!cpi_depgraph_locate(g, id, &target)) {
    return 0;
  }
  impact_state s = {.g = g};
  int rc = analyse(&s, (uint32_t)target, out);
  free(s.provs);
  free(s.reqs);
  free(s.alive);
  free(s.touched);
  free(s.lost);
  free(s.work);
  if (rc != 0) {
    cpi_depgraph_impact_free(out);
  }
  return rc;
}
