/* The PluginControl a launched plugin serves when it registered none
 * (see identity_service.h): the launcher can ask its health and stop it
 * without the plugin writing any code for it. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "cplugin/lifecycle.h"
#include "cplugin/log.h"
#include "launch/identity.h"
#include "launch/identity_service.h"
#include "plugin/v1/lifecycle.cplugin.h"

/* Set by an accepted Shutdown; the post hook sends SIGTERM once. */
static atomic_bool g_requested;
static atomic_bool g_signalled;

static cp_status_code on_get_health(
    cp_call *call, const Connectplugin__V1__GetHealthRequest *req,
    Connectplugin__V1__GetHealthResponse *resp, void *user) {
  (void)req;
  (void)user;
  cp_plugin_health state = CP_PLUGIN_HEALTH_HEALTHY;
  /* Without a runtime the process serves, and that is all it claims. */
  const char *reason =
      cpi_launch_runtime_health(&state) ? "" : "no plugin runtime";
  resp->state = (Connectplugin__V1__HealthState)state;
  resp->reason = cp_call_strdup(call, reason);
  if (resp->reason == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return CP_STATUS_OK;
}

static cp_status_code on_shutdown(cp_call *call,
                                  const Connectplugin__V1__ShutdownRequest *req,
                                  Connectplugin__V1__ShutdownResponse *resp,
                                  void *user) {
  (void)user;
  if (req->grace_period_seconds < 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "grace_period_seconds: must not be negative");
  }
  cp_log(CP_LOG_INFO, "shutdown requested by the launcher", "reason",
         req->reason != NULL ? req->reason : "", CP_LOG_END);
  atomic_store(&g_requested, true);
  resp->acknowledged = true;
  return CP_STATUS_OK;
}

/* After the Shutdown answer went out: the plugin's own SIGTERM path (a
 * sigwait, a handler) then drains its server, so the grace is the
 * plugin's. */
static void after_call(const cp_call *call, cp_status_code code,
                       int64_t duration_ns, void *user) {
  (void)duration_ns;
  (void)user;
  if (code != CP_STATUS_OK ||
      cp_call_method(call) !=
          &cp_connectplugin__v1__plugin_control__shutdown__method ||
      !atomic_load(&g_requested) || atomic_exchange(&g_signalled, true)) {
    return;
  }
  /* A runtime still waiting for its identity gives up now, so the plugin
   * reaches its SIGTERM handling. Not before the answer went out: a plugin
   * whose start then fails shuts its server down, which would cancel this
   * very call. */
  cpi_launch_identity_abort();
  if (kill(getpid(), SIGTERM) != 0) {
    cp_log(CP_LOG_ERROR, "cannot signal the shutdown", CP_LOG_END);
  }
}

int cpi_launch_default_control_register(cp_server *server) {
  static const cp_connectplugin__v1__plugin_control__handlers handlers = {
      .on_get_health = on_get_health,
      .on_shutdown = on_shutdown,
  };
  int rc =
      cp_connectplugin__v1__plugin_control__register(server, &handlers, NULL);
  if (rc == 0) {
    rc = cp_server_add_post_hook(server, after_call, NULL);
  }
  return rc;
}
