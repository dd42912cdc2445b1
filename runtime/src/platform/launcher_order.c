/* The manifest's dependency graph: the order plugins start in, refused
 * before anything runs when it has a cycle or a requirement nobody
 * provides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "platform/depgraph.h"
#include "platform/launcher_order.h"

static int add_plugin(depgraph *g, const manifest_plugin *m, char *err,
                      size_t errlen) {
  depgraph_service prov[MANIFEST_MAX_SERVICES];
  depgraph_dependency req[MANIFEST_MAX_SERVICES];
  for (size_t i = 0; i < m->provides_count; i++) {
    prov[i].type = m->provides[i].type;
    prov[i].version = m->provides[i].version;
  }
  for (size_t i = 0; i < m->requires_count; i++) {
    req[i].type = m->requires[i].type;
    req[i].min_version = m->requires[i].min_version;
    req[i].required_for_startup = m->requires[i].required_for_startup;
    req[i].watch_for_changes = m->requires[i].watch_for_changes;
  }
  depgraph_node node = {m->name, prov, m->provides_count, req,
                        m->requires_count};
  return cpi_depgraph_add(g, &node, err, errlen);
}

int cpi_launcher_check_graph(const manifest_plugin *const *plugins,
                             size_t count, char *err, size_t errlen) {
  depgraph *g = NULL;
  int rc = cpi_depgraph_create(&g);
  for (size_t i = 0; rc == 0 && i < count; i++) {
    rc = add_plugin(g, plugins[i], err, errlen);
  }
  depgraph_list list = {NULL, 0};
  if (rc == 0) {
    rc = cpi_depgraph_startup_order(g, &list, err, errlen);
  }
  cpi_depgraph_list_free(&list);
  cpi_depgraph_destroy(g);
  return rc == CP_ENOMEM ? rc : (rc != 0 ? CP_EINVAL : 0);
}

int cpi_launcher_startup_order(const manifest *m, size_t *order, char *err,
                               size_t errlen) {
  depgraph *g = NULL;
  int rc = cpi_depgraph_create(&g);
  for (size_t i = 0; rc == 0 && i < m->plugins_count; i++) {
    rc = add_plugin(g, &m->plugins[i], err, errlen);
  }
  depgraph_list list = {NULL, 0};
  if (rc == 0) {
    rc = cpi_depgraph_startup_order(g, &list, err, errlen);
  }
  for (size_t i = 0; rc == 0 && i < list.count; i++) {
    const manifest_plugin *p = cpi_manifest_find(m, list.items[i]);
    order[i] = (size_t)(p - m->plugins);
  }
  cpi_depgraph_list_free(&list);
  cpi_depgraph_destroy(g);
  /* Every graph error is the manifest's. */
  return rc == CP_ENOMEM ? rc : (rc != 0 ? CP_EINVAL : 0);
}
