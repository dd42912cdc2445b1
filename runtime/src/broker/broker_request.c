/* RequestCapability: a runtime asks for a capability and, when the host
 * has it at min_version or above, gets a grant bound to itself. */
#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "plugin/v1/broker.cplugin.h"
#include "core/semver.h"

/* "logger 1.0.0, secrets 2.1.0" (or "none"), for NOT_FOUND. */
static void offered(const cp_broker *b, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < b->cap_count && used + 1 < cap; i++) {
    int n = snprintf(out + used, cap - used, "%s%s %s", i > 0 ? ", " : "",
                     b->caps[i]->def.type, b->caps[i]->def.version);
    used += n > 0 ? (size_t)n : 0;
  }
  if (b->cap_count == 0) {
    snprintf(out, cap, "none");
  }
}

static cp_status_code not_found(cp_broker *b, cp_call *call, const char *what) {
  char list[512];
  offered(b, list, sizeof list);
  cpi_broker_refused(b, BROKER_REFUSED_NOT_FOUND);
  return cp_call_error(call, CP_STATUS_NOT_FOUND, "%s (offered: %s)", what,
                       list);
}

static cp_status_code fill(cp_call *call, const grant_info *g,
                           Connectplugin__V1__RequestCapabilityResponse *resp) {
  Connectplugin__V1__CapabilityGrant *m = cp_call_alloc(call, sizeof *m);
  char endpoint[sizeof CP_CAPABILITY_PATH_PREFIX + GRANT_TYPE_MAX +
                GRANT_ID_CHARS + 2];
  snprintf(endpoint, sizeof endpoint, "%s%s/%s", CP_CAPABILITY_PATH_PREFIX,
           g->type, g->id);
  if (m != NULL) {
    connectplugin__v1__capability_grant__init(m);
    m->grant_id = cp_call_strdup(call, g->id);
    m->endpoint_url = cp_call_strdup(call, endpoint);
    m->bearer_token = cp_call_strdup(call, g->token);
    m->capability_type = cp_call_strdup(call, g->type);
    m->version = cp_call_strdup(call, g->version);
  }
  if (m == NULL || m->grant_id == NULL || m->endpoint_url == NULL ||
      m->bearer_token == NULL || m->capability_type == NULL ||
      m->version == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  resp->grant = m;
  return CP_STATUS_OK;
}

static cp_status_code on_request(
    cp_call *call, const Connectplugin__V1__RequestCapabilityRequest *req,
    Connectplugin__V1__RequestCapabilityResponse *resp, void *user) {
  cp_broker *b = user;
  const char *provider = NULL;
  const char *runtime_id = cp_call_identity(call, &provider);
  /* A grant is bound to a runtime identity: an API key or a certificate
   * alone names none. */
  if (runtime_id == NULL || provider == NULL ||
      strcmp(provider, "runtime-token") != 0) {
    cpi_broker_refused(b, BROKER_REFUSED_UNAUTHENTICATED);
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "a runtime token is required");
  }
  const broker_cap *found = cpi_broker_find(b, req->capability_type);
  const cp_capability *c = found != NULL ? &found->def : NULL;
  char what[GRANT_TYPE_MAX + GRANT_VERSION_MAX * 2 + 64];
  if (c == NULL) {
    snprintf(what, sizeof what, "capability \"%.128s\" not available",
             req->capability_type);
    return not_found(b, call, what);
  }
  const char *min = req->min_version;
  if (min[0] != '\0' && !cpi_semver_valid(min)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "min_version: not a SemVer version");
  }
  if (min[0] != '\0' && cpi_semver_compare(c->version, min) < 0) {
    snprintf(what, sizeof what,
             "capability \"%s\" %s is below min_version %.64s", c->type,
             c->version, min);
    return not_found(b, call, what);
  }
  grant_info g;
  int rc = cpi_grant_issue(b->grants, cpi_broker_now_ns(b), runtime_id, c->type,
                           c->version, &g);
  if (rc == CP_ELIMIT || rc == CP_EAGAIN) {
    cpi_broker_refused(b, BROKER_REFUSED_LIMIT);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "%s",
                         rc == CP_ELIMIT
                             ? "this runtime holds as many grants as allowed"
                             : "the host holds as many grants as allowed");
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "cannot issue a grant: %s",
                         cp_strerror(rc));
  }
  cp_status_code code = fill(call, &g, resp);
  cpi_secure_zero(g.token, sizeof g.token);
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%lld",
           (long long)((g.expires_ns - cpi_broker_now_ns(b)) / 1000000));
  if (code == CP_STATUS_OK &&
      cp_call_add_trailer(call, CP_MD_GRANT_TTL_MS, ttl) != 0) {
    code = cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (code == CP_STATUS_OK) {
    cp_log(CP_LOG_INFO, "capability granted", "runtime_id", runtime_id, "type",
           g.type, "version", g.version, "grant_id", g.id, CP_LOG_END);
  }
  return code;
}

int cp_broker_register(cp_broker *b, cp_server *server) {
  if (b == NULL || server == NULL) {
    return CP_EINVAL;
  }
  static const cp_connectplugin__v1__capability_broker__handlers handlers = {
      .on_request_capability = on_request,
  };
  return cp_connectplugin__v1__capability_broker__register(server, &handlers,
                                                           b);
}
