/* cp_host_caller: a runtime that provides nothing, only calls through the
 * host's router (see cplugin/host_caller.h). */
#include "cplugin/host_caller.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/plugin_runtime.h"

struct cp_host_caller {
  cp_plugin_runtime *rt;
};

void cp_host_caller_options_init(cp_host_caller_options *opts) {
  if (opts != NULL) {
    memset(opts, 0, sizeof *opts);
  }
}

int cp_host_caller_create(cp_host_caller **out,
                          const cp_host_caller_options *opts,
                          cp_status *status) {
  if (out != NULL) {
    *out = NULL;
  }
  if (out == NULL || opts == NULL || status == NULL) {
    if (status != NULL) {
      cp_status_set(status, CP_STATUS_INVALID_ARGUMENT,
                    "cp_host_caller_create: NULL argument");
    }
    return CP_EINVAL;
  }
  cp_host_caller *c = calloc(1, sizeof *c);
  if (c == NULL) {
    cp_status_set(status, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  cp_plugin_runtime_options ro;
  cp_plugin_runtime_options_init(&ro);
  ro.host_url = opts->host_url;
  ro.self_id = opts->self_id;
  ro.api_key = opts->api_key;
  ro.tls = opts->tls;
  /* A caller has no health to report: its link is checked by its calls
   * (an UNAUTHENTICATED answer starts the recovery). */
  ro.heartbeat_interval_ms = 0;
  int rc = cp_plugin_runtime_start(&c->rt, &ro, status);
  if (rc != 0) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int cp_host_caller_route(cp_host_caller *caller, const char *service_type,
                         cp_client **out) {
  if (caller == NULL) {
    return CP_EINVAL;
  }
  return cp_plugin_runtime_route(caller->rt, service_type, out);
}

const char *cp_host_caller_id(const cp_host_caller *caller) {
  return caller != NULL ? cp_plugin_runtime_id(caller->rt) : NULL;
}

void cp_host_caller_destroy(cp_host_caller *caller) {
  if (caller == NULL) {
    return;
  }
  cp_plugin_runtime_destroy(caller->rt);
  free(caller);
}
