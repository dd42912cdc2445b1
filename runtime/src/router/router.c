/* The host's router: resolve the provider, then forward the call. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/router.h"
#include "router/route_parse.h"
#include "core/clock.h"
#include "core/validate.h"
#include "router/inflight.h"
#include "router/targets.h"
#include "transport/client_ref.h"
#include "transport/forward_ctl.h"

enum {
  DEFAULT_MAX_TARGETS = 256,
  DEFAULT_DEADLINE_MS = 30 * 1000,
  DEFAULT_MAX_DEADLINE_MS = 5 * 60 * 1000,
  DEFAULT_MAX_INFLIGHT = 10000,
  DEFAULT_MAX_INFLIGHT_PER_CALLER = 256
};

struct cp_router {
  cp_router_options opts;
  cp_tls_client_options tls; /* copy; valid when has_tls */
  bool has_tls;
  target_table targets;
  inflight_table inflight;
  atomic_ullong forwarded;
  atomic_ullong exhausted;
  atomic_ullong not_found;
  atomic_ullong unavailable;
  atomic_ullong denied;
};

void cp_router_options_init(cp_router_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_targets = DEFAULT_MAX_TARGETS;
  opts->default_deadline_ms = DEFAULT_DEADLINE_MS;
  opts->max_deadline_ms = DEFAULT_MAX_DEADLINE_MS;
  opts->max_inflight = DEFAULT_MAX_INFLIGHT;
  opts->max_inflight_per_caller = DEFAULT_MAX_INFLIGHT_PER_CALLER;
}

int cp_router_create(cp_router **out, const cp_router_options *opts) {
  if (out == NULL || opts == NULL || opts->resolve == NULL ||
      opts->default_deadline_ms <= 0 ||
      opts->max_deadline_ms < opts->default_deadline_ms ||
      opts->max_inflight == 0 || opts->max_inflight_per_caller == 0 ||
      opts->max_message_bytes > INT32_MAX) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_router *r = calloc(1, sizeof *r);
  if (r == NULL) {
    return CP_ENOMEM;
  }
  r->opts = *opts;
  if (r->opts.max_targets == 0) {
    r->opts.max_targets = DEFAULT_MAX_TARGETS;
  }
  if (opts->tls != NULL) {
    /* The PEM data is read when a TLS target client is created; the caller
     * keeps the strings alive until then (documented on the option). */
    r->tls = *opts->tls;
    r->has_tls = true;
  }
  if (cpi_target_table_init(&r->targets, r->opts.max_targets,
                            r->has_tls ? &r->tls : NULL,
                            r->opts.max_message_bytes) != 0) {
    free(r);
    return CP_ENOMEM;
  }
  if (cpi_inflight_init(&r->inflight, r->opts.max_inflight,
                        r->opts.max_inflight_per_caller) != 0) {
    cpi_target_table_destroy(&r->targets);
    free(r);
    return CP_ENOMEM;
  }
  atomic_init(&r->forwarded, 0);
  atomic_init(&r->exhausted, 0);
  atomic_init(&r->not_found, 0);
  atomic_init(&r->unavailable, 0);
  atomic_init(&r->denied, 0);
  *out = r;
  return 0;
}

void cp_router_destroy(cp_router *r) {
  if (r == NULL) {
    return;
  }
  cpi_target_table_destroy(&r->targets);
  cpi_inflight_destroy(&r->inflight);
  free(r);
}

void cp_router_get_stats(const cp_router *r, cp_router_stats *stats) {
  cp_router *m = (cp_router *)r;
  stats->forwarded = atomic_load(&m->forwarded);
  stats->not_found = atomic_load(&m->not_found);
  stats->unavailable = atomic_load(&m->unavailable);
  stats->denied = atomic_load(&m->denied);
  stats->exhausted = atomic_load(&m->exhausted);
  stats->inflight = cpi_inflight_total(&m->inflight);
  uint64_t evicted = 0;
  cpi_target_table_counts(&m->targets, &stats->targets, &evicted);
  stats->targets_evicted = evicted;
  stats->target_bytes = cpi_target_table_bytes(&m->targets);
}

int cp_router_forget(cp_router *r, const char *address) {
  if (r == NULL || address == NULL) {
    return CP_EINVAL;
  }
  char normal[TARGET_ADDRESS_MAX];
  bool tls = false;
  if (!cpi_route_target_address(address, normal, sizeof normal, &tls)) {
    return CP_ENOTFOUND;
  }
  return cpi_target_table_forget(&r->targets, normal) > 0 ? 0 : CP_ENOTFOUND;
}

int cp_router_set_connector(cp_router *r, cp_router_connect_fn connect,
                            void *user) {
  if (r == NULL) {
    return CP_EINVAL;
  }
  cpi_target_table_set_connector(&r->targets, connect, user);
  return 0;
}

/* The route of a call, from its path or its routing metadata. */
static int route_of(cp_call *call, cp_route *route) {
  const char *path = cp_call_path(call);
  if (cpi_route_from_path(path, route)) {
    return 0;
  }
  cp_str type;
  if (!cp_call_metadata(call, CP_MD_ROUTE_SERVICE_TYPE, &type)) {
    return CP_ENOTFOUND; /* not a routed call */
  }
  cp_str provider = {NULL, 0};
  (void)cp_call_metadata(call, CP_MD_ROUTE_PROVIDER_ID, &provider);
  return cpi_route_from_metadata(path, type.ptr, type.len, provider.ptr,
                                 provider.len, route)
             ? 0
             : CP_EINVAL;
}

static cp_status_code unavailable(cp_router *r, cp_call *call, const char *what,
                                  const char *id) {
  atomic_fetch_add(&r->unavailable, 1);
  return cp_call_error(call, CP_STATUS_UNAVAILABLE, "provider %s %s", id, what);
}

/* A forwarded call's place in the in-flight table, given back at its end
 * (lives in the call's memory). */
typedef struct routed_call {
  inflight_ticket ticket;
  cp_router *router;
} routed_call;

static void forward_ended(void *user) {
  routed_call *rc = user;
  cpi_inflight_release(&rc->router->inflight, &rc->ticket);
}

static void cancel_routed(void *call) {
  cpi_call_forward_cancel(call, CP_STATUS_UNAUTHENTICATED,
                          "caller identity revoked or expired");
}

size_t cp_router_cancel_caller(cp_router *r, const char *caller) {
  if (r == NULL || caller == NULL) {
    return 0;
  }
  return cpi_inflight_cancel_caller(&r->inflight, caller, cancel_routed);
}

/* The target call's deadline: the caller's, but never past max_deadline_ms
 * from now; default_deadline_ms when the caller set none. */
static int64_t forward_deadline(const cp_router *r, const cp_call *call) {
  int64_t now = cpi_clock_monotonic_ns();
  int64_t caller = cp_call_deadline_ns(call);
  int64_t cap = cpi_deadline_after_ms(now, r->opts.max_deadline_ms);
  if (caller == CP_DEADLINE_NONE) {
    return cpi_deadline_after_ms(now, r->opts.default_deadline_ms);
  }
  return caller < cap ? caller : cap;
}

cp_status_code cp_router_route(cp_call *call, void *user) {
  cp_router *r = user;
  cp_route route;
  int rc = route_of(call, &route);
  if (rc == CP_ENOTFOUND) {
    return cp_call_error(call, CP_STATUS_UNIMPLEMENTED, "unknown method %s",
                         cp_call_path(call));
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "malformed route for %s", cp_call_path(call));
  }
  const char *caller = cp_call_identity(call, NULL);
  if (caller == NULL) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "authentication required");
  }
  return cp_router_forward(
      r, call, route.service_type,
      route.provider_id[0] != '\0' ? route.provider_id : NULL,
      route.method_path, caller);
}

cp_status_code cp_router_forward(cp_router *r, cp_call *call,
                                 const char *service_type,
                                 const char *provider_id,
                                 const char *method_path, const char *caller) {
  int rc;
  if (cpi_path_reserved(method_path)) {
    atomic_fetch_add(&r->denied, 1);
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                         "%s is not routable: the host's and plugins' own "
                         "control services are never forwarded",
                         method_path);
  }
  cp_route_target target;
  memset(&target, 0, sizeof target);
  rc =
      r->opts.resolve(service_type, provider_id, &target, r->opts.resolve_user);
  if (rc != 0) {
    atomic_fetch_add(&r->not_found, 1);
    return cp_call_error(call, CP_STATUS_NOT_FOUND,
                         "no provider for service \"%s\"", service_type);
  }
  if (!target.healthy) {
    return unavailable(r, call, "is unhealthy", target.provider_id);
  }
  if (!cpi_route_path_under(method_path, target.endpoint_path)) {
    atomic_fetch_add(&r->denied, 1);
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                         "%s is outside the endpoint path provider %s "
                         "registered for service \"%s\"",
                         method_path, target.provider_id, service_type);
  }
  char address[TARGET_ADDRESS_MAX];
  bool tls = false;
  if (!cpi_route_target_address(target.address, address, sizeof address,
                                &tls)) {
    return unavailable(r, call, "has no usable address", target.provider_id);
  }
  routed_call *routed = cp_call_alloc(call, sizeof *routed);
  if (routed == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  routed->router = r;
  routed->ticket.call = call;
  inflight_verdict v =
      cpi_inflight_acquire(&r->inflight, caller, &routed->ticket);
  if (v != INFLIGHT_OK) {
    atomic_fetch_add(&r->exhausted, 1);
    return cp_call_error(
        call, CP_STATUS_RESOURCE_EXHAUSTED, "%s",
        v == INFLIGHT_CALLER_FULL  ? "too many routed calls in flight for "
                                     "this caller"
        : v == INFLIGHT_TOTAL_FULL ? "too many routed calls in flight"
                                   : "out of memory");
  }
  cp_client *client = cpi_target_table_acquire(&r->targets, address, tls);
  if (client == NULL) {
    cpi_inflight_release(&r->inflight, &routed->ticket);
    return unavailable(r, call, "cannot be reached", target.provider_id);
  }
  cp_metadata md[] = {{CP_MD_CALLER_ID, caller}};
  rc = cp_call_forward(call, client, method_path, md, 1);
  cpi_client_release(client); /* the forward holds its own reference */
  if (rc != 0) {
    cpi_inflight_release(&r->inflight, &routed->ticket);
    return unavailable(r, call, "cannot be called", target.provider_id);
  }
  cpi_call_forward_set_deadline(call, forward_deadline(r, call));
  cpi_call_forward_on_done(call, forward_ended, routed);
  atomic_fetch_add(&r->forwarded, 1);
  if (cp_log_enabled(CP_LOG_DEBUG)) {
    cp_log(CP_LOG_DEBUG, "ROUTER routed call", "caller", caller, "service",
           service_type, "provider", target.provider_id, "method", method_path,
           CP_LOG_END);
  }
  return CP_STATUS_OK; /* forwarded: the forward answers */
}

int cp_router_register(cp_router *router, cp_server *server) {
  if (router == NULL || server == NULL) {
    return CP_EINVAL;
  }
  return cp_server_set_fallback(server, cp_router_route, router);
}
