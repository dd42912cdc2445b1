/* ServiceRegistry's RPCs: request checks, the caller's identity, status
 * codes and log lines around the store. */
#include <stdio.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "plugin/v1/registry.cplugin.h"
#include "registry/registry_internal.h"
#include "core/semver.h"

/* Untrusted text echoed in messages is cut to this many bytes. */
#define ECHO_MAX 64

static cp_status_code on_register(
    cp_call *call, const Connectplugin__V1__RegisterServiceRequest *req,
    Connectplugin__V1__RegisterServiceResponse *resp, void *user) {
  cp_registry *reg = user;
  reg_caller caller;
  cp_status_code code = cpi_reg_identify(reg, call, &caller);
  if (code != CP_STATUS_OK) {
    return code;
  }
  if (req->n_metadata > CP_METADATA_MAX_ENTRIES) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "metadata: too many metadata entries: %zu (max: %d)",
                         req->n_metadata, CP_METADATA_MAX_ENTRIES);
  }
  cp_metadata md[CP_METADATA_MAX_ENTRIES];
  char why[CP_PRINCIPAL_MAX + 160];
  for (size_t i = 0; i < req->n_metadata; i++) {
    md[i].key = req->metadata[i]->key;
    md[i].value = req->metadata[i]->value;
    if (md[i].key != NULL && md[i].value != NULL &&
        strcmp(md[i].key, "base_url") == 0) {
      reg_base_url_verdict v =
          cpi_reg_check_base_url(reg->base_url_allow, md[i].value,
                                 cp_call_peer(call), why, sizeof why);
      if (v != REG_URL_OK) {
        return cp_call_error(call,
                             v == REG_URL_INVALID ? CP_STATUS_INVALID_ARGUMENT
                                                  : CP_STATUS_PERMISSION_DENIED,
                             "%s", why);
      }
    }
  }
  cp_registry_service svc = {req->service_type, req->version,
                             req->endpoint_path, md, req->n_metadata};
  uint64_t id = 0;
  char principal[CP_PRINCIPAL_MAX + 1];
  cpi_reg_principal(reg, call, &caller, principal);
  reg_add_result res =
      cpi_reg_add(reg, caller.id, principal, &svc,
                  caller.kind == REG_CALLER_RUNTIME, &id, why, sizeof why);
  switch (res) {
    case REG_ADDED:
    case REG_EXISTS:
      break;
    case REG_INVALID:
      return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "%s", why);
    case REG_DENIED:
      cp_log(CP_LOG_WARN, "registration denied", "runtime_id", caller.id,
             "principal", principal, "service_type", req->service_type,
             CP_LOG_END);
      return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                           "plugin %s not authorized to register service "
                           "type %s%s",
                           caller.id, req->service_type, why);
    case REG_LIMIT:
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "%s", why);
    case REG_RANDOM_FAILED:
      return cp_call_error(call, CP_STATUS_INTERNAL,
                           "failed to generate registration ID");
    case REG_NOMEM:
    default:
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (!cpi_reg_recheck(reg, call, &caller)) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "authentication failed");
  }
  char *text = cp_call_alloc(call, CP_REGISTRY_ID_LEN + 1);
  if (text == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  cpi_reg_format_id(id, text);
  resp->registration_id = text;
  if (res == REG_ADDED && cp_log_enabled(CP_LOG_INFO)) {
    cp_log(CP_LOG_INFO, "service registered", "runtime_id", caller.id,
           "service_type", req->service_type, "registration_id", text,
           CP_LOG_END);
  }
  return CP_STATUS_OK;
}

static cp_status_code on_unregister(
    cp_call *call, const Connectplugin__V1__UnregisterServiceRequest *req,
    Connectplugin__V1__UnregisterServiceResponse *resp, void *user) {
  (void)resp;
  cp_registry *reg = user;
  reg_caller caller;
  cp_status_code code = cpi_reg_identify(reg, call, &caller);
  if (code != CP_STATUS_OK) {
    return code;
  }
  uint64_t id = 0;
  reg_remove_result res = REG_NOT_FOUND;
  if (cpi_reg_parse_id(req->registration_id, &id)) {
    res = cpi_reg_remove(reg, id,
                         caller.kind == REG_CALLER_HOST ? NULL : caller.id);
  }
  switch (res) {
    case REG_REMOVED:
      if (cp_log_enabled(CP_LOG_INFO)) {
        cp_log(CP_LOG_INFO, "service unregistered", "runtime_id", caller.id,
               "registration_id", req->registration_id, CP_LOG_END);
      }
      return CP_STATUS_OK;
    case REG_NOT_OWNER:
      /* Answered as an unknown ID: a caller learns nothing about other
       * plugins' registrations by guessing IDs. */
    case REG_NOT_FOUND:
    default:
      return cp_call_error(call, CP_STATUS_NOT_FOUND,
                           "registration not found: %.*s", ECHO_MAX,
                           req->registration_id);
  }
}

static cp_status_code check_type(cp_call *call, const char *type) {
  const char *why = cpi_check_service_type(type);
  if (why != NULL) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "service_type: %s",
                         why);
  }
  return CP_STATUS_OK;
}

static cp_status_code on_discover(
    cp_call *call, const Connectplugin__V1__DiscoverServiceRequest *req,
    Connectplugin__V1__DiscoverServiceResponse *resp, void *user) {
  cp_registry *reg = user;
  reg_caller caller;
  cp_status_code code = cpi_reg_identify(reg, call, &caller);
  if (code == CP_STATUS_OK) {
    code = check_type(call, req->service_type);
  }
  if (code != CP_STATUS_OK) {
    return code;
  }
  const char *min = req->min_version;
  if (min[0] != '\0' &&
      (strnlen(min, CP_REGISTRY_VERSION_MAX + 1) > CP_REGISTRY_VERSION_MAX ||
       !cpi_semver_valid(min))) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "min_version: must be semantic version (e.g., "
                         "1.0.0, 2.1.3-beta)");
  }
  return cpi_sel_discover(reg, call, req->service_type, min, resp);
}

static cp_status_code on_watch(
    cp_call *call, const Connectplugin__V1__WatchServiceRequest *req,
    cp_stream *stream, void *user) {
  cp_registry *reg = user;
  reg_caller caller;
  cp_status_code code = cpi_reg_identify(reg, call, &caller);
  if (code == CP_STATUS_OK) {
    code = check_type(call, req->service_type);
  }
  if (code != CP_STATUS_OK) {
    return code;
  }
  code = cpi_watch_start(reg, call, req->service_type, caller.id, stream);
  if (code == CP_STATUS_OK) {
    /* A watch that raced with a revocation is ended by the removal. */
    cpi_reg_recheck(reg, call, &caller);
  }
  return code;
}

cp_status_code cp_registry_watch(cp_registry *reg, cp_call *call,
                                 cp_stream *stream, const char *service_type,
                                 const char *owner) {
  if (reg == NULL || call == NULL || stream == NULL || service_type == NULL ||
      owner == NULL || owner[0] == '\0' ||
      strnlen(owner, CP_REGISTRY_OWNER_MAX + 1) > CP_REGISTRY_OWNER_MAX) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "invalid watch");
  }
  cp_status_code code = check_type(call, service_type);
  if (code != CP_STATUS_OK) {
    return code;
  }
  return cpi_watch_start(reg, call, service_type, owner, stream);
}

int cp_registry_register(cp_registry *reg, cp_server *server) {
  if (reg == NULL || server == NULL) {
    return CP_EINVAL;
  }
  static const cp_connectplugin__v1__service_registry__handlers handlers = {
      .on_register_service = on_register,
      .on_unregister_service = on_unregister,
      .on_discover_service = on_discover,
      .on_watch_service = on_watch,
  };
  return cp_connectplugin__v1__service_registry__register(server, &handlers,
                                                          reg);
}
