/* cplugin — plugin lifecycle: health reports to the host and the host's
 * control of a plugin.
 *
 * Host side: PluginLifecycle.ReportHealth (/connectplugin.v1.
 * PluginLifecycle/ReportHealth) records the calling runtime's health in a
 * cp_registry, where it decides routing (UNHEALTHY providers are neither
 * discovered nor resolved) and watch events. The caller is the identity
 * the auth interceptor recorded (see registry.h); the state must be
 * HEALTHY, DEGRADED or UNHEALTHY, the reason at most CP_HEALTH_REASON_MAX
 * bytes, at most CP_HEALTH_MAX_DEPENDENCIES unavailable dependencies of at
 * most CP_HEALTH_DEPENDENCY_MAX bytes (INVALID_ARGUMENT otherwise). A
 * caller the registry removed as gone while its token stayed good is
 * answered UNAVAILABLE, nothing stored, until it rejoins (registry.h,
 * Liveness).
 *
 * Plugin side: a cp_plugin_control serves PluginControl on the plugin's
 * server. GetHealth answers the state the plugin set with
 * cp_plugin_control_set_health (initially HEALTHY). Shutdown
 * (grace_period_seconds, reason) is acknowledged, then, on a thread of the
 * control: the health (if given) turns NOT_SERVING, the server stops
 * accepting calls and lets the calls in flight finish for up to the grace
 * period (capped at max_grace_ms; negative → INVALID_ARGUMENT), the
 * on_shutdown callback runs, and cp_plugin_control_wait returns, so the
 * plugin's main thread can clean up and exit. Shutdown ends the process's
 * service: serve it only to the host (mutual TLS or an API key in the
 * plugin's cp_auth).
 *
 * Thread safety: create, register and destroy from one thread; the other
 * functions may be called from any thread.
 */
#ifndef CPLUGIN_LIFECYCLE_H
#define CPLUGIN_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/health.h"
#include "cplugin/registry.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Host side: registers PluginLifecycle.ReportHealth on `server` (before
 * cp_server_start), storing reports in `reg`, which must outlive the
 * server. Returns as cp_server_add_method. */
CP_API int cp_lifecycle_register(cp_registry *reg, cp_server *server);

/* --- plugin side --------------------------------------------------------- */

typedef struct cp_plugin_control cp_plugin_control;

/* Runs on the control's thread once the server has stopped; `reason` is
 * the host's (valid during the call). */
typedef void (*cp_plugin_shutdown_fn)(const char *reason, int64_t grace_ms,
                                      void *user);

typedef struct cp_plugin_control_options {
  /* Turned NOT_SERVING (cp_health_shutdown) when a shutdown begins. Not
   * owned; may be NULL. */
  cp_health *health;
  /* Longest grace period honoured (default 300 000 ms). */
  int64_t max_grace_ms;
  cp_plugin_shutdown_fn on_shutdown; /* may be NULL */
  void *user;
} cp_plugin_control_options;

/* Fills `opts` with the defaults. */
CP_API void cp_plugin_control_options_init(cp_plugin_control_options *opts);

/* Returns 0, CP_EINVAL or CP_ENOMEM. Destroy with
 * cp_plugin_control_destroy. */
CP_API int cp_plugin_control_create(cp_plugin_control **out,
                                    const cp_plugin_control_options *opts);

/* Registers GetHealth and Shutdown (and a post-call hook) on `server`
 * (before cp_server_start); this is the server a shutdown stops. One server
 * per control; the control must outlive the server. Returns 0, CP_ESTATE
 * (already registered) or an error of cp_server_add_method. */
CP_API int cp_plugin_control_register(cp_plugin_control *ctl,
                                      cp_server *server);

/* Sets what GetHealth answers (strings copied, limits as ReportHealth).
 * Returns 0, CP_EINVAL or CP_ENOMEM. */
CP_API int cp_plugin_control_set_health(cp_plugin_control *ctl,
                                        cp_plugin_health state,
                                        const char *reason,
                                        const char *const *dependencies,
                                        size_t dependency_count);

/* Starts the same shutdown as the RPC, from the plugin itself (e.g. on
 * SIGTERM). Returns 0 (also when one is already under way), CP_EINVAL for
 * a negative grace, CP_ESTATE before register, or CP_ESYS when the thread
 * cannot start. */
CP_API int cp_plugin_control_shutdown(cp_plugin_control *ctl, int64_t grace_ms,
                                      const char *reason);

/* True once a shutdown was requested. */
CP_API bool cp_plugin_control_shutdown_requested(cp_plugin_control *ctl);

/* Blocks until a requested shutdown has stopped the server and run
 * on_shutdown. Returns 0. */
CP_API int cp_plugin_control_wait(cp_plugin_control *ctl);

/* As cp_plugin_control_wait for at most timeout_ms: 0 or CP_ETIMEDOUT. */
CP_API int cp_plugin_control_wait_for(cp_plugin_control *ctl,
                                      int64_t timeout_ms);

/* Waits for a shutdown under way to finish, then frees. NULL allowed. */
CP_API void cp_plugin_control_destroy(cp_plugin_control *ctl);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_LIFECYCLE_H */
