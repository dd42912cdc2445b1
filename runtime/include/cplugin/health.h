/* cplugin — serving status for health probes.
 *
 * One cp_health holds a status per service name ("" = the server as a
 * whole, initially SERVING) and serves it twice over the same state:
 *   - /connectplugin.health.v1.HealthService/Check and /Watch (upstream's
 *     protocol), and
 *   - /grpc.health.v1.Health/Check and /Watch (the standard gRPC health
 *     protocol), so grpc_health_probe, Kubernetes gRPC probes and any
 *     gRPC client's health checking work.
 * The enum values are the same in both (SERVING 1, NOT_SERVING 2,
 * SERVICE_UNKNOWN 3).
 *
 * Check: the service's status; an unknown service is NOT_FOUND "unknown
 * service: <name>". Watch: the current status (SERVICE_UNKNOWN for a
 * service not set yet), then each change; an unchanged status is not
 * repeated, and a slow reader receives the latest status rather than every
 * intermediate one (a watcher holds at most two messages, the one being
 * written and one pending, retried when the write is over; each message is
 * encoded once for all watchers). cp_health_shutdown sets every service NOT_SERVING, tells
 * the watchers, and ignores later cp_health_set calls.
 *
 * Both services are unauthenticated by design (cp_auth_open_host_methods
 * opens them); watchers are therefore capped (max_watchers) and names are
 * bounded (CP_HEALTH_SERVICE_NAME_MAX).
 *
 * Thread safety: every function may be called from any thread, except
 * cp_health_destroy and cp_health_register (before cp_server_start).
 */
#ifndef CPLUGIN_HEALTH_H
#define CPLUGIN_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest service name kept or watched. */
#define CP_HEALTH_SERVICE_NAME_MAX 256

typedef enum cp_serving_status {
  CP_SERVING_STATUS_UNKNOWN = 0,
  CP_SERVING_STATUS_SERVING = 1,
  CP_SERVING_STATUS_NOT_SERVING = 2,
  CP_SERVING_STATUS_SERVICE_UNKNOWN = 3 /* sent by Watch only */
} cp_serving_status;

typedef struct cp_health cp_health;

typedef struct cp_health_options {
  size_t max_services; /* names with a status, default 256 */
  size_t max_watchers; /* open Watch streams, default 128 */
  /* Open Watch streams of callers without an identity, per client address
   * (an IPv6 /64 counts as one address), default 8: one anonymous peer
   * cannot take every watcher slot. */
  size_t max_anonymous_watchers_per_address;
  /* Retry period for a watcher whose stream is still writing (default
   * 50 ms). */
  int64_t watch_retry_interval_ms;
} cp_health_options;

/* Fills `opts` with the defaults. */
CP_API void cp_health_options_init(cp_health_options *opts);

/* Creates the state with "" SERVING. `opts` may be NULL. Returns 0,
 * CP_EINVAL or CP_ENOMEM. Destroy with cp_health_destroy. */
CP_API int cp_health_create(cp_health **out, const cp_health_options *opts);

/* Ends open Watch streams (UNAVAILABLE) and frees. Call after the servers
 * it is registered on have shut down. NULL allowed. */
CP_API void cp_health_destroy(cp_health *h);

/* Sets the status of `service` (copied; "" = the whole server) to SERVING
 * or NOT_SERVING and tells its watchers. Returns 0; CP_EINVAL for another
 * status or a name over CP_HEALTH_SERVICE_NAME_MAX bytes; CP_ELIMIT when
 * max_services names are known; CP_ESTATE after cp_health_shutdown;
 * CP_ENOMEM. */
CP_API int cp_health_set(cp_health *h, const char *service,
                         cp_serving_status status);

/* Forgets `service` (a plugin that went away): Check answers NOT_FOUND
 * again and its watchers are sent SERVICE_UNKNOWN. "" cannot be removed.
 * Returns 0, CP_ENOTFOUND or CP_EINVAL. */
CP_API int cp_health_remove(cp_health *h, const char *service);

/* The status of `service`: 0 and *out, or CP_ENOTFOUND. */
CP_API int cp_health_get(cp_health *h, const char *service,
                         cp_serving_status *out);

/* Every known service becomes NOT_SERVING, watchers are told, later sets
 * are refused. Idempotent. */
CP_API void cp_health_shutdown(cp_health *h);

/* True while "" is SERVING: what /readyz reports. Lock-free. */
CP_API bool cp_health_serving(const cp_health *h);

/* Registers both health services on `server` (before cp_server_start). The
 * cp_health must outlive the server. Returns as cp_server_add_method. */
CP_API int cp_health_register(cp_health *h, cp_server *server);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_HEALTH_H */
