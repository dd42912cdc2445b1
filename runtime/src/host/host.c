/* A host assembled from the services. The order of the wiring matters:
 * authentication runs before rate limiting (limits key on the identity), and
 * the broker (capability calls) then the router are the fallback for
 * methods the host does not serve itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/host.h"
#include "cplugin/lifecycle.h"
#include "cplugin/log.h"
#include "cplugin/metrics_http.h"
#include "host/host_liveness.h"
#include "host/rate_store_metrics.h"
#include "host/memory_metrics.h"
#include "host/replica_metrics.h"
#include "replica/replicas.h"
#include "ratelimit/peer_key.h"

struct cp_host {
  cp_server *server;
  cp_token_store *tokens;
  cpi_replicas *replicas; /* NULL: identities kept to this host */
  cp_handshake_service *handshake;
  cp_auth *auth;
  cp_rate_policy *rate;
  cp_registry *registry;
  cp_health *health;
  cp_metrics *metrics;
  cp_metrics_http *http;
  cp_router *router;
  cp_broker *broker;
  host_liveness_loop *liveness;
  int64_t liveness_interval_ms;   /* 0 = no liveness thread */
  cpi_host_structures structures; /* what the memory metrics read */
  char *listen;
  const cp_tls_server_options *tls;
  const char *metrics_address;
  int metrics_port;
  bool call_chain;
  bool watching_tokens; /* end_routed_calls is subscribed */
  size_t max_host_request;
  size_t max_register_request;
  bool started;
  bool stopped;
};

void cp_host_options_init(cp_host_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->listen = "127.0.0.1:0";
  cp_server_options_init(&opts->server);
  cp_token_store_options_init(&opts->tokens);
  cp_registry_options_init(&opts->registry);
  cp_router_options_init(&opts->router);
  cp_rate_policy_options_init(&opts->rate);
  opts->rate_limits = true;
  cp_handshake_service_options_init(&opts->handshake);
  cp_broker_options_init(&opts->broker);
  opts->logger_capability = true;
  opts->metrics_address = "127.0.0.1";
  opts->call_chain = true;
  opts->liveness_probe = true;
  opts->max_register_request_bytes = (size_t)512 * 1024;
  opts->max_host_request_bytes = (size_t)64 * 1024;
  opts->server.stream_window_bytes = (size_t)16 * 1024;
  opts->anonymous_reads.total = 4;
  opts->anonymous_reads.per_peer = 1;
  opts->anonymous_reads.stall_ms = 5000;
}

_Static_assert((int)CP_PEER_KEY_MAX == (int)CP_SERVER_PEER_KEY_MAX,
               "the read gate's peer keys are cpi_peer_key's");

/* The resolver hands the router what the registry holds: every field a
 * provider can register must fit a route target, or it could register and
 * never be reached. */
_Static_assert(CP_ROUTE_PROVIDER_ID_MAX >= CP_REGISTRY_OWNER_MAX,
               "a provider ID fits a route target");
_Static_assert(CP_ROUTE_ADDRESS_MAX >= CP_REGISTRY_VALUE_MAX,
               "a registered base_url fits a route target");
_Static_assert(CP_ROUTE_ENDPOINT_PATH_MAX >= CP_REGISTRY_PATH_MAX,
               "an endpoint path fits a route target");

static void peer_address_key(const char *peer, char out[CP_SERVER_PEER_KEY_MAX],
                             void *user) {
  (void)user;
  cpi_peer_key(peer, out);
}

/* Runtime-token checks, timed (sampled) for the metrics. */
static bool timed_token_check(cp_token_store *store, const char *id,
                              size_t id_len, const char *token,
                              size_t token_len, void *user) {
  return cp_metrics_validate_token(user, store, id, id_len, token, token_len);
}

static void count_denial(const cp_call *call, cp_rate_result result,
                         void *user) {
  (void)result;
  cp_metrics_count_rate_limit_denial(user, cp_call_method(call));
}

static int64_t live_buckets(void *user) {
  return (int64_t)cp_rate_limiter_count(cp_rate_policy_limiter(user));
}

static bool health_serving(void *user) {
  return cp_health_serving(user);
}

static int resolve_provider(const char *service_type, const char *provider_id,
                            cp_route_target *out, void *user) {
  cp_registry_endpoint ep;
  int rc = cp_registry_resolve(user, service_type, provider_id, &ep);
  if (rc == CP_EDENIED) {
    /* Known but unhealthy: the router answers UNAVAILABLE. */
    memset(out, 0, sizeof *out);
    snprintf(out->provider_id, sizeof out->provider_id, "%s",
             provider_id != NULL ? provider_id : service_type);
    out->healthy = false;
    return 0;
  }
  if (rc != 0 || !ep.has_base_url) {
    return CP_ENOTFOUND;
  }
  size_t id_len = strlen(ep.provider_id);
  size_t url_len = strlen(ep.base_url);
  size_t path_len = strlen(ep.endpoint_path);
  if (id_len >= sizeof out->provider_id || url_len >= sizeof out->address ||
      path_len >= sizeof out->endpoint_path) {
    /* An address that does not fit is never truncated into another one. */
    return CP_ENOTFOUND;
  }
  memcpy(out->provider_id, ep.provider_id, id_len + 1);
  memcpy(out->address, ep.base_url, url_len + 1);
  memcpy(out->endpoint_path, ep.endpoint_path, path_len + 1);
  out->healthy = true;
  return 0;
}

/* A provider address nobody registers any more: its router connection is
 * closed (another registration on the same address reconnects on use). */
static void forget_target(const char *base_url, void *user) {
  cp_host *h = user;
  if (h->router != NULL) {
    (void)cp_router_forget(h->router, base_url);
  }
}

/* A revoked or expired identity's routed calls end at once, instead of
 * running on with the authority the caller no longer has. */
static void end_routed_calls(const char *runtime_id, cp_token_event event,
                             void *user) {
  (void)event;
  cp_host *h = user;
  (void)cp_router_cancel_caller(h->router, runtime_id);
}

static int create_broker(cp_host *h, const cp_host_options *o) {
  int rc = cp_broker_create(&h->broker, h->tokens, &o->broker);
  if (rc == 0 && o->logger_capability) {
    cp_capability logger;
    cp_logger_capability(&logger);
    rc = cp_broker_add_capability(h->broker, &logger);
  }
  for (size_t i = 0; rc == 0 && i < o->capability_count; i++) {
    rc = o->capabilities != NULL
             ? cp_broker_add_capability(h->broker, &o->capabilities[i])
             : CP_EINVAL;
  }
  return rc;
}

/* Capability calls go to the broker, every other unknown method to the
 * router. */
static cp_status_code fallback(cp_call *call, void *user) {
  cp_host *h = user;
  bool handled = false;
  cp_status_code code = cp_broker_dispatch(h->broker, call, &handled);
  return handled ? code : cp_router_route(call, h->router);
}

static int create_pieces(cp_host *h, const cp_host_options *o) {
  int rc = cp_server_create(&h->server, &o->server);
  if (rc == 0 && o->anonymous_reads.total > 0) {
    cp_anonymous_read_limits limits = o->anonymous_reads;
    if (limits.peer_key == NULL) {
      limits.peer_key = peer_address_key;
    }
    rc = cp_server_limit_anonymous_reads(h->server, &limits);
  }
  if (rc == 0) {
    rc = cp_token_store_create(&h->tokens, &o->tokens);
  }
  if (rc == 0 && o->etcd != NULL) {
    rc = cpi_replicas_create(&h->replicas, o->etcd);
  }
  if (rc == 0) {
    rc = cp_metrics_create(&h->metrics, NULL);
  }
  if (rc == 0) {
    rc = create_broker(h, o);
  }
  if (rc == 0) {
    /* The handshake advertises the broker's capabilities, unless the
     * caller listed its own. */
    cp_handshake_service_options hs = o->handshake;
    hs.tokens = h->tokens;
    cp_capability_info offered[64];
    if (hs.capability_count == 0) {
      hs.capability_count = cp_broker_capabilities(h->broker, offered, 64);
      hs.capabilities = offered;
    }
    rc = cp_handshake_service_create(&h->handshake, &hs);
  }
  if (rc == 0) {
    cp_registry_options ro = o->registry;
    ro.tokens = h->tokens;
    ro.on_removed = forget_target;
    ro.on_removed_user = h;
    if (o->liveness_probe && ro.probe == NULL) {
      ro.probe = cpi_host_probe_health;
      ro.probe_user = NULL;
    }
    rc = cp_registry_create(&h->registry, &ro);
  }
  if (rc == 0) {
    rc = cp_health_create(&h->health, NULL);
  }
  if (rc == 0) {
    rc = cp_auth_create(&h->auth);
  }
  if (rc == 0 && o->rate_limits) {
    cp_rate_policy_options ro = o->rate;
    ro.on_deny = count_denial;
    ro.on_deny_user = h->metrics;
    rc = cp_rate_policy_create(&h->rate, &ro);
  }
  if (rc == 0) {
    cp_router_options ro = o->router;
    ro.resolve = resolve_provider;
    ro.resolve_user = h->registry;
    rc = cp_router_create(&h->router, &ro);
  }
  if (rc == 0) {
    rc = cp_token_store_subscribe(h->tokens, end_routed_calls, h);
    h->watching_tokens = rc == 0;
  }
  if (rc == 0) {
    cp_broker_set_router(h->broker, h->router);
  }
  return rc;
}

static int wire(cp_host *h) {
  /* A capability call carries a grant's token where a runtime token would
   * be: the grant check comes first and passes other calls on. */
  int rc = cp_broker_add_auth(h->broker, h->auth);
  if (rc == 0) {
    rc = cp_auth_add_runtime_tokens(h->auth, h->tokens);
  }
  if (rc == 0) {
    rc = cp_auth_set_token_check(h->auth, timed_token_check, h->metrics);
  }
  if (rc == 0) {
    rc = cp_auth_open_host_methods(h->auth);
  }
  /* The phases order the chain (who the caller is, then limits). Without
   * the call chain (measurements only) the pieces exist, so the
   * accessors keep working, but none of them sees a call. */
  if (rc == 0 && h->call_chain) {
    rc = cp_auth_register(h->auth, h->server);
  }
  if (rc == 0 && h->rate != NULL && h->call_chain) {
    rc = cp_rate_policy_register(h->rate, h->server);
  }
  if (rc == 0 && h->rate != NULL) {
    rc =
        cp_metrics_attach_rate_limit_buckets(h->metrics, live_buckets, h->rate);
  }
  if (rc == 0 && h->rate != NULL) {
    rc = cpi_host_attach_rate_store_metrics(cp_metrics_registry(h->metrics),
                                            h->rate);
  }
  if (rc == 0 && h->call_chain) {
    rc = cp_metrics_register(h->metrics, h->server);
  }
  /* /readyz follows the overall health status as well as start/shutdown. */
  cp_metrics_set_ready_check(h->metrics, health_serving, h->health);
  if (rc == 0) {
    rc = cp_metrics_attach_token_store(h->metrics, h->tokens);
  }
  if (rc == 0) {
    rc = cp_metrics_attach_handshake(h->metrics, h->handshake);
  }
  if (rc == 0 && h->replicas != NULL) {
    rc = cpi_host_attach_replica_metrics(cp_metrics_registry(h->metrics),
                                         h->replicas);
  }
  if (rc == 0) {
    h->structures.tokens = h->tokens;
    h->structures.rate = h->rate;
    h->structures.registry = h->registry;
    h->structures.router = h->router;
    h->structures.server = h->server;
    h->structures.liveness_swept = h->liveness_interval_ms > 0;
    rc = cpi_host_attach_memory_metrics(cp_metrics_registry(h->metrics),
                                        &h->structures);
  }
  if (rc == 0) {
    rc = cp_handshake_service_register(h->handshake, h->server);
  }
  if (rc == 0) {
    rc = cp_registry_register(h->registry, h->server);
  }
  if (rc == 0) {
    rc = cp_lifecycle_register(h->registry, h->server);
  }
  if (rc == 0) {
    rc = cp_health_register(h->health, h->server);
  }
  if (rc == 0) {
    rc = cp_broker_register(h->broker, h->server);
  }
  if (rc == 0) {
    rc = cp_broker_attach_metrics(h->broker, h->metrics);
  }
  if (rc == 0) {
    rc = cp_server_set_fallback(h->server, fallback, h);
  }
  /* The host's services take small requests: a peer cannot make it buffer
   * and decode megabytes for a health check. The more specific cap last. */
  static const char *const own[] = {"/connectplugin.", "/grpc.health."};
  for (size_t i = 0; rc == 0 && i < sizeof own / sizeof own[0]; i++) {
    rc = cp_server_limit_requests(h->server, own[i], h->max_host_request);
  }
  if (rc == 0) {
    rc = cp_server_limit_requests(h->server, CP_RATE_REGISTER_PATH,
                                  h->max_register_request);
  }
  return rc;
}

int cp_host_create(cp_host **out, const cp_host_options *opts) {
  if (out == NULL || opts == NULL || opts->listen == NULL ||
      opts->max_host_request_bytes == 0 ||
      opts->max_register_request_bytes == 0) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_host *h = calloc(1, sizeof *h);
  if (h == NULL) {
    return CP_ENOMEM;
  }
  h->listen = strdup(opts->listen);
  h->tls = opts->tls;
  h->metrics_address = opts->metrics_address;
  h->metrics_port = opts->metrics_port;
  h->call_chain = opts->call_chain;
  h->liveness_interval_ms = opts->registry.lease_interval_ms;
  h->structures.tokens_swept = opts->tokens.sweep_interval_ms > 0;
  h->structures.buckets_swept = opts->rate.limiter.sweep_interval_ms > 0;
  h->max_host_request = opts->max_host_request_bytes;
  h->max_register_request = opts->max_register_request_bytes;
  if (!h->call_chain) {
    cp_log(CP_LOG_WARN,
           "host call chain is OFF: no authentication, rate limiting or call "
           "metrics (for measuring the chain's cost only)",
           CP_LOG_END);
  }
  int rc = h->listen == NULL ? CP_ENOMEM : create_pieces(h, opts);
  if (rc == 0) {
    rc = wire(h);
  }
  if (rc != 0) {
    cp_host_destroy(h);
    return rc;
  }
  *out = h;
  return 0;
}

int cp_host_start(cp_host *h, int *port, int *metrics_port) {
  if (h == NULL) {
    return CP_EINVAL;
  }
  if (h->started) {
    return CP_ESTATE;
  }
  int bound = 0;
  int rc = cp_broker_start(h->broker);
  if (rc == 0) {
    rc = h->tls != NULL
             ? cp_server_listen_tls(h->server, h->listen, h->tls, &bound)
             : cp_server_listen(h->server, h->listen, &bound);
  }
  if (rc == 0) {
    rc = cp_server_start(h->server);
  }
  int http_port = 0;
  if (rc == 0 && h->metrics_address != NULL) {
    rc = cp_metrics_http_start(&h->http, h->metrics, h->metrics_address,
                               h->metrics_port, &http_port);
  }
  if (rc == 0 && h->liveness_interval_ms > 0) {
    rc = cpi_host_liveness_start(&h->liveness, h->registry,
                                 h->liveness_interval_ms);
  }
  if (rc == 0 && h->replicas != NULL) {
    /* Now: its etcd client's I/O runs on the server's threads. */
    rc = cpi_replicas_run(h->replicas, h->tokens, h->registry);
  }
  if (rc != 0) {
    return rc;
  }
  h->started = true;
  cp_metrics_set_ready(h->metrics, true);
  if (port != NULL) {
    *port = bound;
  }
  if (metrics_port != NULL) {
    *metrics_port = http_port;
  }
  cp_log(CP_LOG_INFO, "host started", "listen", h->listen, CP_LOG_END);
  return 0;
}

int cp_host_shutdown(cp_host *h, int64_t grace_ms) {
  if (h == NULL) {
    return CP_EINVAL;
  }
  if (!h->started || h->stopped) {
    return 0;
  }
  h->stopped = true;
  /* While the server still runs the etcd client's I/O. What this replica
   * changes from here on stays its own. */
  cpi_replicas_halt(h->replicas);
  cpi_host_liveness_stop(h->liveness);
  h->liveness = NULL;
  cp_metrics_set_ready(h->metrics, false);
  cp_health_shutdown(h->health);
  int rc = cp_server_shutdown(h->server, grace_ms);
  cp_broker_shutdown(h->broker, grace_ms);
  return rc;
}

void cp_host_destroy(cp_host *h) {
  if (h == NULL) {
    return;
  }
  cp_host_shutdown(h, 0);
  cp_server_destroy(h->server);      /* first: nothing may call into the rest */
  cpi_replicas_destroy(h->replicas); /* halted at shutdown */
  cp_metrics_http_destroy(h->http);
  if (h->watching_tokens) {
    (void)cp_token_store_unsubscribe(h->tokens, end_routed_calls, h);
  }
  cp_router_destroy(h->router);
  h->router = NULL;             /* the registry's removal hook checks it */
  cp_broker_destroy(h->broker); /* before the token store it listens to */
  cp_rate_policy_destroy(h->rate);
  cp_auth_destroy(h->auth);
  cp_health_destroy(h->health);
  cp_registry_destroy(h->registry);
  cp_handshake_service_destroy(h->handshake);
  cp_token_store_destroy(h->tokens);
  cp_metrics_destroy(h->metrics);
  free(h->listen);
  free(h);
}

cp_server *cp_host_server(cp_host *h) {
  return h->server;
}
cp_token_store *cp_host_tokens(cp_host *h) {
  return h->tokens;
}
cp_auth *cp_host_auth(cp_host *h) {
  return h->auth;
}
cp_rate_policy *cp_host_rate_policy(cp_host *h) {
  return h->rate;
}
cp_registry *cp_host_registry(cp_host *h) {
  return h->registry;
}
cp_health *cp_host_health(cp_host *h) {
  return h->health;
}
cp_metrics *cp_host_metrics(cp_host *h) {
  return h->metrics;
}
cp_router *cp_host_router(cp_host *h) {
  return h->router;
}
cp_broker *cp_host_broker(cp_host *h) {
  return h->broker;
}
int cp_host_replica_stats(cp_host *h, cp_replica_stats *out) {
  if (h == NULL || out == NULL) {
    return CP_EINVAL;
  }
  if (h->replicas == NULL) {
    return CP_ENOTFOUND;
  }
  cpi_replicas_stats(h->replicas, out);
  return 0;
}
