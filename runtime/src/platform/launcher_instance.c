/* One process generation of a managed plugin: what its process gets, its
 * supervisor, its start and its stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/plugin_runtime.h"
#include "platform/launcher_internal.h"

static char *format(const char *fmt, const char *a, const char *b) {
  int n = snprintf(NULL, 0, fmt, a, b);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s != NULL) {
    snprintf(s, (size_t)n + 1, fmt, a, b);
  }
  return s;
}

static void free_vector(char **v) {
  for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
    free(v[i]);
  }
  free(v);
}

/* The first instance's socket is <dir>/<name>.sock; a replacement, which
 * runs beside it for a while, gets <dir>/<name>.<generation>.sock. */
static int socket_path(linstance *in, char *err, size_t errlen) {
  const cp_launcher *l = in->p->l;
  const char *name = in->p->m->name;
  char gen[16] = "";
  if (in->generation > 0) {
    snprintf(gen, sizeof gen, ".%u", in->generation);
  }
  char *dir_name = format("%s/%s", l->socket_dir, name);
  in->socket_path =
      dir_name != NULL ? format("%s%s.sock", dir_name, gen) : NULL;
  free(dir_name);
  if (in->socket_path == NULL) {
    return CP_ENOMEM;
  }
  /* sun_path holds 107 bytes and a NUL. */
  if (strlen(in->socket_path) > 107) {
    snprintf(err, errlen, "plugin %s: socket path %s is longer than 107 bytes",
             name, in->socket_path);
    return CP_EINVAL;
  }
  return 0;
}

static int build_env(linstance *in, char *err, size_t errlen) {
  const manifest_plugin *m = in->p->m;
  in->env_set = calloc(m->env_set_count + 4, sizeof *in->env_set);
  in->env_allow = calloc(m->env_allow_count + 1, sizeof *in->env_allow);
  if (in->env_set == NULL || in->env_allow == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < m->env_allow_count; i++) {
    in->env_allow[i] = m->env_allow[i];
  }
  size_t n = 0;
  for (size_t i = 0; i < m->env_set_count; i++) {
    in->env_set[n++] = format("%s=%s", m->env_set[i].name, m->env_set[i].value);
  }
  if (m->transport == MANIFEST_TRANSPORT_UNIX) {
    int rc = socket_path(in, err, errlen);
    if (rc != 0) {
      return rc;
    }
    in->env_set[n++] =
        format("%s=unix:%s", CP_LAUNCH_LISTEN_ENV, in->socket_path);
  } else {
    in->env_set[n++] = format("%s=%s", CP_LAUNCH_LISTEN_ENV, "127.0.0.1:0");
  }
  in->env_set[n++] =
      format("%s=%s", CP_LAUNCH_HOST_URL_ENV, in->p->l->host_url);
  in->env_set[n++] = format("%s=%s", CP_LAUNCH_SECRET_ENV, in->secret);
  for (size_t i = 0; i < n; i++) {
    if (in->env_set[i] == NULL) {
      return CP_ENOMEM;
    }
  }
  return 0;
}

static int build_argv(linstance *in) {
  const manifest_plugin *m = in->p->m;
  in->argv = calloc(m->args_count + 2, sizeof *in->argv);
  if (in->argv == NULL || (in->argv[0] = strdup(in->path)) == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < m->args_count; i++) {
    if ((in->argv[i + 1] = strdup(m->args[i])) == NULL) {
      return CP_ENOMEM;
    }
  }
  return 0;
}

static void on_state(sup *s, sup_state state, const char *reason,
                     const proc_endpoint *endpoint, void *user) {
  (void)s;
  cpi_lplugin_on_state(user, state, reason, endpoint);
}

/* The instance may register only what its manifest entry provides: its
 * principal gets exactly those types. */
static int allow_manifest_types(linstance *in, char *err, size_t errlen) {
  const manifest_plugin *m = in->p->m;
  if (in->generation == 0) {
    snprintf(in->principal, sizeof in->principal, "launch:%s", m->name);
  } else {
    snprintf(in->principal, sizeof in->principal, "launch:%s/%u", m->name,
             in->generation);
  }
  const char *types[MANIFEST_MAX_SERVICES];
  for (size_t i = 0; i < m->provides_count; i++) {
    types[i] = m->provides[i].type;
  }
  int rc =
      cp_registry_allow(in->p->l->reg, in->principal, types, m->provides_count);
  if (rc != 0) {
    snprintf(err, errlen, "plugin %s: cannot set its allow-list: %s", m->name,
             cp_strerror(rc));
  }
  return rc;
}

static int prepare(linstance *in, char *err, size_t errlen) {
  int rc = allow_manifest_types(in, err, errlen);
  if (rc != 0) {
    return rc;
  }
  if (cpi_random_token(in->secret) != 0) {
    snprintf(err, errlen, "plugin %s: no random source for its secret",
             in->p->m->name);
    return CP_ESYS;
  }
  rc = build_argv(in);
  if (rc == 0) {
    rc = build_env(in, err, errlen);
  }
  if (rc != 0) {
    return rc;
  }
  const manifest_plugin *m = in->p->m;
  sup_options o;
  cpi_sup_options_init(&o);
  o.proc.name = m->name;
  o.proc.path = in->path;
  o.proc.argv = (const char *const *)in->argv;
  o.proc.env_allow = in->env_allow;
  o.proc.env_set = (const char *const *)in->env_set;
  o.proc.ready_timeout_ms = (int)m->ready_timeout_ms;
  o.restart = m->restart;
  o.on_state = on_state;
  o.user = in;
  return cpi_sup_create(&o, &in->sup, err, errlen);
}

linstance *cpi_linstance_new(lplugin *p, const char *path, int *rc, char *err,
                             size_t errlen) {
  linstance *in = calloc(1, sizeof *in);
  if (in == NULL) {
    *rc = CP_ENOMEM;
    return NULL;
  }
  in->p = p;
  atomic_init(&in->starting, false);
  pthread_mutex_lock(&p->l->mu);
  in->generation = p->generations++;
  pthread_mutex_unlock(&p->l->mu);
  if (p->def != NULL) {
    /* In process: no executable, environment or supervisor; `path` names
     * another compiled-in plugin to run in its place. */
    in->def = path != NULL ? cpi_lplugin_find_in_process(p->l, path) : p->def;
    if (in->def == NULL) {
      snprintf(err, errlen,
               "plugin %s: no in-process plugin \"%s\" is compiled into this "
               "host",
               p->m->name, path);
      *rc = CP_ENOTFOUND;
    } else {
      *rc = allow_manifest_types(in, err, errlen);
    }
  } else {
    in->path = strdup(path != NULL ? path : p->m->path);
    *rc = in->path == NULL ? CP_ENOMEM : prepare(in, err, errlen);
  }
  if (*rc != 0) {
    if (err[0] == '\0') {
      snprintf(err, errlen, "plugin %s: %s", p->m->name, cp_strerror(*rc));
    }
    cpi_linstance_free(in);
    return NULL;
  }
  return in;
}

int cpi_linstance_start(linstance *in, char *err, size_t errlen) {
  if (in->p->def != NULL) {
    return cpi_linproc_start(in, err, errlen);
  }
  in->start_rc = 0;
  in->start_err[0] = '\0';
  pthread_mutex_lock(&in->p->l->mu);
  in->launched = true;
  pthread_mutex_unlock(&in->p->l->mu);
  atomic_store(&in->starting, true);
  int rc = cpi_sup_start(in->sup, NULL, err, errlen);
  atomic_store(&in->starting, false);
  if (rc == 0 && in->start_rc != 0) {
    rc = in->start_rc;
    snprintf(err, errlen, "plugin %s: %s", in->p->m->name, in->start_err);
    (void)cpi_sup_stop(in->sup, 0);
  }
  return rc;
}

static bool ask_shutdown(void *user) {
  linstance *in = user;
  char target[LAUNCHER_TARGET_MAX];
  pthread_mutex_lock(&in->p->l->mu);
  bool identified = in->runtime_id[0] != '\0';
  snprintf(target, sizeof target, "%s", in->target);
  pthread_mutex_unlock(&in->p->l->mu);
  return identified &&
         cpi_lidentity_request_shutdown(in, target, in->p->l->stop_grace_ms);
}

void cpi_linstance_drain(linstance *in) {
  cp_launcher *l = in->p->l;
  char id[CP_RUNTIME_ID_MAX + 1];
  pthread_mutex_lock(&l->mu);
  snprintf(id, sizeof id, "%s", in->runtime_id);
  pthread_mutex_unlock(&l->mu);
  if (id[0] == '\0' || cp_registry_drain_runtime(l->reg, id) != 0 ||
      l->drain_settle_ms == 0) {
    return;
  }
  cpi_sleep_ns(l->drain_settle_ms * 1000000);
}

void cpi_linstance_stop(linstance *in) {
  if (in->p->def != NULL) {
    cpi_linproc_stop(in);
    return;
  }
  cp_launcher *l = in->p->l;
  char id[CP_RUNTIME_ID_MAX + 1];
  pthread_mutex_lock(&l->mu);
  bool launched = in->launched;
  snprintf(id, sizeof id, "%s", in->runtime_id);
  pthread_mutex_unlock(&l->mu);
  if (!launched) {
    return;
  }
  /* No new calls are routed to it; those under way finish in its drain. */
  if (id[0] != '\0') {
    (void)cp_registry_drain_runtime(l->reg, id);
  }
  (void)cpi_sup_stop_asking(in->sup, ask_shutdown, in, (int)l->stop_grace_ms);
}

void cpi_linstance_free(linstance *in) {
  if (in == NULL) {
    return;
  }
  if (in->p->def != NULL) {
    cpi_linproc_free(in);
  }
  cpi_sup_destroy(in->sup);
  if (in->socket_path != NULL) {
    /* Left behind by a process killed with a signal. */
    (void)unlink(in->socket_path);
  }
  free(in->socket_path);
  free(in->path);
  free_vector(in->argv);
  free_vector(in->env_set);
  free(in->env_allow);
  memset(in->secret, 0, sizeof in->secret);
  free(in);
}
