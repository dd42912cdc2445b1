/* Changing the running set: removing a plugin (drain, then stop) and
 * replacing one blue-green (the new instance serves before the old one is
 * drained, so no call finds nobody). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "platform/launcher_internal.h"

/* Finds `name` and marks it busy (one change at a time). 0, CP_ENOTFOUND
 * or CP_ESTATE with err. */
static int begin(cp_launcher *l, const char *name, lplugin **out, char *err,
                 size_t errlen) {
  err[0] = '\0';
  lplugin *p = *out = cpi_lplugin_find(l, name);
  if (p == NULL) {
    snprintf(err, errlen, "no such plugin");
    return CP_ENOTFOUND;
  }
  pthread_mutex_lock(&l->mu);
  int rc = 0;
  if (!l->started || atomic_load(&l->stopping)) {
    snprintf(err, errlen, "the launcher is not running");
    rc = CP_ESTATE;
  } else if (p->busy) {
    snprintf(err, errlen, "plugin %s: another change is under way", p->m->name);
    rc = CP_ESTATE;
  } else {
    p->busy = true;
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static void end(cp_launcher *l, lplugin *p) {
  pthread_mutex_lock(&l->mu);
  p->busy = false;
  pthread_mutex_unlock(&l->mu);
}

/* The plugins that require one of p's services: they hear it go through
 * their watches; the log says who they are. */
static void log_dependents(cp_launcher *l, const lplugin *p) {
  char names[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < l->count; i++) {
    const manifest_plugin *q = l->plugins[i].m;
    bool depends = false;
    for (size_t r = 0; r < q->requires_count && !depends; r++) {
      for (size_t s = 0; s < p->m->provides_count && !depends; s++) {
        depends = strcmp(q->requires[r].type, p->m->provides[s].type) == 0;
      }
    }
    if (depends && used + strlen(q->name) + 2 < sizeof names) {
      used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                               used > 0 ? "," : "", q->name);
    }
  }
  cp_log(CP_LOG_INFO, "plugin removed", "plugin", p->m->name, "dependents",
         names, CP_LOG_END);
}

int cp_launcher_remove(cp_launcher *l, const char *name, char *err,
                       size_t errlen) {
  char scratch[8];
  if (err == NULL || errlen == 0) {
    err = scratch;
    errlen = sizeof scratch;
  }
  lplugin *p = NULL;
  int rc = begin(l, name, &p, err, errlen);
  if (rc != 0) {
    return rc;
  }
  pthread_mutex_lock(&l->mu);
  linstance *in = p->cur;
  bool live = p->state == CP_PLUGIN_RUNNING || p->state == CP_PLUGIN_STARTING ||
              p->state == CP_PLUGIN_BACKOFF;
  pthread_mutex_unlock(&l->mu);
  if (!live) {
    snprintf(err, errlen, "plugin %s is not running", p->m->name);
    end(l, p);
    return CP_ESTATE;
  }
  cpi_linstance_drain(in);
  cpi_linstance_stop(in);
  cpi_lplugin_set(p, CP_PLUGIN_STOPPED, "removed");
  log_dependents(l, p);
  end(l, p);
  return 0;
}

int cp_launcher_replace(cp_launcher *l, const char *name, const char *path,
                        char *err, size_t errlen) {
  char scratch[8];
  if (err == NULL || errlen == 0) {
    err = scratch;
    errlen = sizeof scratch;
  }
  lplugin *p = NULL;
  int rc = begin(l, name, &p, err, errlen);
  if (rc != 0) {
    return rc;
  }
  linstance *in = cpi_linstance_new(p, path, &rc, err, errlen);
  if (in != NULL) {
    pthread_mutex_lock(&l->mu);
    p->next = in; /* the router may reach it before it is current */
    pthread_mutex_unlock(&l->mu);
    rc = cpi_linstance_start(in, err, errlen);
    if (rc != 0) {
      /* The old instance never stopped serving. */
      pthread_mutex_lock(&l->mu);
      p->next = NULL;
      pthread_mutex_unlock(&l->mu);
      cpi_linstance_free(in);
      in = NULL;
    }
  }
  if (in == NULL) {
    cp_log(CP_LOG_ERROR, "plugin replacement failed", "plugin", p->m->name,
           "error", err, CP_LOG_END);
    end(l, p);
    return rc;
  }
  /* Both serve; from here on only the new one gets new calls. */
  pthread_mutex_lock(&l->mu);
  linstance *old = p->cur;
  p->cur = in;
  p->next = NULL;
  if (in->def != NULL) {
    p->def = in->def;
  }
  if (old->launched && old->sup != NULL) {
    p->restarts_before += cpi_sup_restart_count(old->sup);
  }
  p->state = CP_PLUGIN_RUNNING;
  snprintf(p->reason, sizeof p->reason, "replaced (generation %u)",
           in->generation);
  pthread_mutex_unlock(&l->mu);
  cpi_lobserve_publish(p);
  cp_log(CP_LOG_INFO, "plugin replaced", "plugin", p->m->name, "runtime_id",
         in->runtime_id, "endpoint", in->target, CP_LOG_END);
  cpi_linstance_drain(old);
  cpi_linstance_stop(old);
  cpi_linstance_free(old);
  end(l, p);
  return 0;
}
