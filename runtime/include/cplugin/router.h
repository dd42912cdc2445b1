/* cplugin — the host's router: plugin-to-plugin calls go through the host.
 *
 * A plugin calls a service another plugin provides on its own channel to the
 * host; the host authenticates the caller (the auth interceptor runs first),
 * resolves the provider, refuses an unhealthy one, and forwards the call as
 * raw bytes (cp_call_forward) to the provider's endpoint. The caller's
 * runtime ID travels to the provider in `x-plugin-caller-id`; the caller's
 * token never does. Deadlines and cancellation propagate both ways; a failed
 * or vanished provider is UNAVAILABLE.
 *
 * What is forwarded: only methods under the endpoint path the provider
 * registered, and never the framework's own services (packages
 * "connectplugin." and "grpc.": plugin control, identity, registry, health),
 * which are PERMISSION_DENIED.
 *
 * Naming the target — either form works:
 *   1. path prefix, as connect-plugin-go's endpoint_url:
 *        :path = "/services/<type>/<provider_id>/<package.Service>/<Method>"
 *      (endpoint_url from DiscoverService + the method's own path);
 *   2. metadata, with the method's own path (what generated stubs send):
 *        :path = "/<package.Service>/<Method>",
 *        x-cplugin-service-type: <type>
 *        x-cplugin-provider-id: <provider_id>   (optional: omitted = the
 *                                                host's selection strategy)
 * The provider receives the method's own path in both cases.
 *
 * Thread safety: configure before cp_router_register; afterwards it serves
 * any number of calls from the server's threads.
 */
#ifndef CPLUGIN_ROUTER_H
#define CPLUGIN_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/client.h"
#include "cplugin/server.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_MD_CALLER_ID "x-plugin-caller-id"
#define CP_MD_ROUTE_SERVICE_TYPE "x-cplugin-service-type"
#define CP_MD_ROUTE_PROVIDER_ID "x-cplugin-provider-id"
#define CP_ROUTE_PREFIX "/services/"

/* The longest fields of a route target, in bytes without the NUL: those
 * the registry accepts (CP_REGISTRY_OWNER_MAX, CP_REGISTRY_VALUE_MAX,
 * CP_REGISTRY_PATH_MAX in cplugin/registry.h; the host checks at compile
 * time that they agree), so every registered provider fits. */
#define CP_ROUTE_PROVIDER_ID_MAX 256
#define CP_ROUTE_ADDRESS_MAX 4096
#define CP_ROUTE_ENDPOINT_PATH_MAX 256

/* Where a provider serves, as the resolver reports it. */
typedef struct cp_route_target {
  char provider_id[CP_ROUTE_PROVIDER_ID_MAX + 1];
  /* "host:port", "unix:/path", or a URL "http://host:port" / "https://..."
   * (https uses the router's TLS options). */
  char address[CP_ROUTE_ADDRESS_MAX + 1];
  /* The endpoint path the provider registered: only methods under it are
   * forwarded ("/pkg.Service/" covers that service's methods, "/" every
   * method). Empty = nothing is forwarded (PERMISSION_DENIED). */
  char endpoint_path[CP_ROUTE_ENDPOINT_PATH_MAX + 1];
  bool healthy;
} cp_route_target;

/* Finds the provider of `service_type`: a given provider_id, or the host's
 * choice when provider_id is NULL. Returns 0, CP_ENOTFOUND. Called on server
 * threads: must not block. */
typedef int (*cp_router_resolve_fn)(const char *service_type,
                                    const char *provider_id,
                                    cp_route_target *out, void *user);

typedef struct cp_router_options {
  cp_router_resolve_fn resolve; /* required */
  void *resolve_user;
  /* Distinct provider addresses kept connected (default 256). When a new
   * address needs a slot in a full table, the least recently used
   * connection is closed (calls already forwarded on it finish). 0 also
   * means 256. */
  size_t max_targets;
  /* TLS for https:// provider addresses; NULL = refuse them. The struct is
   * copied, but the paths or PEM strings it points to must stay valid while
   * the router lives (they are read when a provider is first called). */
  const cp_tls_client_options *tls;
  /* Largest message either leg of a routed call carries; 0 = the client
   * default, 4 MiB; at most INT32_MAX (gRPC's limit), else CP_EINVAL. */
  size_t max_message_bytes;
  /* Deadline of a forwarded call when the caller set none (default 30 s),
   * and the longest one forwarded whatever the caller asked (default 5 min):
   * a routed call never waits on a provider forever. */
  int64_t default_deadline_ms;
  int64_t max_deadline_ms;
  /* Routed calls in flight at once, in total (default 10 000) and per
   * caller identity (default 256); over either, RESOURCE_EXHAUSTED. */
  size_t max_inflight;
  size_t max_inflight_per_caller;
} cp_router_options;

CP_API void cp_router_options_init(cp_router_options *opts);

typedef struct cp_router cp_router;

CP_API int cp_router_create(cp_router **out, const cp_router_options *opts);

/* Makes the router the server's fallback (before cp_server_start). The
 * router must outlive the server. */
CP_API int cp_router_register(cp_router *router, cp_server *server);

/* The router's fallback itself (`router` is the cp_router), for a server
 * whose fallback routes after handling some calls of its own (the host's
 * capability calls). */
CP_API cp_status_code cp_router_route(cp_call *call, void *router);

/* Forwards `call` (in a server fallback) to a provider of `service_type`
 * (provider_id NULL: the host's selection strategy), at `method_path`
 * ("/pkg.Service/Method"), as caller `caller` (sent in x-plugin-caller-id;
 * its routed calls count against its in-flight limit and end when
 * cp_router_cancel_caller names it), with every check cp_router_route
 * makes after parsing the route: reserved services, provider health, the
 * registered endpoint path. Returns as cp_router_route. */
CP_API cp_status_code cp_router_forward(cp_router *router, cp_call *call,
                                        const char *service_type,
                                        const char *provider_id,
                                        const char *method_path,
                                        const char *caller);

/* Counts since creation: forwarded calls and refusals. */
typedef struct cp_router_stats {
  unsigned long long forwarded;
  unsigned long long not_found;
  unsigned long long unavailable;
  /* Refused with PERMISSION_DENIED: a reserved service or a method outside
   * the provider's endpoint path. */
  unsigned long long denied;
  /* Refused with RESOURCE_EXHAUSTED: too many routed calls in flight. */
  unsigned long long exhausted;
  size_t inflight;                    /* routed calls in flight now */
  size_t targets;                     /* connections held now */
  unsigned long long targets_evicted; /* closed to make room */
  /* Bytes of the target table and its addresses (not the connections'
   * gRPC channel state). */
  size_t target_bytes;
} cp_router_stats;
CP_API void cp_router_get_stats(const cp_router *router,
                                cp_router_stats *stats);

/* Ends every routed call of `caller` (an identity as the auth interceptor
 * recorded it) that is in flight now: the caller gets UNAUTHENTICATED
 * "caller identity revoked or expired" and the provider's call is
 * cancelled. A host calls it when a runtime identity is revoked or expires.
 * Returns how many calls were ended. Thread-safe. */
CP_API size_t cp_router_cancel_caller(cp_router *router, const char *caller);

/* Closes the router's connection to `address` (any form the resolver
 * reports: "host:port", "http://...", "https://..."), e.g. when its last
 * provider unregistered; calls already forwarded on it finish, and the next
 * call to that address connects anew. Returns 0, CP_ENOTFOUND (no such
 * connection) or CP_EINVAL. Thread-safe. */
CP_API int cp_router_forget(cp_router *router, const char *address);

/* Connects the router to a provider that has no network address:
 * addresses "inproc:<name>" (an in-process plugin, registry flag
 * CP_BASE_URL_INPROC). On success it returns 0 and a new client in *out
 * (e.g. cp_connection_pair to the plugin's server), which the router then
 * owns and caches like any provider connection (cp_router_forget drops it).
 * Runs on server threads under the router's connection-table lock: it must
 * not block nor call back into the router. */
typedef int (*cp_router_connect_fn)(const char *address, cp_client **out,
                                    void *user);

/* Installs (or with NULL removes) the connector for "inproc:" addresses;
 * without one, calls to such a provider are UNAVAILABLE. May be called at
 * any time: a connector being removed is not running any more when this
 * returns, so its `user` may then be freed. Returns 0 or CP_EINVAL. */
CP_API int cp_router_set_connector(cp_router *router,
                                   cp_router_connect_fn connect, void *user);

CP_API void cp_router_destroy(cp_router *router);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_ROUTER_H */
