/* cplugin — self-registering plugins (connect-plugin-go's "unmanaged"
 * model): a plugin started with HOST_URL handshakes with the host, serves its
 * own services on its own endpoint, registers them with `base_url` metadata,
 * reports its health, and watches the services it depends on.
 *
 *   cp_service_decl provides[] = {
 *       {"storage", "1.0.0", "/storage.v1.Storage/"}};
 *   cp_service_dep requires[] = {{"logger", "1.0.0", true, true}};
 *   cp_plugin_runtime_options o;
 *   cp_plugin_runtime_options_init(&o);
 *   o.self_id = "storage";
 *   o.base_url = "127.0.0.1:7001";            // where this plugin serves
 *   o.provides = provides; o.provides_count = 1;
 *   o.requires = requires; o.requires_count = 1;
 *   cp_plugin_runtime *rt;
 *   cp_status st;
 *   cp_plugin_runtime_start(&rt, &o, &st);   // HOST_URL from the environment
 *   cp_client *logger;
 *   cp_plugin_runtime_route(rt, "logger", &logger);  // calls routed by host
 *   ...
 *   cp_plugin_runtime_stop(rt);
 *
 * Health: HEALTHY while every dependency marked required_for_startup has an
 * available provider, DEGRADED (naming the missing ones) otherwise; reported
 * at start and whenever a watched dependency changes.
 *
 * Thread safety: start and stop from one thread; the accessors and routed
 * clients may be used from any thread while the runtime runs.
 */
#ifndef CPLUGIN_PLUGIN_RUNTIME_H
#define CPLUGIN_PLUGIN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/handshake.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Environment variable naming the host (connect-plugin-go's name). */
#define CP_HOST_URL_ENV "HOST_URL"

typedef void (*cp_dependency_fn)(const char *service_type, bool available,
                                 const char *provider_id, void *user);

typedef struct cp_plugin_runtime_options {
  /* The host: "host:port", "unix:/path" or "http://host:port"; NULL = the
   * HOST_URL environment variable. */
  const char *host_url;
  const char *self_id; /* required */
  const char *self_version;
  /* Where this plugin serves; registered as metadata base_url. Required
   * when provides_count > 0. */
  const char *base_url;
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
  const char *magic_cookie_key;
  const char *magic_cookie_value;
  int32_t app_version;
  const cp_tls_client_options *tls;
  /* Sent as x-api-key on the handshake only, so that the runtime identity
   * carries the key's principal (the host's allow-lists key on it); NULL =
   * none. A secret: never logged. */
  const char *api_key;
  /* Told when a watched dependency becomes available or unavailable; runs on
   * the runtime's watch thread. */
  cp_dependency_fn on_dependency;
  void *user;
} cp_plugin_runtime_options;

void cp_plugin_runtime_options_init(cp_plugin_runtime_options *opts);

typedef struct cp_plugin_runtime cp_plugin_runtime;

/* Handshakes (with self_id), registers every provided service, starts
 * watching the dependencies and reports health. Returns 0; CP_EINVAL for bad
 * options (no host URL, no self_id); CP_ERPC with `status` filled when the
 * host refused a step (the runtime is then torn down). */
int cp_plugin_runtime_start(cp_plugin_runtime **out,
                            const cp_plugin_runtime_options *opts,
                            cp_status *status);

/* The runtime ID the host issued. */
const char *cp_plugin_runtime_id(const cp_plugin_runtime *rt);

/* The authenticated channel to the host (registry, lifecycle, discovery). */
cp_client *cp_plugin_runtime_host(cp_plugin_runtime *rt);

/* A client whose calls the host routes to a provider of `service_type` (the
 * host's selection strategy picks it); use it with the generated stubs of
 * that service. Owned by the runtime. Returns 0, CP_EINVAL, CP_ELIMIT (at
 * most 32 routes) or CP_ENOMEM. */
int cp_plugin_runtime_route(cp_plugin_runtime *rt, const char *service_type,
                            cp_client **out);

/* Whether a watched dependency currently has an available provider. */
bool cp_plugin_runtime_dependency_available(cp_plugin_runtime *rt,
                                            const char *service_type);

/* Unregisters the services, stops watching, closes. NULL allowed. */
void cp_plugin_runtime_stop(cp_plugin_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_PLUGIN_RUNTIME_H */
