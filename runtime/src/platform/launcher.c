/* The launcher's public API: creating it from a manifest, starting and
 * stopping its plugins in order, dispensing clients and status. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "platform/launcher_internal.h"
#include "platform/launcher_order.h"

void cp_launcher_options_init(cp_launcher_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->identity_timeout_ms = 10000;
  opts->stop_grace_ms = 5000;
  opts->drain_settle_ms = 250;
  opts->health_interval_ms = 2000;
  opts->health_misses = 3;
}

const char *cp_plugin_run_state_name(cp_plugin_run_state state) {
  switch (state) {
    case CP_PLUGIN_PENDING:
      return "PENDING";
    case CP_PLUGIN_STARTING:
      return "STARTING";
    case CP_PLUGIN_RUNNING:
      return "RUNNING";
    case CP_PLUGIN_BACKOFF:
      return "BACKOFF";
    case CP_PLUGIN_FAILED:
      return "FAILED";
    case CP_PLUGIN_STOPPED:
      return "STOPPED";
    default:
      return "UNKNOWN";
  }
}

static void put_err(char *err, size_t errlen, const char *fmt, const char *a,
                    const char *b) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, fmt, a, b);
  }
}

/* A directory given by the user must already be private: the sockets in it
 * accept anyone who can reach them. */
static int check_private_dir(const char *dir, char *err, size_t errlen) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    put_err(err, errlen, "socket_dir %s: %s", dir,
            errno != 0 ? strerror(errno) : "not a directory");
    return CP_ESYS;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    put_err(err, errlen, "socket_dir %s: %s", dir,
            "must belong to this user with mode 0700");
    return CP_EINVAL;
  }
  return 0;
}

static int make_socket_dir(cp_launcher *l, const char *given, char *err,
                           size_t errlen) {
  if (given != NULL) {
    int rc = check_private_dir(given, err, errlen);
    l->socket_dir = rc == 0 ? strdup(given) : NULL;
    return rc != 0 ? rc : (l->socket_dir == NULL ? CP_ENOMEM : 0);
  }
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] != '/') {
    tmp = "/tmp";
  }
  size_t n = strlen(tmp) + sizeof "/cplugin-XXXXXX";
  l->socket_dir = malloc(n);
  if (l->socket_dir == NULL) {
    return CP_ENOMEM;
  }
  snprintf(l->socket_dir, n, "%s/cplugin-XXXXXX", tmp);
  if (mkdtemp(l->socket_dir) == NULL) { /* mode 0700 */
    put_err(err, errlen, "cannot create a socket directory in %s: %s", tmp,
            strerror(errno));
    return CP_ESYS;
  }
  l->own_socket_dir = true;
  return 0;
}

static int check_options(const cp_launcher_options *o, char *err,
                         size_t errlen) {
  if (o->manifest_path == NULL || o->host_url == NULL ||
      o->host_url[0] == '\0') {
    put_err(err, errlen, "%s%s", "manifest_path and host_url are required", "");
    return CP_EINVAL;
  }
  if (o->in_process_count > 0 && o->in_process == NULL) {
    put_err(err, errlen, "%s%s", "in_process is NULL with a count", "");
    return CP_EINVAL;
  }
  if (o->identity_timeout_ms <= 0 || o->identity_timeout_ms > 600000 ||
      o->stop_grace_ms < 0 || o->stop_grace_ms > 600000 ||
      o->drain_settle_ms < 0 || o->drain_settle_ms > 60000) {
    put_err(err, errlen, "%s%s",
            "identity_timeout_ms must be 1..600000, stop_grace_ms "
            "0..600000 and drain_settle_ms 0..60000",
            "");
    return CP_EINVAL;
  }
  if (o->health_interval_ms < 0 || o->health_interval_ms > 3600000 ||
      o->health_misses < 1 || o->health_misses > 1000) {
    put_err(err, errlen, "%s%s",
            "health_interval_ms must be 0..3600000 and health_misses "
            "1..1000",
            "");
    return CP_EINVAL;
  }
  return 0;
}

const cp_in_process_plugin *cpi_lplugin_find_in_process(const cp_launcher *l,
                                                        const char *name) {
  for (size_t i = 0; i < l->in_process_count; i++) {
    if (strcmp(l->in_process[i].name, name) == 0) {
      return &l->in_process[i];
    }
  }
  return NULL;
}

/* The table is copied: the caller's array may be temporary (what it points
 * to must outlive the launcher, as the header says). */
static int copy_in_process(cp_launcher *l, const cp_launcher_options *o,
                           char *err, size_t errlen) {
  if (o->in_process_count == 0) {
    return 0;
  }
  for (size_t i = 0; i < o->in_process_count; i++) {
    const cp_in_process_plugin *d = &o->in_process[i];
    if (d->name == NULL || d->name[0] == '\0' || d->register_services == NULL) {
      put_err(err, errlen, "%s%s",
              "in_process: every plugin needs a name and register_services",
              "");
      return CP_EINVAL;
    }
  }
  l->in_process = calloc(o->in_process_count, sizeof *l->in_process);
  if (l->in_process == NULL) {
    return CP_ENOMEM;
  }
  memcpy(l->in_process, o->in_process,
         o->in_process_count * sizeof *l->in_process);
  l->in_process_count = o->in_process_count;
  return 0;
}

static int load(cp_launcher *l, const cp_launcher_options *o, char *err,
                size_t errlen) {
  int rc = cpi_manifest_load_file(o->manifest_path, &l->manifest, err, errlen);
  if (rc != 0) {
    return rc;
  }
  const manifest *m = l->manifest;
  for (size_t i = 0; i < m->plugins_count; i++) {
    if (m->plugins[i].in_process != NULL &&
        cpi_lplugin_find_in_process(l, m->plugins[i].in_process) == NULL) {
      put_err(err, errlen,
              "plugin %s: no in-process plugin \"%s\" is compiled into "
              "this host",
              m->plugins[i].name, m->plugins[i].in_process);
      return CP_EINVAL;
    }
  }
  l->plugins = calloc(LAUNCHER_MAX_PLUGINS, sizeof *l->plugins);
  l->order = calloc(LAUNCHER_MAX_PLUGINS, sizeof *l->order);
  char dir[PATH_MAX];
  rc = cpi_manifest_base_dir(o->manifest_path, dir, err, errlen);
  if (rc != 0) {
    return rc;
  }
  l->manifest_dir = strdup(dir);
  if (l->plugins == NULL || l->order == NULL || l->manifest_dir == NULL) {
    return CP_ENOMEM;
  }
  return cpi_launcher_startup_order(m, l->order, err, errlen);
}

int cpi_lplugin_init(cp_launcher *l, size_t index, const manifest_plugin *m,
                     char *err, size_t errlen) {
  lplugin *p = &l->plugins[index];
  p->l = l;
  p->m = m;
  if (m->in_process != NULL) {
    p->def = cpi_lplugin_find_in_process(l, m->in_process);
  }
  p->state = CP_PLUGIN_PENDING;
  snprintf(p->reason, sizeof p->reason, "not started");
  int rc = 0;
  p->cur = cpi_linstance_new(p, NULL, &rc, err, errlen);
  return rc;
}

int cp_launcher_create(cp_launcher **out, cp_host *host,
                       const cp_launcher_options *opts, char *err,
                       size_t errlen) {
  if (err != NULL && errlen > 0) {
    err[0] = '\0';
  }
  if (out == NULL || host == NULL || opts == NULL) {
    put_err(err, errlen, "%s%s", "NULL argument", "");
    return CP_EINVAL;
  }
  *out = NULL;
  int rc = check_options(opts, err, errlen);
  if (rc != 0) {
    return rc;
  }
  cp_launcher *l = calloc(1, sizeof *l);
  if (l == NULL) {
    return CP_ENOMEM;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_mutex_init(&l->publish_mu, NULL);
  pthread_mutex_init(&l->probe_mu, NULL);
  pthread_mutex_init(&l->add_mu, NULL);
  cpi_cond_init_monotonic(&l->probe_cv);
  l->health_interval_ms = opts->health_interval_ms;
  l->health_misses = opts->health_misses;
  atomic_init(&l->stopping, false);
  l->host = host;
  l->reg = cp_host_registry(host);
  l->tokens = cp_host_tokens(host);
  l->identity_timeout_ms = opts->identity_timeout_ms;
  l->stop_grace_ms = opts->stop_grace_ms;
  l->drain_settle_ms = opts->drain_settle_ms;
  l->host_url = strdup(opts->host_url);
  rc = l->host_url == NULL ? CP_ENOMEM : copy_in_process(l, opts, err, errlen);
  if (rc == 0) {
    rc = load(l, opts, err, errlen);
  }
  if (rc == 0) {
    rc = make_socket_dir(l, opts->socket_dir, err, errlen);
  }
  for (size_t i = 0; rc == 0 && i < l->manifest->plugins_count; i++) {
    rc = cpi_lplugin_init(l, i, &l->manifest->plugins[i], err, errlen);
    /* Counted once set up, also when that failed (destroy frees it). */
    l->count = i + 1;
  }
  if (rc == 0) {
    cpi_lobserve_init(l);
    rc = cpi_linproc_install_connector(l, false);
  }
  if (rc != 0) {
    if (rc == CP_ENOMEM && err != NULL && errlen > 0 && err[0] == '\0') {
      put_err(err, errlen, "%s%s", "out of memory", "");
    }
    cp_launcher_destroy(l);
    return rc;
  }
  *out = l;
  return 0;
}

/* The first startup requirement of p that no running plugin provides. */
static const char *unmet_requirement(cp_launcher *l, const lplugin *p) {
  const manifest_plugin *m = p->m;
  for (size_t r = 0; r < m->requires_count; r++) {
    if (!m->requires[r].required_for_startup) {
      continue;
    }
    bool met = false;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->count && !met; i++) {
      const lplugin *q = &l->plugins[i];
      for (size_t s = 0; s < q->m->provides_count && !met; s++) {
        met = q->state == CP_PLUGIN_RUNNING &&
              strcmp(q->m->provides[s].type, m->requires[r].type) == 0;
      }
    }
    pthread_mutex_unlock(&l->mu);
    if (!met) {
      return m->requires[r].type;
    }
  }
  return NULL;
}

int cpi_lplugin_start(cp_launcher *l, lplugin *p, char *err, size_t errlen) {
  int rc;
  const char *unmet = unmet_requirement(l, p);
  if (unmet != NULL) {
    snprintf(err, errlen,
             "plugin %s: not started: no running provider of \"%s\"",
             p->m->name, unmet);
    cpi_lplugin_set(p, CP_PLUGIN_FAILED, err);
    rc = CP_ENOTFOUND;
  } else {
    rc = cpi_linstance_start(p->cur, err, errlen);
    if (rc != 0) {
      /* Whatever the supervisor said last, the start failed. */
      cpi_lplugin_set(p, CP_PLUGIN_FAILED, err);
    }
  }
  if (rc != 0) {
    cp_log(CP_LOG_ERROR, "plugin not started", "plugin", p->m->name, "error",
           err, CP_LOG_END);
  }
  return rc;
}

static void append_line(char *err, size_t errlen, const char *line) {
  if (err == NULL || errlen == 0) {
    return;
  }
  size_t used = strlen(err);
  if (used + 1 < errlen) {
    snprintf(err + used, errlen - used, "%s%s", used > 0 ? "\n" : "", line);
  }
}

int cp_launcher_start(cp_launcher *l, char *err, size_t errlen) {
  if (err != NULL && errlen > 0) {
    err[0] = '\0';
  }
  if (l == NULL || l->started) {
    return l == NULL ? CP_EINVAL : CP_ESTATE;
  }
  int first_rc = 0;
  pthread_mutex_lock(&l->add_mu); /* no add before the manifest's plugins */
  l->started = true;
  for (size_t k = 0; k < l->count && !atomic_load(&l->stopping); k++) {
    char msg[LAUNCHER_REASON_MAX + 1] = "";
    int rc = cpi_lplugin_start(l, &l->plugins[l->order[k]], msg, sizeof msg);
    if (rc != 0) {
      append_line(err, errlen, msg);
      if (first_rc == 0) {
        first_rc = rc;
      }
    }
  }
  pthread_mutex_unlock(&l->add_mu);
  int rc = cpi_lprobe_start(l);
  if (rc != 0 && first_rc == 0) {
    append_line(err, errlen, "cannot start the plugin health probe");
    first_rc = rc;
  }
  return first_rc;
}

void cp_launcher_shutdown(cp_launcher *l) {
  if (l == NULL || l->stopped) {
    return;
  }
  l->stopped = true;
  atomic_store(&l->stopping, true);
  cpi_lprobe_stop(l);
  /* An add under way finishes first (its start is cut short), and none
   * begins after. Before cp_launcher_start nothing runs (and after a
   * failed create the order may be incomplete). */
  pthread_mutex_lock(&l->add_mu);
  for (size_t k = l->started ? l->count : 0; k-- > 0;) {
    lplugin *p = &l->plugins[l->order[k]];
    pthread_mutex_lock(&l->mu);
    linstance *in = p->cur;
    pthread_mutex_unlock(&l->mu);
    if (in != NULL) {
      cpi_linstance_stop(in);
    }
  }
  pthread_mutex_unlock(&l->add_mu);
}

static void remove_socket_dir(cp_launcher *l) {
  /* Each instance removed its socket file when it was freed. */
  if (rmdir(l->socket_dir) != 0) {
    cp_log(CP_LOG_WARN, "cannot remove the plugin socket directory", "path",
           l->socket_dir, "error", strerror(errno), CP_LOG_END);
  }
}

void cp_launcher_destroy(cp_launcher *l) {
  if (l == NULL) {
    return;
  }
  cp_launcher_shutdown(l);
  /* The router stops calling into the launcher before anything goes. */
  cpi_linproc_remove_connector(l);
  for (size_t i = 0; l->plugins != NULL && i < l->count; i++) {
    lplugin *p = &l->plugins[i];
    cpi_linstance_free(p->cur);
    cp_client_destroy(p->client);
    for (size_t c = 0; c < p->old_client_count; c++) {
      cp_client_destroy(p->old_clients[c]);
    }
  }
  if (l->own_socket_dir) {
    remove_socket_dir(l);
  }
  free(l->socket_dir);
  free(l->plugins);
  free(l->order);
  free(l->host_url);
  free(l->in_process);
  free(l->manifest_dir);
  cpi_manifest_free(l->manifest);
  for (size_t i = 0; i < l->added_count; i++) {
    cpi_manifest_free(l->added[i]);
  }
  pthread_mutex_destroy(&l->mu);
  pthread_mutex_destroy(&l->publish_mu);
  pthread_mutex_destroy(&l->probe_mu);
  pthread_mutex_destroy(&l->add_mu);
  pthread_cond_destroy(&l->probe_cv);
  free(l);
}

lplugin *cpi_lplugin_find(cp_launcher *l, const char *name) {
  for (size_t i = 0; l != NULL && name != NULL && i < l->count; i++) {
    if (strcmp(l->plugins[i].m->name, name) == 0) {
      return &l->plugins[i];
    }
  }
  return NULL;
}

int cp_launcher_dispense(cp_launcher *l, const char *name, cp_client **out) {
  lplugin *p = cpi_lplugin_find(l, name);
  if (p == NULL || out == NULL) {
    return out == NULL ? CP_EINVAL : CP_ENOTFOUND;
  }
  pthread_mutex_lock(&l->mu);
  int rc = 0;
  if (p->state != CP_PLUGIN_RUNNING) {
    rc = CP_ESTATE;
  } else if (p->client == NULL ||
             strcmp(p->client_target, p->cur->target) != 0) {
    /* First dispense, or a TCP plugin restarted on another port: the old
     * client stays valid (failing) until destroy. */
    if (p->client != NULL && p->old_client_count == LAUNCHER_MAX_OLD_CLIENTS) {
      rc = CP_ELIMIT;
    }
    cp_client *c = NULL;
    if (rc == 0) {
      rc = p->def != NULL ? cpi_linproc_connect_locked(p->cur, &c)
                          : cp_client_create(&c, p->cur->target, NULL);
    }
    if (rc == 0) {
      if (p->client != NULL) {
        p->old_clients[p->old_client_count++] = p->client;
      }
      p->client = c;
      snprintf(p->client_target, sizeof p->client_target, "%s", p->cur->target);
    }
  }
  *out = rc == 0 ? p->client : NULL;
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static void snapshot(cp_launcher *l, lplugin *p, cp_plugin_status *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", p->m->name);
  pthread_mutex_lock(&l->mu);
  out->state = p->state;
  snprintf(out->runtime_id, sizeof out->runtime_id, "%s", p->cur->runtime_id);
  snprintf(out->endpoint, sizeof out->endpoint, "%s", p->cur->target);
  snprintf(out->reason, sizeof out->reason, "%s", p->reason);
  out->restarts = p->restarts_before;
  /* Under l->mu: a replaced instance is freed only after `cur` moved on
   * (the supervisor's lock nests inside l->mu, never around it). */
  if (p->cur->launched && p->cur->sup != NULL) {
    out->pid = cpi_sup_pid(p->cur->sup);
    out->restarts += cpi_sup_restart_count(p->cur->sup);
  }
  pthread_mutex_unlock(&l->mu);
  out->health = CP_PLUGIN_HEALTH_UNKNOWN;
  if (out->runtime_id[0] != '\0') {
    cp_plugin_health_report *r = malloc(sizeof *r);
    if (r != NULL && cp_registry_get_health(l->reg, out->runtime_id, r) == 0) {
      out->health = r->state;
    }
    free(r);
  }
}

size_t cp_launcher_status(cp_launcher *l, cp_plugin_status *out, size_t cap) {
  if (l == NULL) {
    return 0;
  }
  for (size_t i = 0; out != NULL && i < l->count && i < cap; i++) {
    snapshot(l, &l->plugins[i], &out[i]);
  }
  return l->count;
}

int cp_launcher_plugin_status(cp_launcher *l, const char *name,
                              cp_plugin_status *out) {
  lplugin *p = cpi_lplugin_find(l, name);
  if (p == NULL || out == NULL) {
    return out == NULL ? CP_EINVAL : CP_ENOTFOUND;
  }
  snapshot(l, p, out);
  return 0;
}
