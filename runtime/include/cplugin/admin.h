/* cplugin — the admin service (cplugin.admin.v1.Admin,
 * proto/cplugin/admin/v1/admin.proto): what a host runs, for its operator
 * (tools/cpluginctl: status, plugins, registry, watch).
 *
 *   Status          host version and uptime, every managed plugin
 *   RestartPlugin   cp_launcher_replace with the manifest's executable: a
 *                   fresh process under a new runtime identity, blue-green
 *                   (the old one serves until the new one is HEALTHY)
 *   RemovePlugin    cp_launcher_remove
 *   ReplacePlugin   cp_launcher_replace with the request's path ("" = the
 *                   manifest's); also starts a removed plugin again
 *   ListRegistry    every registration (cp_registry_list)
 *   Watch           the registry's WatchService events for one type, from
 *                   the registry's own watch machinery (cp_registry_watch)
 *
 * Setting up (the launcher needs a started host, methods must be added
 * before the server starts, hence two steps):
 *
 *   cp_auth_add_api_key(cp_host_auth(host), key, "ops");
 *   const char *admins[] = {"api-key:ops"};
 *   cp_admin_options ao;
 *   cp_admin_options_init(&ao);
 *   ao.registry = cp_host_registry(host);
 *   ao.principals = admins;
 *   ao.principal_count = 1;
 *   cp_admin_create(&admin, &ao);
 *   cp_admin_register(admin, cp_host_server(host));  // before cp_host_start
 *   ... cp_host_start, cp_launcher_create, cp_launcher_start ...
 *   cp_admin_set_launcher(admin, launcher);
 *   ...
 *   cp_admin_set_launcher(admin, NULL);   // before cp_launcher_shutdown
 *   cp_launcher_destroy(launcher);
 *   cp_host_shutdown(host, ...);
 *   cp_admin_destroy(admin);              // after the server shut down
 *
 * Authentication and authorization. The server's auth interceptor (the
 * host's cp_auth) authenticates Admin calls like any other method with the
 * default rule (required): no credentials is UNAUTHENTICATED there. The
 * handlers then demand a principal (cp_call_principal: "api-key:<name>",
 * "mtls:<CN>", "<validator>:<identity>") listed in options.principals;
 * anything else, a plugin's runtime token included (a token is not a
 * principal, even when its handshake presented an admin key), is
 * PERMISSION_DENIED. A call that reaches a handler without any identity (a
 * server without the interceptor, or an open rule) is UNAUTHENTICATED.
 * Admin principals are fully trusted: ReplacePlugin runs the executable the
 * request names, on the host, with the plugin's manifest environment, and
 * AddPlugin whatever its entry says (cp_launcher_add).
 *
 * Errors of the plugin methods: no launcher set → FAILED_PRECONDITION "no
 * managed plugins"; the launcher's CP_ENOTFOUND (no such plugin, or no
 * executable at the path) → NOT_FOUND, CP_ESTATE →
 * FAILED_PRECONDITION, CP_EINVAL → INVALID_ARGUMENT (also an AddPlugin
 * entry whose name is not the request's), CP_EEXIST → ALREADY_EXISTS,
 * CP_ENOMEM and
 * CP_ELIMIT → RESOURCE_EXHAUSTED, any other (a new process that failed to
 * start; the old one still serves, an added one stays FAILED) → ABORTED;
 * the message is the launcher's error text. Restart, Remove, Replace and
 * Add block for seconds: they run on worker pools of their own
 * (cp_server_run_blocking; one for Add, one for the others), never on a
 * completion-queue thread.
 *
 * Thread safety: create, register and destroy from one thread;
 * cp_admin_set_launcher from any thread (it waits for the calls using the
 * previous launcher). */
#ifndef CPLUGIN_ADMIN_H
#define CPLUGIN_ADMIN_H

#include <stddef.h>

#include "cplugin/export.h"
#include "cplugin/launcher.h"
#include "cplugin/ratelimit_policy.h"
#include "cplugin/registry.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_admin cp_admin;

typedef struct cp_admin_options {
  /* ListRegistry and Watch read it (NULL: they answer FAILED_PRECONDITION).
   * Not owned; it must outlive the admin service's server. */
  cp_registry *registry;
  /* ListRateLimits reads it (NULL: FAILED_PRECONDITION "no rate limits");
   * a host's is cp_host_rate_policy. Not owned, as `registry`. */
  cp_rate_policy *rate;
  /* The principals allowed to call (at least one; copied), exactly as
   * cp_call_principal writes them. */
  const char *const *principals;
  size_t principal_count;
  /* The pools of the blocking methods, each (NULL: 2 threads, 8 waiting;
   * more are refused RESOURCE_EXHAUSTED). Copied. */
  const cp_worker_pool_options *pool;
} cp_admin_options;

CP_API void cp_admin_options_init(cp_admin_options *opts);

/* Returns 0 and *out, CP_EINVAL (no principal, an empty one or one over
 * CP_PRINCIPAL_MAX bytes) or CP_ENOMEM. */
CP_API int cp_admin_create(cp_admin **out, const cp_admin_options *opts);

/* Adds the Admin methods to `server` (before cp_server_start), caps their
 * requests at 64 KiB and puts Restart, Remove, Replace and Add on the
 * worker pools. Once. Returns 0 or an error of cp_server_add_method,
 * cp_server_limit_requests or cp_server_run_blocking. */
CP_API int cp_admin_register(cp_admin *admin, cp_server *server);

/* Sets the launcher the plugin methods act on (NULL: none). Waits until no
 * call uses the previous one, so after it returns the previous launcher may
 * be stopped and destroyed. The launcher must be started. */
CP_API void cp_admin_set_launcher(cp_admin *admin, cp_launcher *launcher);

/* Frees the service; call after its server shut down. NULL allowed. */
CP_API void cp_admin_destroy(cp_admin *admin);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_ADMIN_H */
