/* The admin service's parts (internal):
 *   admin.c           the object, registration
 *   admin_authorize.c who may call
 *   admin_plugins.c   Status and the plugin changes (the launcher)
 *   admin_registry.c  ListRegistry and Watch (the registry)
 *   admin_limits.c    ListRateLimits (the rate policy) */
#ifndef CPLUGIN_ADMIN_ADMIN_INTERNAL_H
#define CPLUGIN_ADMIN_ADMIN_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "cplugin/admin.h"
#include "cplugin/admin/v1/admin.pb-c.h"
#include "cplugin/tokens.h"

struct cp_admin {
  cp_registry *registry;
  cp_rate_policy *rate;
  char **principals;
  size_t principal_count;
  cp_worker_pool_options pool;
  int64_t created_ns; /* monotonic, for the uptime */
  /* Guards `launcher`: read-held by each plugin call for as long as it uses
   * the launcher, so cp_admin_set_launcher can wait them out. */
  pthread_rwlock_t launcher_lock;
  cp_launcher *launcher;
  bool registered;
};

/* OK when the call's principal is an admin's (written to `principal`);
 * otherwise the call's error (UNAUTHENTICATED, PERMISSION_DENIED). */
cp_status_code cpi_admin_authorize(cp_admin *admin, cp_call *call,
                                   char principal[CP_PRINCIPAL_MAX + 1]);

/* Handlers (user = the admin). */
cp_status_code cpi_admin_on_status(cp_call *call,
                                   const Cplugin__Admin__V1__StatusRequest *req,
                                   Cplugin__Admin__V1__StatusResponse *resp,
                                   void *user);
cp_status_code cpi_admin_on_restart(
    cp_call *call, const Cplugin__Admin__V1__RestartPluginRequest *req,
    Cplugin__Admin__V1__RestartPluginResponse *resp, void *user);
cp_status_code cpi_admin_on_remove(
    cp_call *call, const Cplugin__Admin__V1__RemovePluginRequest *req,
    Cplugin__Admin__V1__RemovePluginResponse *resp, void *user);
cp_status_code cpi_admin_on_replace(
    cp_call *call, const Cplugin__Admin__V1__ReplacePluginRequest *req,
    Cplugin__Admin__V1__ReplacePluginResponse *resp, void *user);
cp_status_code cpi_admin_on_add(cp_call *call,
                                const Cplugin__Admin__V1__AddPluginRequest *req,
                                Cplugin__Admin__V1__AddPluginResponse *resp,
                                void *user);
cp_status_code cpi_admin_on_list_registry(
    cp_call *call, const Cplugin__Admin__V1__ListRegistryRequest *req,
    Cplugin__Admin__V1__ListRegistryResponse *resp, void *user);
cp_status_code cpi_admin_on_list_rate_limits(
    cp_call *call, const Cplugin__Admin__V1__ListRateLimitsRequest *req,
    Cplugin__Admin__V1__ListRateLimitsResponse *resp, void *user);
cp_status_code cpi_admin_on_watch(cp_call *call,
                                  const Cplugin__Admin__V1__WatchRequest *req,
                                  cp_stream *stream, void *user);

#endif /* CPLUGIN_ADMIN_ADMIN_INTERNAL_H */
