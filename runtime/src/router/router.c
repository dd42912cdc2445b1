/* The host's router: resolve the provider, then forward the call. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/router.h"
#include "router/route_parse.h"

enum { DEFAULT_MAX_TARGETS = 256, ADDRESS_MAX = 300 };

typedef struct target_conn {
  char address[ADDRESS_MAX];
  bool tls;
  cp_client *client;
} target_conn;

struct cp_router {
  cp_router_options opts;
  cp_tls_client_options tls; /* copy; valid when has_tls */
  bool has_tls;
  pthread_mutex_t mu;
  target_conn *targets;
  size_t target_count;
  atomic_ullong forwarded;
  atomic_ullong not_found;
  atomic_ullong unavailable;
};

void cp_router_options_init(cp_router_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_targets = DEFAULT_MAX_TARGETS;
}

int cp_router_create(cp_router **out, const cp_router_options *opts) {
  if (out == NULL || opts == NULL || opts->resolve == NULL) {
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
  r->targets = calloc(r->opts.max_targets, sizeof *r->targets);
  if (r->targets == NULL) {
    free(r);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&r->mu, NULL);
  atomic_init(&r->forwarded, 0);
  atomic_init(&r->not_found, 0);
  atomic_init(&r->unavailable, 0);
  *out = r;
  return 0;
}

void cp_router_destroy(cp_router *r) {
  if (r == NULL) {
    return;
  }
  for (size_t i = 0; i < r->target_count; i++) {
    cp_client_destroy(r->targets[i].client);
  }
  free(r->targets);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

void cp_router_stats_get(const cp_router *r, cp_router_stats *stats) {
  cp_router *m = (cp_router *)r;
  stats->forwarded = atomic_load(&m->forwarded);
  stats->not_found = atomic_load(&m->not_found);
  stats->unavailable = atomic_load(&m->unavailable);
}

/* The connected client for `address`, created on first use (no I/O: gRPC
 * connects lazily). NULL when the table is full or TLS is not configured. */
static cp_client *client_for(cp_router *r, const char *address, bool tls) {
  cp_client *found = NULL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->target_count; i++) {
    if (r->targets[i].tls == tls &&
        strcmp(r->targets[i].address, address) == 0) {
      found = r->targets[i].client;
      break;
    }
  }
  if (found == NULL && r->target_count < r->opts.max_targets &&
      (!tls || r->has_tls)) {
    cp_client_options o;
    cp_client_options_init(&o);
    if (r->opts.max_message_bytes > 0) {
      o.max_message_bytes = r->opts.max_message_bytes;
    }
    o.tls = tls ? &r->tls : NULL;
    target_conn *t = &r->targets[r->target_count];
    if (cp_client_create(&t->client, address, &o) == 0) {
      snprintf(t->address, sizeof t->address, "%s", address);
      t->tls = tls;
      r->target_count++;
      found = t->client;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return found;
}

/* The route of a call, from its path or its routing metadata. */
static int route_of(cp_call *call, cp_route *route) {
  const char *path = cp_call_path(call);
  if (cp_route_from_path(path, route)) {
    return 0;
  }
  cp_str type;
  if (!cp_call_metadata(call, CP_MD_ROUTE_SERVICE_TYPE, &type)) {
    return CP_ENOTFOUND; /* not a routed call */
  }
  cp_str provider = {NULL, 0};
  (void)cp_call_metadata(call, CP_MD_ROUTE_PROVIDER_ID, &provider);
  return cp_route_from_metadata(path, type.ptr, type.len, provider.ptr,
                                provider.len, route)
             ? 0
             : CP_EINVAL;
}

static cp_status_code unavailable(cp_router *r, cp_call *call, const char *what,
                                  const char *id) {
  atomic_fetch_add(&r->unavailable, 1);
  return cp_call_error(call, CP_STATUS_UNAVAILABLE, "provider %s %s", id, what);
}

static cp_status_code route_call(cp_call *call, void *user) {
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
  cp_route_target target;
  memset(&target, 0, sizeof target);
  rc = r->opts.resolve(route.service_type,
                       route.provider_id[0] != '\0' ? route.provider_id : NULL,
                       &target, r->opts.resolve_user);
  if (rc != 0) {
    atomic_fetch_add(&r->not_found, 1);
    return cp_call_error(call, CP_STATUS_NOT_FOUND,
                         "no provider for service \"%s\"", route.service_type);
  }
  if (!target.healthy) {
    return unavailable(r, call, "is unhealthy", target.provider_id);
  }
  char address[ADDRESS_MAX];
  bool tls = false;
  if (!cp_route_target_address(target.address, address, sizeof address, &tls)) {
    return unavailable(r, call, "has no usable address", target.provider_id);
  }
  cp_client *client = client_for(r, address, tls);
  if (client == NULL) {
    return unavailable(r, call, "cannot be reached", target.provider_id);
  }
  cp_metadata md[] = {{CP_MD_CALLER_ID, caller}};
  rc = cp_call_forward(call, client, route.method_path, md, 1);
  if (rc != 0) {
    return unavailable(r, call, "cannot be called", target.provider_id);
  }
  atomic_fetch_add(&r->forwarded, 1);
  if (cp_log_enabled(CP_LOG_INFO)) {
    cp_log(CP_LOG_INFO, "ROUTER routed call", "caller", caller, "service",
           route.service_type, "provider", target.provider_id, "method",
           route.method_path, CP_LOG_END);
  }
  return CP_STATUS_KEEP_OPEN;
}

int cp_router_install(cp_router *router, cp_server *server) {
  if (router == NULL || server == NULL) {
    return CP_EINVAL;
  }
  return cp_server_set_fallback(server, route_call, router);
}
