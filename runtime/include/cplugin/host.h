/* cplugin — a host assembled from the services, with the defaults a host
 * needs: runtime identities (token store + handshake), authentication
 * (health open; Handshake optional: an API key or client certificate
 * presented there is recorded as the identity's principal, which the
 * registry's allow-lists key on; add keys with cp_auth_add_api_key on
 * cp_host_auth, or cp_auth_add_mtls; everything else requires a runtime
 * token),
 * per-method rate limits, the service registry and lifecycle, health (both
 * health services), the router for plugin-to-plugin calls, and metrics with
 * /metrics, /healthz and /readyz.
 *
 * Each piece stays usable on its own (a cp_host only wires them together:
 * auth and rate limiting as interceptors in their phases; metrics as a
 * post-call hook; the router as the fallback). Reach a piece with the accessors to configure
 * it further before cp_host_start.
 *
 *   cp_host_options o;
 *   cp_host_options_init(&o);
 *   o.listen = "127.0.0.1:8080";
 *   cp_host *h;
 *   cp_host_create(&h, &o);
 *   int port;
 *   cp_host_start(h, &port, NULL);   // NULL: the metrics port not wanted
 *   ...
 *   cp_host_shutdown(h, 5000);
 *   cp_host_destroy(h);
 *
 * Thread safety: create, configure, start, shut down and destroy from one
 * thread; the server runs on its own threads meanwhile.
 */
#ifndef CPLUGIN_HOST_H
#define CPLUGIN_HOST_H

#include <stdbool.h>

#include "cplugin/export.h"
#include "cplugin/auth.h"
#include "cplugin/broker.h"
#include "cplugin/handshake.h"
#include "cplugin/health.h"
#include "cplugin/metrics.h"
#include "cplugin/ratelimit_policy.h"
#include "cplugin/registry.h"
#include "cplugin/replicas.h"
#include "cplugin/router.h"
#include "cplugin/server.h"
#include "cplugin/tls.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_host_options {
  const char *listen;               /* default "127.0.0.1:0" */
  const cp_tls_server_options *tls; /* NULL = plaintext */
  cp_server_options server;
  cp_token_store_options tokens;
  /* Its `tokens` is set by the host. Provider liveness: the host runs
   * cp_registry_check_liveness every registry.lease_interval_ms (default
   * 2000; 0 = off) on a thread of its own, from cp_host_start to
   * cp_host_shutdown; lease_misses, gone_grace_ms and clock apply as
   * documented in cplugin/registry.h. */
  cp_registry_options registry;
  /* Probe silent providers with grpc.health.v1 Check on their plaintext
   * base_url (default true; a registry.probe set by the caller wins).
   * false: only providers that reported health and stopped lapse. */
  bool liveness_probe;
  /* The router's limits (cplugin/router.h: connected providers, forwarded
   * deadlines, routed calls in flight in total and per caller, TLS to
   * https:// providers). Its resolve and resolve_user are set by the host
   * (the registry); everything else is used as given. */
  cp_router_options router;
  cp_rate_policy_options rate; /* host defaults on */
  /* Identities shared with the other replicas of this host through etcd
   * (cplugin/replicas.h); read by cp_host_create (the secret is copied).
   * NULL = this host keeps them to itself (default). */
  const cp_etcd_options *etcd;
  bool rate_limits; /* default true */
  /* Handshake: cookie, accepted app versions, server metadata. Its plugin
   * and capability lists may be filled too (a capability list given here
   * replaces the broker's in the handshake); `tokens` is set by the
   * host. */
  cp_handshake_service_options handshake;
  /* The capability broker (cplugin/broker.h): grant lifetimes and caps,
   * and the capabilities the host offers besides the logger (which
   * logger_capability, default true, adds). Its RequestCapability, grant
   * authentication and /capabilities/ routing are wired by the host, and
   * the handshake advertises its capabilities. */
  cp_broker_options broker;
  const cp_capability *capabilities;
  size_t capability_count;
  bool logger_capability;
  /* Request size caps of the host's own services (checked before decoding,
   * RESOURCE_EXHAUSTED above): RegisterService (default 512 KiB: 100
   * metadata values of up to 4 KiB) and every other connectplugin.* and
   * grpc.health.* method (default 64 KiB). Routed calls keep
   * server.max_message_bytes. */
  size_t max_register_request_bytes;
  size_t max_host_request_bytes;
  /* Request reads of calls that carry no valid token (handshakes,
   * anonymous health checks): cp_server_limit_anonymous_reads with peers
   * counted by address (an IPv6 /64 as one). Default 4 slots, 1 per
   * address, a read that stalls 5 s while others wait is cancelled. With
   * server.stream_window_bytes (host default 16 KiB) this bounds what an
   * anonymous peer makes the host hold: 4 MiB requests on 128 streams cost
   * 16 KiB per waiting stream and one message at a time, instead of 4 MiB
   * per stream. total 0 = not limited. */
  cp_anonymous_read_limits anonymous_reads;
  /* Metrics over HTTP (/metrics, /healthz, /readyz): address to bind, NULL
   * = no listener (default "127.0.0.1"), port 0 = any free port. */
  const char *metrics_address;
  int metrics_port;
  /* The per-call chain: the auth interceptor, the rate-limit interceptor and
   * the metrics post-call hook (default true). FOR MEASURING THE CHAIN'S
   * COST ONLY: false leaves all three off the server, so nothing is
   * authenticated (no runtime token is needed for any method, and methods
   * that need the caller's identity, such as the registry's, refuse every
   * call), nothing is rate limited and no call is counted in the metrics.
   * cp_host_create logs a warning when it is false. The services, the
   * handshake, the router and the HTTP listener stay as they are. */
  bool call_chain;
} cp_host_options;

CP_API void cp_host_options_init(cp_host_options *opts);

typedef struct cp_host cp_host;

/* Creates every piece and wires them to one server (not yet listening).
 * Returns 0, CP_EINVAL, CP_ENOMEM, CP_EBIND (address) or an error of a
 * piece. */
CP_API int cp_host_create(cp_host **out, const cp_host_options *opts);

/* Starts serving; *port (if not NULL) receives the bound port and
 * *metrics_port the HTTP listener's. Marks the host ready. */
CP_API int cp_host_start(cp_host *host, int *port, int *metrics_port);

/* Marks the host not ready (/readyz 503, health NOT_SERVING), then stops the
 * server with the grace period (cp_server_shutdown). Idempotent. */
CP_API int cp_host_shutdown(cp_host *host, int64_t grace_ms);

/* Shuts down if needed and frees every piece. NULL allowed. */
CP_API void cp_host_destroy(cp_host *host);

/* The pieces, for further configuration (before start) or inspection. They
 * belong to the host. */
CP_API cp_server *cp_host_server(cp_host *host);
CP_API cp_token_store *cp_host_tokens(cp_host *host);
CP_API cp_auth *cp_host_auth(cp_host *host);
CP_API cp_rate_policy *cp_host_rate_policy(cp_host *host); /* NULL when off */
CP_API cp_registry *cp_host_registry(cp_host *host);
CP_API cp_health *cp_host_health(cp_host *host);
CP_API cp_metrics *cp_host_metrics(cp_host *host);
CP_API cp_router *cp_host_router(cp_host *host);
CP_API cp_broker *cp_host_broker(cp_host *host);

/* The state of the host's link to its replicas (cp_host_options.etcd).
 * Any thread. Returns 0, CP_ENOTFOUND when the host has none, or
 * CP_EINVAL. */
CP_API int cp_host_replica_stats(cp_host *host, cp_replica_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_HOST_H */
