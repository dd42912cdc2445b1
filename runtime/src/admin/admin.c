/* The admin service object: its options and its
 * registration on a server (cplugin/admin.h). */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "cplugin/admin/v1/admin.cplugin.h"
#include "cplugin/auth.h"
#include "cplugin/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"

/* Admin requests are a name and a path: 64 KiB is generous. */
#define ADMIN_MAX_REQUEST_BYTES ((size_t)64 * 1024)
#define ADMIN_PREFIX "/cplugin.admin.v1.Admin/"

void cp_admin_options_init(cp_admin_options *opts) {
  if (opts != NULL) {
    memset(opts, 0, sizeof *opts);
  }
}

static void free_principals(cp_admin *a) {
  for (size_t i = 0; i < a->principal_count; i++) {
    free(a->principals[i]);
  }
  free(a->principals);
}

int cp_admin_create(cp_admin **out, const cp_admin_options *opts) {
  if (out == NULL || opts == NULL || opts->principals == NULL ||
      opts->principal_count == 0) {
    return CP_EINVAL;
  }
  for (size_t i = 0; i < opts->principal_count; i++) {
    const char *p = opts->principals[i];
    if (p == NULL || p[0] == '\0' ||
        strnlen(p, CP_PRINCIPAL_MAX + 1) > CP_PRINCIPAL_MAX) {
      return CP_EINVAL;
    }
  }
  cp_admin *a = calloc(1, sizeof *a);
  if (a == NULL) {
    return CP_ENOMEM;
  }
  a->principals = calloc(opts->principal_count, sizeof *a->principals);
  if (a->principals == NULL || pthread_rwlock_init(&a->launcher_lock, NULL)) {
    free(a->principals);
    free(a);
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < opts->principal_count; i++) {
    a->principals[i] = strdup(opts->principals[i]);
    a->principal_count = i + 1;
    if (a->principals[i] == NULL) {
      cp_admin_destroy(a);
      return CP_ENOMEM;
    }
  }
  a->registry = opts->registry;
  a->rate = opts->rate;
  if (opts->pool != NULL) {
    a->pool = *opts->pool;
  } else {
    cp_worker_pool_options_init(&a->pool);
    /* A change takes seconds and the launcher serializes changes of one
     * plugin anyway: a couple of threads, and a short queue so that an
     * operator's runaway script is told RESOURCE_EXHAUSTED. */
    a->pool.threads = 2;
    a->pool.queue_length = 8;
  }
  a->created_ns = cp_clock_now_ns(NULL);
  *out = a;
  return 0;
}

void cp_admin_destroy(cp_admin *admin) {
  if (admin == NULL) {
    return;
  }
  pthread_rwlock_destroy(&admin->launcher_lock);
  free_principals(admin);
  free(admin);
}

void cp_admin_set_launcher(cp_admin *admin, cp_launcher *launcher) {
  if (admin == NULL) {
    return;
  }
  pthread_rwlock_wrlock(&admin->launcher_lock);
  admin->launcher = launcher;
  pthread_rwlock_unlock(&admin->launcher_lock);
}

int cp_admin_register(cp_admin *admin, cp_server *server) {
  if (admin == NULL || server == NULL || admin->registered) {
    return CP_EINVAL;
  }
  static const cp_cplugin__admin__v1__admin__handlers handlers = {
      .on_status = cpi_admin_on_status,
      .on_restart_plugin = cpi_admin_on_restart,
      .on_remove_plugin = cpi_admin_on_remove,
      .on_replace_plugin = cpi_admin_on_replace,
      .on_list_registry = cpi_admin_on_list_registry,
      .on_list_rate_limits = cpi_admin_on_list_rate_limits,
      .on_watch = cpi_admin_on_watch,
      .on_add_plugin = cpi_admin_on_add,
  };
  int rc = cp_cplugin__admin__v1__admin__register(server, &handlers, admin);
  if (rc == 0) {
    rc =
        cp_server_limit_requests(server, ADMIN_PREFIX, ADMIN_MAX_REQUEST_BYTES);
  }
  /* The changes block on the launcher for up to a plugin's start and stop
   * timeouts: one pool for RestartPlugin, RemovePlugin and ReplacePlugin
   * (the prefix matches exactly those), one for AddPlugin (the launcher
   * runs adds one at a time). Status, ListRegistry and Watch do not
   * block. */
  if (rc == 0) {
    rc = cp_server_run_blocking(server, ADMIN_PREFIX "Re", &admin->pool);
  }
  if (rc == 0) {
    rc = cp_server_run_blocking(server, ADMIN_PREFIX "AddPlugin", &admin->pool);
  }
  if (rc == 0) {
    admin->registered = true;
  }
  return rc;
}
