/* PluginLifecycle.ReportHealth (host side): a runtime's health report,
 * stored in the registry where it decides routing and watch events. */
#include "cplugin/errors.h"
#include "cplugin/lifecycle.h"
#include "cplugin/log.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "registry/registry_internal.h"

static cp_status_code on_report_health(
    cp_call *call, const Connectplugin__V1__ReportHealthRequest *req,
    Connectplugin__V1__ReportHealthResponse *resp, void *user) {
  (void)resp;
  cp_registry *reg = user;
  reg_caller caller;
  cp_status_code code = cpi_reg_identify(reg, call, &caller);
  if (code != CP_STATUS_OK) {
    return code;
  }
  cp_plugin_health state = (cp_plugin_health)req->state;
  const char *const *deps = (const char *const *)req->unavailable_dependencies;
  char why[128];
  if (cpi_reg_check_health(state, req->reason, deps,
                           req->n_unavailable_dependencies, why,
                           sizeof why) != NULL) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "%s", why);
  }
  int rc = cpi_reg_set_health(reg, caller.id, state, req->reason, deps,
                              req->n_unavailable_dependencies, true);
  if (rc == CP_ENOTFOUND) {
    /* Removed as gone while its token stayed good (forgotten.c). */
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "runtime is gone: join again (renew, register)");
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (!cpi_reg_recheck(reg, call, &caller)) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "authentication failed");
  }
  if (cp_log_enabled(CP_LOG_DEBUG)) {
    static const char *const names[] = {"unknown", "healthy", "degraded",
                                        "unhealthy"};
    cp_log(CP_LOG_DEBUG, "health reported", "runtime_id", caller.id, "state",
           names[state], CP_LOG_END);
  }
  return CP_STATUS_OK;
}

int cp_lifecycle_register(cp_registry *reg, cp_server *server) {
  if (reg == NULL || server == NULL) {
    return CP_EINVAL;
  }
  static const cp_connectplugin__v1__plugin_lifecycle__handlers handlers = {
      .on_report_health = on_report_health,
  };
  return cp_connectplugin__v1__plugin_lifecycle__register(server, &handlers,
                                                          reg);
}
