/* Plugin dependency graph (internal): which plugin provides which service
 * types and which types each one requires, the order to start them in, and
 * who is hurt when one goes away. Pure data structure: no I/O, no gRPC.
 *
 * Nodes are plugins named by their id (the manifest / self name). A node
 * provides service types (each optionally versioned) and requires service
 * types; a requirement flagged required_for_startup makes the plugin wait
 * for EVERY node that provides a matching service (type, and version >=
 * min_version when one is given). Other requirements never affect the
 * order; they only show up in impact analysis.
 *
 * Behaviour follows connect-plugin-go's internal/depgraph, with its defects
 * fixed:
 *  - adding an id that is already present is refused (CP_EEXIST) instead of
 *    indexing the plugin twice;
 *  - a cycle is reported with its members named, not just counted;
 *  - min_version is honoured (upstream stores and ignores it);
 *  - impact analysis is iterative and treats a service as lost only when
 *    every provider that satisfies the requirement is lost (see
 *    cpi_depgraph_impact_of).
 * Nothing recurses, so graphs up to the node limit are safe on any stack.
 *
 * Ownership: every function copies the strings it is given; results are
 * allocated for the caller and released with cpi_depgraph_list_free /
 * cpi_depgraph_impact_free. cpi_depgraph_find returns a view owned by the graph.
 *
 * Thread safety: none. The owner serialises every call that mutates the
 * graph (add, remove, destroy) against all others; calls taking a const
 * graph may run concurrently with each other. */
#ifndef CPLUGIN_PLATFORM_DEPGRAPH_H
#define CPLUGIN_PLATFORM_DEPGRAPH_H

#include <stdbool.h>
#include <stddef.h>

/* Input bounds; anything beyond is refused with CP_EINVAL (per node) or
 * CP_ELIMIT (nodes in one graph). Service types and versions follow
 * core/validate.h (128 and 64 bytes). */
enum {
  DEPGRAPH_MAX_NODES = 1024,
  DEPGRAPH_MAX_PROVIDES = 64, /* per node */
  DEPGRAPH_MAX_REQUIRES = 64, /* per node */
  DEPGRAPH_ID_MAX = 128       /* bytes; ^[a-zA-Z][a-zA-Z0-9_.-]*$ */
};

/* A service a plugin provides (ServiceDeclaration in handshake.proto). */
typedef struct depgraph_service {
  const char *type;
  const char *version; /* semantic version, or NULL / "" when unversioned */
} depgraph_service;

/* A service a plugin requires (ServiceDependency in handshake.proto). */
typedef struct depgraph_dependency {
  const char *type;
  /* NULL / "": any provider will do. Otherwise only providers declaring a
   * version with at least this precedence count (an unversioned provider
   * does not). */
  const char *min_version;
  bool required_for_startup;
  bool watch_for_changes; /* kept for the platform; the graph ignores it */
} depgraph_dependency;

/* A plugin's declaration. Types must be unique within provides and within
 * requires. */
typedef struct depgraph_node {
  const char *id;
  const depgraph_service *provides;
  size_t provides_count;
  const depgraph_dependency *requires;
  size_t requires_count;
} depgraph_node;

/* A list of strings handed to the caller, in one allocation. */
typedef struct depgraph_list {
  char **items;
  size_t count;
} depgraph_list;

/* What removing one plugin does (upstream's ImpactAnalysis). */
typedef struct depgraph_impact {
  char *target;                    /* the plugin asked about */
  depgraph_list affected_services; /* types the target provides */
  depgraph_list affected_plugins;  /* lose a startup requirement */
  depgraph_list optional_impact;   /* lose a provider, keep working */
} depgraph_impact;

typedef struct depgraph depgraph;

/* Creates an empty graph in *out. Returns 0, CP_EINVAL (out NULL) or
 * CP_ENOMEM. Free with cpi_depgraph_destroy. */
int cpi_depgraph_create(depgraph **out);

/* Frees the graph and every node; NULL is a no-op. */
void cpi_depgraph_destroy(depgraph *g);

/* Adds a copy of `node`. Returns 0; CP_EINVAL for a malformed declaration
 * (id, a type or a version invalid or too long, a count over its limit, a
 * type listed twice); CP_EEXIST when the id is already present; CP_ELIMIT
 * when the graph holds DEPGRAPH_MAX_NODES; CP_ENOMEM. On failure the graph
 * is unchanged and, when msg_cap > 0, msg holds a sentence saying why
 * (msg may be NULL when msg_cap is 0; the same holds for every function
 * taking msg). A requirement nobody provides yet is not an error here:
 * plugins may be declared in any order (see cpi_depgraph_check_requires). */
int cpi_depgraph_add(depgraph *g, const depgraph_node *node, char *msg,
                     size_t msg_cap);

/* Removes the node `id`. Returns 0, CP_EINVAL (NULL argument) or
 * CP_ENOTFOUND. Views from cpi_depgraph_find on that node become invalid. */
int cpi_depgraph_remove(depgraph *g, const char *id);

/* Number of nodes. */
size_t cpi_depgraph_count(const depgraph *g);

/* The stored node `id`, or NULL. Owned by the graph: valid until that node
 * is removed or the graph destroyed. Versions given as "" read back as
 * NULL. */
const depgraph_node *cpi_depgraph_find(const depgraph *g, const char *id);

/* True when at least one node provides `type` (any version). */
bool cpi_depgraph_has_service(const depgraph *g, const char *type);

/* Ids of the nodes providing `type` (any version), sorted, into *out
 * (empty when none). Returns 0, CP_EINVAL or CP_ENOMEM. */
int cpi_depgraph_providers(const depgraph *g, const char *type,
                           depgraph_list *out);

/* Whether `node` (in the graph or not) could start now: every
 * required_for_startup dependency has a provider in the graph that
 * satisfies it, other than `node` itself. Returns 0, CP_EINVAL, or
 * CP_ENOTFOUND with msg naming the plugin and the first unmet service. */
int cpi_depgraph_check_requires(const depgraph *g, const depgraph_node *node,
                                char *msg, size_t msg_cap);

/* The ids in an order where every plugin comes after all providers of its
 * startup requirements; among plugins ready at the same time the
 * lexicographically smallest id comes first, so the order depends only on
 * the graph's contents (Kahn's algorithm). Returns 0; CP_ENOTFOUND when a
 * startup requirement has no satisfying provider (msg: `plugin "app"
 * requires service "cache" but no provider exists`); CP_ESTATE on a cycle
 * (msg: `dependency cycle: a -> c -> b -> a`, where "x -> y" reads "x
 * requires a service y provides", starting at the cycle's smallest id; a
 * plugin that requires its own service gives "a -> a"); CP_EINVAL;
 * CP_ENOMEM. *out is an empty list on failure. */
int cpi_depgraph_startup_order(const depgraph *g, depgraph_list *out, char *msg,
                               size_t msg_cap);

/* What removing `id` would do, into *out:
 *  - affected_services: the types `id` provides (whether or not another
 *    plugin also provides them, as upstream);
 *  - affected_plugins: plugins left without any satisfying provider of
 *    a startup requirement once `id` and the plugins already affected
 *    are gone (transitive, computed to a fixed point);
 *  - optional_impact: plugins not affected that require (for startup or
 *    not) a service a removed plugin satisfied.
 * Lists are sorted and disjoint and never contain `id`. An unknown id gives
 * only `target` with empty lists, as upstream. Returns 0, CP_EINVAL (a
 * NULL argument, or an id longer than DEPGRAPH_ID_MAX) or CP_ENOMEM (then
 * *out is empty). Free with cpi_depgraph_impact_free. */
int cpi_depgraph_impact_of(const depgraph *g, const char *id,
                           depgraph_impact *out);

/* Frees a list's storage and empties it; NULL is a no-op. */
void cpi_depgraph_list_free(depgraph_list *list);

/* Frees an impact's storage and empties it; NULL is a no-op. */
void cpi_depgraph_impact_free(depgraph_impact *impact);

#endif /* CPLUGIN_PLATFORM_DEPGRAPH_H */
