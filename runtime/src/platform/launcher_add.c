/* Adding a plugin at run time: an entry in the manifest's format, checked
 * against the plugins the launcher has (a new name, a dependency graph
 * still without cycles or unprovided startup requirements), then started
 * as cp_launcher_start starts each plugin. An added plugin is one more
 * entry from then on: listed, supervised, removed, replaced and stopped
 * (first: it was started last) like the manifest's own. */
#include <stdio.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "platform/launcher_internal.h"
#include "platform/launcher_order.h"

static int check_entry(cp_launcher *l, const manifest_plugin *m, char *err,
                       size_t errlen) {
  if (cpi_lplugin_find(l, m->name) != NULL) {
    snprintf(err, errlen, "plugin %s: a plugin of that name exists already",
             m->name);
    return CP_EEXIST;
  }
  if (m->in_process != NULL &&
      cpi_lplugin_find_in_process(l, m->in_process) == NULL) {
    snprintf(err, errlen,
             "plugin %s: no in-process plugin \"%s\" is compiled into this "
             "host",
             m->name, m->in_process);
    return CP_EINVAL;
  }
  size_t n = l->count;
  if (n == LAUNCHER_MAX_PLUGINS) {
    snprintf(err, errlen, "plugin %s: the launcher has %d plugins already",
             m->name, LAUNCHER_MAX_PLUGINS);
    return CP_ELIMIT;
  }
  const manifest_plugin *all[LAUNCHER_MAX_PLUGINS];
  for (size_t i = 0; i < n; i++) {
    all[i] = l->plugins[i].m;
  }
  all[n] = m;
  char why[LAUNCHER_REASON_MAX + 1] = "";
  int rc = cpi_launcher_check_graph(all, n + 1, why, sizeof why);
  if (rc != 0) {
    snprintf(err, errlen, "plugin %s: %s", m->name, why);
  }
  return rc;
}

/* Counts the new entry in: from here on it is listed and found. */
static int publish(cp_launcher *l, manifest *entry, lplugin **out, char *err,
                   size_t errlen) {
  size_t n = l->count;
  int rc = cpi_lplugin_init(l, n, &entry->plugins[0], err, errlen);
  if (rc != 0) {
    cpi_linstance_free(l->plugins[n].cur);
    memset(&l->plugins[n], 0, sizeof l->plugins[n]);
    return rc;
  }
  if (l->plugins[n].def != NULL) {
    /* Not counted yet: it asks for the connector itself. */
    rc = cpi_linproc_install_connector(l, true);
    if (rc != 0) {
      snprintf(err, errlen, "plugin %s: cannot route to in-process plugins",
               entry->plugins[0].name);
      cpi_linstance_free(l->plugins[n].cur);
      memset(&l->plugins[n], 0, sizeof l->plugins[n]);
      return rc;
    }
  }
  cpi_lobserve_plugin(l, &l->plugins[n]);
  l->added[l->added_count++] = entry;
  l->order[n] = n;
  l->plugins[n].busy = true; /* no remove or replace while it starts */
  l->count = n + 1;
  cpi_lobserve_publish(&l->plugins[n]);
  *out = &l->plugins[n];
  return 0;
}

int cp_launcher_add(cp_launcher *l, const char *entry_json, char *err,
                    size_t errlen) {
  char scratch[8];
  if (err == NULL || errlen == 0) {
    err = scratch;
    errlen = sizeof scratch;
  }
  err[0] = '\0';
  if (l == NULL || entry_json == NULL) {
    snprintf(err, errlen, "NULL argument");
    return CP_EINVAL;
  }
  manifest *entry = NULL;
  int rc = cpi_manifest_parse_entry(entry_json, l->manifest_dir, &entry, err,
                                    errlen);
  if (rc != 0) {
    return rc;
  }
  pthread_mutex_lock(&l->add_mu);
  if (!l->started || atomic_load(&l->stopping)) {
    snprintf(err, errlen, "the launcher is not running");
    rc = CP_ESTATE;
  }
  if (rc == 0) {
    rc = check_entry(l, &entry->plugins[0], err, errlen);
  }
  lplugin *p = NULL;
  if (rc == 0) {
    rc = publish(l, entry, &p, err, errlen);
  }
  if (rc != 0) {
    pthread_mutex_unlock(&l->add_mu);
    cpi_manifest_free(entry);
    return rc;
  }
  cp_log(CP_LOG_INFO, "plugin added", "plugin", p->m->name, CP_LOG_END);
  /* A failed start leaves it listed, FAILED: replace can start it later. */
  rc = cpi_lplugin_start(l, p, err, errlen);
  pthread_mutex_lock(&l->mu);
  p->busy = false;
  pthread_mutex_unlock(&l->mu);
  pthread_mutex_unlock(&l->add_mu);
  return rc;
}
