/* PluginIdentity on a launched plugin's server, and the launch-secret
 * check in front of it and PluginControl (see identity_service.h). */
#include "launch/identity_service.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "crypto/crypto.h"
#include "launch/identity.h"
#include "plugin/v1/plugininfo.cplugin.h"

static bool has_prefix(const char *s, const char *prefix) {
  return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Missing and wrong secrets get the same answer: a caller learns nothing
 * about the secret from it. */
static cp_status_code require_secret(cp_call *call, void *user) {
  (void)user;
  const char *path = cp_call_path(call);
  if (!has_prefix(path, LAUNCH_IDENTITY_SERVICE_PREFIX) &&
      !has_prefix(path, LAUNCH_CONTROL_SERVICE_PREFIX)) {
    return CP_STATUS_OK;
  }
  cp_str v = {NULL, 0};
  if (!cp_call_metadata(call, CP_LAUNCH_SECRET_METADATA, &v) ||
      !cpi_launch_secret_matches(v.ptr, v.len)) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "launch secret required");
  }
  return CP_STATUS_OK;
}

/* --- GetPluginInfo -------------------------------------------------------- */

typedef struct info_answer {
  cp_call *call;
  Connectplugin__V1__GetPluginInfoResponse *resp;
} info_answer;

static char *call_dup(cp_call *call, const char *s, bool *ok) {
  char *d = cp_call_strdup(call, s != NULL ? s : "");
  *ok = *ok && d != NULL;
  return d;
}

static int fill_provides(cp_call *call, const launch_plugin_info *info,
                         Connectplugin__V1__GetPluginInfoResponse *resp) {
  size_t n = info->provides_count;
  if (n == 0) {
    return 0;
  }
  Connectplugin__V1__ServiceDeclaration **v =
      cp_call_alloc(call, n * sizeof *v);
  Connectplugin__V1__ServiceDeclaration *m = cp_call_alloc(call, n * sizeof *m);
  bool ok = v != NULL && m != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    connectplugin__v1__service_declaration__init(&m[i]);
    m[i].type = call_dup(call, info->provides[i].type, &ok);
    m[i].version = call_dup(call, info->provides[i].version, &ok);
    m[i].path = call_dup(call, info->provides[i].path, &ok);
    v[i] = &m[i];
  }
  if (!ok) {
    return CP_ENOMEM;
  }
  resp->provides = v;
  resp->n_provides = n;
  return 0;
}

static int fill_requires(cp_call *call, const launch_plugin_info *info,
                         Connectplugin__V1__GetPluginInfoResponse *resp) {
  size_t n = info->requires_count;
  if (n == 0) {
    return 0;
  }
  Connectplugin__V1__ServiceDependency **v = cp_call_alloc(call, n * sizeof *v);
  Connectplugin__V1__ServiceDependency *m = cp_call_alloc(call, n * sizeof *m);
  bool ok = v != NULL && m != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    connectplugin__v1__service_dependency__init(&m[i]);
    m[i].type = call_dup(call, info->requires[i].type, &ok);
    m[i].min_version = call_dup(call, info->requires[i].min_version, &ok);
    m[i].required_for_startup = info->requires[i].required_for_startup;
    m[i].watch_for_changes = info->requires[i].watch_for_changes;
    v[i] = &m[i];
  }
  if (!ok) {
    return CP_ENOMEM;
  }
  resp->requires = v;
  resp->n_requires = n;
  return 0;
}

static int fill_info(const launch_plugin_info *info, void *user) {
  info_answer *a = user;
  bool ok = true;
  a->resp->self_id = call_dup(a->call, info->self_id, &ok);
  a->resp->self_version = call_dup(a->call, info->self_version, &ok);
  int rc = ok ? 0 : CP_ENOMEM;
  if (rc == 0) {
    rc = fill_provides(a->call, info, a->resp);
  }
  if (rc == 0) {
    rc = fill_requires(a->call, info, a->resp);
  }
  return rc;
}

static cp_status_code on_get_plugin_info(
    cp_call *call, const Connectplugin__V1__GetPluginInfoRequest *req,
    Connectplugin__V1__GetPluginInfoResponse *resp, void *user) {
  (void)req;
  (void)user;
  info_answer a = {call, resp};
  int rc = cpi_launch_info_read(fill_info, &a);
  if (rc == CP_ESTATE) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "plugin runtime not started");
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return CP_STATUS_OK;
}

/* --- SetRuntimeIdentity --------------------------------------------------- */

/* The optional lifetime header: 0 when absent, -1 when malformed. */
static int64_t ttl_from(const cp_call *call) {
  cp_str v = {NULL, 0};
  if (!cp_call_metadata(call, CP_LAUNCH_TOKEN_TTL_METADATA, &v)) {
    return 0;
  }
  if (v.len == 0 || v.len > 19) {
    return -1;
  }
  int64_t ms = 0;
  for (size_t i = 0; i < v.len; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') {
      return -1;
    }
    ms = ms * 10 + (v.ptr[i] - '0');
    if (ms > LAUNCH_MAX_TTL_MS) {
      ms = LAUNCH_MAX_TTL_MS; /* believed up to a year, as a handshake's */
    }
  }
  return ms > 0 ? ms : -1;
}

static cp_status_code on_set_runtime_identity(
    cp_call *call, const Connectplugin__V1__SetRuntimeIdentityRequest *req,
    Connectplugin__V1__SetRuntimeIdentityResponse *resp, void *user) {
  (void)user;
  if (!cpi_launch_runtime_id_valid(req->runtime_id)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "runtime_id: not a runtime ID");
  }
  if (req->runtime_token == NULL ||
      strnlen(req->runtime_token, CP_TOKEN_LEN + 1) != CP_TOKEN_LEN) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "runtime_token: must be %d characters", CP_TOKEN_LEN);
  }
  if (req->host_url != NULL &&
      strnlen(req->host_url, LAUNCH_HOST_URL_MAX + 1) > LAUNCH_HOST_URL_MAX) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "host_url: too long (max %d bytes)",
                         LAUNCH_HOST_URL_MAX);
  }
  int64_t ttl_ms = ttl_from(call);
  if (ttl_ms < 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "%s: must be a positive decimal number of ms",
                         CP_LAUNCH_TOKEN_TTL_METADATA);
  }
  launch_identity ident;
  memset(&ident, 0, sizeof ident);
  memcpy(ident.id, req->runtime_id, strlen(req->runtime_id) + 1);
  memcpy(ident.token, req->runtime_token, CP_TOKEN_LEN + 1);
  if (req->host_url != NULL) {
    memcpy(ident.host_url, req->host_url, strlen(req->host_url) + 1);
  }
  ident.ttl_ms = ttl_ms;
  ident.received_ns = cpi_clock_monotonic_ns();
  int rc = cpi_launch_identity_offer(&ident);
  cpi_secure_zero(ident.token, sizeof ident.token);
  if (rc == CP_ESTATE) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "plugin runtime not started");
  }
  if (rc == CP_EEXIST) {
    return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                         "identity already set");
  }
  cp_log(CP_LOG_INFO, "runtime identity set by the launcher", "runtime_id",
         req->runtime_id, CP_LOG_END);
  resp->acknowledged = true;
  return CP_STATUS_OK;
}

int cpi_launch_identity_serve(cp_server *server, bool has_control) {
  if (!cpi_launch_secret_present()) {
    return 0;
  }
  static const cp_connectplugin__v1__plugin_identity__handlers handlers = {
      .on_get_plugin_info = on_get_plugin_info,
      .on_set_runtime_identity = on_set_runtime_identity,
  };
  int rc = cp_server_add_interceptor(server, CP_PHASE_AUTHENTICATION,
                                     require_secret, NULL);
  if (rc == 0) {
    rc = cp_connectplugin__v1__plugin_identity__register(server, &handlers,
                                                         NULL);
  }
  if (rc == 0 && !has_control) {
    rc = cpi_launch_default_control_register(server);
  }
  return rc;
}
