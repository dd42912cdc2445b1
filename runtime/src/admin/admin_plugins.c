/* Status and the plugin changes: the launcher's view and its remove and
 * replace, behind the admin check. The launcher pointer is read-held for
 * as long as a call uses it (cp_admin_set_launcher waits those out). */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "cplugin/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/version.h"
#include "platform/manifest.h"

/* A path for the launcher to exec; longer is not a file name. */
#define ADMIN_PATH_MAX 4096

/* The launcher, read-held until launcher_put; NULL (nothing held) when
 * none is set. */
static cp_launcher *launcher_get(cp_admin *a) {
  pthread_rwlock_rdlock(&a->launcher_lock);
  cp_launcher *l = a->launcher;
  if (l == NULL) {
    pthread_rwlock_unlock(&a->launcher_lock);
  }
  return l;
}

static void launcher_put(cp_admin *a) {
  pthread_rwlock_unlock(&a->launcher_lock);
}

static cp_status_code no_launcher(cp_call *call) {
  return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                       "no managed plugins");
}

static Cplugin__Admin__V1__PluginStatus *plugin_message(
    cp_call *call, const cp_plugin_status *st) {
  Cplugin__Admin__V1__PluginStatus *m = cp_call_alloc(call, sizeof *m);
  if (m == NULL) {
    return NULL;
  }
  cplugin__admin__v1__plugin_status__init(m);
  m->name = cp_call_strdup(call, st->name);
  m->runtime_id = cp_call_strdup(call, st->runtime_id);
  m->endpoint = cp_call_strdup(call, st->endpoint);
  m->reason = cp_call_strdup(call, st->reason);
  if (m->name == NULL || m->runtime_id == NULL || m->endpoint == NULL ||
      m->reason == NULL) {
    return NULL;
  }
  /* The wire enum is the C one shifted past UNSPECIFIED. */
  m->state = (Cplugin__Admin__V1__PluginState)((int)st->state + 1);
  m->pid = (int32_t)st->pid;
  m->restarts = st->restarts;
  m->health = (Cplugin__Admin__V1__Health)st->health;
  return m;
}

/* Fills resp->plugins from a snapshot of the launcher. */
static cp_status_code add_plugins(cp_call *call, cp_launcher *l,
                                  Cplugin__Admin__V1__StatusResponse *resp) {
  size_t n = cp_launcher_status(l, NULL, 0);
  if (n == 0) {
    return CP_STATUS_OK;
  }
  cp_plugin_status *st = calloc(n, sizeof *st);
  if (st == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  /* The manifest's plugins are fixed at create: the count does not change
   * between the two calls, but never trust more than was written. */
  size_t got = cp_launcher_status(l, st, n);
  if (got > n) {
    got = n;
  }
  resp->plugins = cp_call_alloc(call, got * sizeof *resp->plugins);
  cp_status_code code =
      resp->plugins != NULL ? CP_STATUS_OK : CP_STATUS_RESOURCE_EXHAUSTED;
  for (size_t i = 0; code == CP_STATUS_OK && i < got; i++) {
    resp->plugins[i] = plugin_message(call, &st[i]);
    if (resp->plugins[i] == NULL) {
      code = CP_STATUS_RESOURCE_EXHAUSTED;
    }
  }
  free(st);
  if (code != CP_STATUS_OK) {
    return cp_call_error(call, code, "out of memory");
  }
  resp->n_plugins = got;
  return CP_STATUS_OK;
}

cp_status_code cpi_admin_on_status(cp_call *call,
                                   const Cplugin__Admin__V1__StatusRequest *req,
                                   Cplugin__Admin__V1__StatusResponse *resp,
                                   void *user) {
  (void)req;
  cp_admin *a = user;
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = cpi_admin_authorize(a, call, principal);
  if (code != CP_STATUS_OK) {
    return code;
  }
  Cplugin__Admin__V1__HostInfo *host = cp_call_alloc(call, sizeof *host);
  if (host == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  cplugin__admin__v1__host_info__init(host);
  host->version = (char *)cp_version();
  int64_t up = cp_clock_now_ns(NULL) - a->created_ns;
  host->uptime_ms = up > 0 ? (uint64_t)(up / 1000000) : 0;
  resp->host = host;
  /* Without a launcher the host still answers: it just manages nothing. */
  cp_launcher *l = launcher_get(a);
  if (l != NULL) {
    code = add_plugins(call, l, resp);
    launcher_put(a);
  }
  return code;
}

static cp_status_code check_name(cp_call *call, const char *name) {
  if (name[0] == '\0' ||
      strnlen(name, CP_LAUNCHER_NAME_MAX + 1) > CP_LAUNCHER_NAME_MAX) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "name: 1..%d bytes",
                         CP_LAUNCHER_NAME_MAX);
  }
  return CP_STATUS_OK;
}

static cp_status_code launcher_error(cp_call *call, int rc, const char *err) {
  cp_status_code code;
  switch (rc) {
    case CP_ENOTFOUND:
      code = CP_STATUS_NOT_FOUND;
      break;
    case CP_ESTATE:
      code = CP_STATUS_FAILED_PRECONDITION;
      break;
    case CP_EINVAL:
      code = CP_STATUS_INVALID_ARGUMENT;
      break;
    case CP_EEXIST:
      code = CP_STATUS_ALREADY_EXISTS;
      break;
    case CP_ENOMEM:
    case CP_ELIMIT:
      code = CP_STATUS_RESOURCE_EXHAUSTED;
      break;
    default:
      /* A new process failed to start; the old one (if any) serves on. */
      code = CP_STATUS_ABORTED;
      break;
  }
  return cp_call_error(call, code, "%s",
                       err[0] != '\0' ? err : cp_strerror(rc));
}

typedef enum change_kind {
  CHANGE_REMOVE,
  CHANGE_REPLACE,
  CHANGE_ADD
} change_kind;

/* An added plugin's entry must be for the plugin the operator named (the
 * launcher checks everything else). */
static cp_status_code check_entry(cp_call *call, const char *name,
                                  const char *entry) {
  manifest *m = NULL;
  char err[512] = "";
  /* Any base directory: only the name is read here. */
  int rc = cpi_manifest_parse_entry(entry, "/", &m, err, sizeof err);
  if (rc != 0) {
    return cp_call_error(call,
                         rc == CP_ENOMEM ? CP_STATUS_RESOURCE_EXHAUSTED
                                         : CP_STATUS_INVALID_ARGUMENT,
                         "entry: %s", err);
  }
  cp_status_code code = CP_STATUS_OK;
  if (strcmp(m->plugins[0].name, name) != 0) {
    code = cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "entry: its name is \"%s\", not \"%s\"",
                         m->plugins[0].name, name);
  }
  cpi_manifest_free(m);
  return code;
}

/* The changes: check, then the launcher, logged with who asked. `arg` is
 * the replacement's path (NULL: the manifest's) or the added entry. */
static cp_status_code change(cp_admin *a, cp_call *call, change_kind kind,
                             const char *what, const char *name,
                             const char *arg) {
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = cpi_admin_authorize(a, call, principal);
  if (code == CP_STATUS_OK) {
    code = check_name(call, name);
  }
  if (code == CP_STATUS_OK && kind == CHANGE_REPLACE && arg != NULL &&
      strnlen(arg, ADMIN_PATH_MAX + 1) > ADMIN_PATH_MAX) {
    code = cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "path: at most %d bytes", ADMIN_PATH_MAX);
  }
  if (code == CP_STATUS_OK && kind == CHANGE_ADD) {
    code = check_entry(call, name, arg);
  }
  if (code != CP_STATUS_OK) {
    return code;
  }
  cp_launcher *l = launcher_get(a);
  if (l == NULL) {
    return no_launcher(call);
  }
  cp_log(CP_LOG_INFO, "admin change", "action", what, "plugin", name,
         "principal", principal, CP_LOG_END);
  char err[1024] = "";
  int rc;
  switch (kind) {
    case CHANGE_REMOVE:
      rc = cp_launcher_remove(l, name, err, sizeof err);
      break;
    case CHANGE_REPLACE:
      rc = cp_launcher_replace(l, name, arg, err, sizeof err);
      break;
    default:
      rc = cp_launcher_add(l, arg, err, sizeof err);
      break;
  }
  launcher_put(a);
  if (rc != 0) {
    cp_log(CP_LOG_WARN, "admin change failed", "action", what, "plugin", name,
           "error", err, CP_LOG_END);
    return launcher_error(call, rc, err);
  }
  return CP_STATUS_OK;
}

cp_status_code cpi_admin_on_restart(
    cp_call *call, const Cplugin__Admin__V1__RestartPluginRequest *req,
    Cplugin__Admin__V1__RestartPluginResponse *resp, void *user) {
  (void)resp;
  /* The manifest's executable again, blue-green (admin.h). */
  return change(user, call, CHANGE_REPLACE, "restart", req->name, NULL);
}

cp_status_code cpi_admin_on_remove(
    cp_call *call, const Cplugin__Admin__V1__RemovePluginRequest *req,
    Cplugin__Admin__V1__RemovePluginResponse *resp, void *user) {
  (void)resp;
  return change(user, call, CHANGE_REMOVE, "remove", req->name, NULL);
}

cp_status_code cpi_admin_on_replace(
    cp_call *call, const Cplugin__Admin__V1__ReplacePluginRequest *req,
    Cplugin__Admin__V1__ReplacePluginResponse *resp, void *user) {
  (void)resp;
  return change(user, call, CHANGE_REPLACE, "replace", req->name,
                req->path[0] != '\0' ? req->path : NULL);
}

cp_status_code cpi_admin_on_add(cp_call *call,
                                const Cplugin__Admin__V1__AddPluginRequest *req,
                                Cplugin__Admin__V1__AddPluginResponse *resp,
                                void *user) {
  cp_status_code code =
      change(user, call, CHANGE_ADD, "add", req->name, req->entry);
  if (code != CP_STATUS_OK) {
    return code;
  }
  /* Its status as it runs now (still listed: plugins are never dropped). */
  cp_launcher *l = launcher_get(user);
  if (l == NULL) {
    return no_launcher(call);
  }
  cp_plugin_status st;
  int rc = cp_launcher_plugin_status(l, req->name, &st);
  launcher_put(user);
  resp->plugin = rc == 0 ? plugin_message(call, &st) : NULL;
  if (resp->plugin == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return CP_STATUS_OK;
}
