/* cplugin — the service registry (connectplugin.v1.ServiceRegistry):
 * plugins publish the services they serve, find providers of the services
 * they need and watch them; the host resolves providers for its router.
 *
 * Identity. Every RPC must be authenticated by the auth interceptor installed
 * before it (cp_auth with runtime tokens). The registry takes the caller
 * only from cp_call_identity: identities from the "runtime-token" provider
 * (or the providers listed in the options) are runtimes; an identity from
 * the host provider (default "host", e.g. set by a custom validator for the
 * operator's tooling) is the host. The x-plugin-runtime-id header is never
 * read. A call without such an identity is UNAUTHENTICATED.
 *
 * RegisterService. Validated as upstream (INVALID_ARGUMENT naming the
 * field): service_type 1..128 identifier characters ([A-Za-z][A-Za-z0-9_.-]*)
 * without "..", "/" or "\"; version a semantic version ("1.2.3",
 * "1.0.0-rc.1", at most 64 bytes); endpoint_path non-empty, starting with
 * "/", at most 256 bytes; metadata at most 100 entries, keys 1..256
 * identifier characters, values at most 4096 bytes; metadata "weight", when
 * present, a positive integer up to CP_REGISTRY_MAX_WEIGHT. Then:
 *   - authorization: a runtime may register the types of its allow-list
 *     entry (cp_registry_allow), found by what was authenticated: its
 *     runtime ID, else the principal its handshake presented (an API key's
 *     name, a client certificate's subject), else — only when the operator
 *     opted in with allow_self_id_keys — the self_id it claimed. Otherwise
 *     PERMISSION_DENIED "plugin <id> not authorized to register service type
 *     <type>" (plus ": <reason>" when it has no entry). Without an entry,
 *     the DEVELOPMENT DEFAULT allows every valid type; set
 *     require_allow_list for production, which denies runtimes without an
 *     entry, so an anonymous handshake's runtime registers nothing unless
 *     the operator named its runtime ID;
 *   - the same (runtime, type, endpoint_path) again returns the existing
 *     registration ID and changes nothing (idempotent; to change the version
 *     or metadata, unregister first);
 *   - caps: registrations per runtime (64), bytes per runtime (1 MiB) and
 *     in total (65 536) → RESOURCE_EXHAUSTED;
 *   - the ID is "reg-" + 16 hex digits from the CSPRNG.
 * UnregisterService. Unknown ID → NOT_FOUND "registration not found: <id>".
 * Only the owning runtime or the host may remove a registration: another
 * runtime gets PERMISSION_DENIED, whose message names neither the owner nor
 * the type (IDs are 64 random bits, so a non-owner can only know one it was
 * shown).
 * DiscoverService. Providers of the type whose version is at least
 * min_version (SemVer 2.0 precedence, "" = any) and whose runtime is not
 * UNHEALTHY (nor GONE, see Liveness) (DEGRADED and never-reported are routed, as upstream's
 * ShouldRouteTraffic), picked by the type's strategy. NOT_FOUND messages as
 * upstream: no providers for service "<t>" / no compatible providers for
 * service "<t>" (min version: <v>) / no available providers for service
 * "<t>" (all unhealthy). single_provider = exactly one registration of the
 * type (health and version ignored, as upstream). endpoint_url =
 * "/services/<type>/<provider runtime ID>".
 * WatchService. An initial event, then an event whenever the answer for the
 * type changes: a registration or unregistration, a health report, a
 * runtime's removal, revocation or expiry, a runtime found GONE or back, a
 * takeover. UNAVAILABLE (no endpoint) when no
 * provider is routable; otherwise the FIRST routable provider in
 * registration order (deterministic, whatever the type's strategy), DEGRADED
 * when that runtime reported DEGRADED, else AVAILABLE. Unchanged answers are
 * not repeated. Each event is encoded once and its bytes shared by every
 * watcher. A watcher holds at most two events: the one its stream is
 * writing and one pending; newer events replace the pending one, sent once
 * the write is over (on the next change, or retried every
 * watch_retry_interval_ms), so a slow watcher skips intermediate states but
 * always ends with the latest.
 * Watchers per runtime (16) and in total (4096) are capped →
 * RESOURCE_EXHAUSTED. A revoked or expired runtime's own watch streams end
 * with UNAUTHENTICATED; a removed runtime's with UNAVAILABLE.
 *
 * Liveness (docs/registry.md "Liveness"). A runtime with registrations
 * proves it is alive by registering, by reporting its health, or by
 * answering a probe of its base_url; cp_registry_check_liveness (the host
 * calls it every lease_interval_ms) probes runtimes silent for one interval
 * and declares GONE a runtime nothing proved alive for lease_misses
 * intervals: a probe failed, or, for a runtime that cannot be probed, it
 * had reported health before and stopped. A runtime that never reported and
 * cannot be probed is never declared gone. A GONE runtime is at once out of
 * routing, discovery and watch answers (watchers see UNAVAILABLE or the
 * next provider); it is removed gone_grace_ms later unless it proves alive
 * first. A runtime so removed whose token is still good (a plugin paused
 * that long) is answered UNAVAILABLE "runtime is gone" by ReportHealth
 * until it registers or watches again, so that it rejoins (the C runtime
 * does, as after a lost link) instead of reporting on unregistered; not
 * once a successor (see Takeover) registered, nor after a removal the host
 * asked for. The last 1024 such runtimes are remembered.
 * Takeover. A runtime registering a type (RegisterService) takes over the
 * registrations of that type that runtimes with the same self_id (runtime
 * IDs "<self_id>-<16 hex>") and the same principal made over RPC: they are
 * removed at once, whatever the strategy, so a restarted plugin replaces
 * its dead predecessor. Replicas of one service need distinct self_ids.
 * Registrations the host makes (cp_registry_register_as_host) neither take
 * over nor are taken over.
 *
 * Tokens. When options.tokens is set, a revoked or expired runtime's
 * registrations and health are removed (its watchers' streams end) and
 * watchers of the affected types are told; a call that raced with the
 * revocation is undone.
 *
 * Thread safety: every function may be called from any thread once the
 * registry is created, except cp_registry_destroy and the registration on a
 * server (before cp_server_start). Lookups (cp_registry_resolve, Discover)
 * take a per-thread read lock shard, so readers never wait for each other;
 * writes (register, unregister, health, removal) take every shard.
 */
#ifndef CPLUGIN_REGISTRY_H
#define CPLUGIN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/clock.h"
#include "cplugin/server.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lengths (bytes, without the NUL). */
#define CP_REGISTRY_ID_LEN 20          /* "reg-" + 16 hex digits */
#define CP_REGISTRY_OWNER_MAX 256      /* a runtime ID or host identity */
#define CP_REGISTRY_TYPE_MAX 128       /* service type */
#define CP_REGISTRY_VERSION_MAX 64     /* version */
#define CP_REGISTRY_PATH_MAX 256       /* endpoint path */
#define CP_REGISTRY_VALUE_MAX 4096     /* metadata value (base_url) */
#define CP_REGISTRY_MAX_WEIGHT 1000000 /* metadata "weight" */

/* Health report limits (INVALID_ARGUMENT beyond them). */
#define CP_HEALTH_REASON_MAX 1024
#define CP_HEALTH_MAX_DEPENDENCIES 64
#define CP_HEALTH_DEPENDENCY_MAX 128

typedef struct cp_registry cp_registry;

/* How DiscoverService and cp_registry_resolve pick among the routable
 * providers of a type (values as upstream's SelectionStrategy). */
typedef enum cp_select_strategy {
  CP_SELECT_FIRST = 0,       /* the first in registration order (default) */
  CP_SELECT_ROUND_ROBIN = 1, /* each in turn */
  CP_SELECT_RANDOM = 2,      /* uniformly at random */
  CP_SELECT_WEIGHTED = 3     /* at random, in proportion to "weight" */
} cp_select_strategy;

/* A runtime's self-reported health (values as the wire's HealthState). */
typedef enum cp_plugin_health {
  CP_PLUGIN_HEALTH_UNKNOWN = 0, /* never reported: routed */
  CP_PLUGIN_HEALTH_HEALTHY = 1,
  CP_PLUGIN_HEALTH_DEGRADED = 2, /* routed */
  CP_PLUGIN_HEALTH_UNHEALTHY = 3 /* not routed, not discovered */
} cp_plugin_health;

/* What a plugin may register as metadata "base_url", the address the router
 * forwards its calls to (flags for cp_registry_options.base_url_allow). The
 * host's own registrations (cp_registry_register_as_host) are not checked.
 * Accepted forms: "host:port", "[v6]:port", "http://", "https://" or
 * "grpc://" + host:port, optional trailing '/'. */
enum {
  /* 127.0.0.0/8, ::1 (also IPv4-mapped) or "localhost". */
  CP_BASE_URL_LOOPBACK = 1u << 0,
  /* The IP address the registering connection comes from (an IP literal). */
  CP_BASE_URL_PEER = 1u << 1,
  /* Any host:port, host names included: for hosts that route across
   * machines and trust their plugins' addresses. */
  CP_BASE_URL_ANY_HOST = 1u << 2,
  /* "unix:/path" and "unix-abstract:name". */
  CP_BASE_URL_UNIX = 1u << 3,
  /* gRPC resolver targets ("dns:", "ipv4:a:1,b:2" lists, ...). */
  CP_BASE_URL_GRPC_TARGET = 1u << 4,
  /* "inproc:<name>": a plugin compiled into the host and served without a
   * listener (cp_in_process_plugin, launcher.h); the router reaches it only
   * through its connector (cp_router_set_connector). Never accepted by
   * CP_BASE_URL_GRPC_TARGET alone. Only the runtime whose principal is
   * "launch:" + the rest ("inproc:a/2" needs "launch:a/2", what the
   * launcher issues) may register one: PERMISSION_DENIED for others. */
  CP_BASE_URL_INPROC = 1u << 5
};

/* The answer of a liveness probe. */
typedef enum cp_probe_result {
  CP_PROBE_ALIVE = 0,  /* the provider's server answered */
  CP_PROBE_DEAD = 1,   /* unreachable or no answer in time */
  CP_PROBE_UNKNOWN = 2 /* not probed (e.g. a scheme the prober lacks) */
} cp_probe_result;

/* Probes `n` provider addresses (metadata "base_url" values) and writes one
 * result each; returns when every result is known, within about
 * `timeout_ms`. Called by cp_registry_check_liveness without the registry's
 * lock, from the thread that calls it. */
typedef void (*cp_registry_probe_fn)(const char *const *base_urls, size_t n,
                                     cp_probe_result *results,
                                     int64_t timeout_ms, void *user);

/* Returns uniformly distributed 64-bit values, from any thread. */
typedef uint64_t (*cp_registry_random_fn)(void *user);

/* Told that a registration with a base_url was removed (see on_removed). */
typedef void (*cp_registry_removed_fn)(const char *base_url, void *user);

typedef struct cp_registry_options {
  /* Revocation and expiry of these tokens remove the runtime's state (see
   * above). Not owned; it must outlive the registry. NULL = the host removes
   * runtimes itself with cp_registry_remove_runtime. */
  cp_token_store *tokens;
  /* false (the development default): a runtime without an allow-list entry
   * may register any valid type. true: it may register none. */
  bool require_allow_list;
  /* The three per-runtime caps act as at most UINT32_MAX. */
  /* Accept "self_id:<self_id>" allow-list keys (default false). A self_id is
   * the plugin's own claim, not authentication: any runtime that names
   * itself so gets the entry. For development, or behind a handshake that
   * only trusted plugins can reach. */
  bool allow_self_id_keys;
  size_t max_registrations_per_runtime; /* default 64 */
  size_t max_bytes_per_runtime;         /* stored bytes, default 1 MiB */
  size_t max_registrations;             /* in total, default 65 536 */
  /* Stored registration bytes in total (default 64 MiB): with many
   * runtimes, the per-runtime byte cap alone would not bound the whole. */
  size_t max_bytes;
  size_t max_watchers_per_runtime; /* default 16 */
  size_t max_watchers;             /* in total, default 4096 */
  /* How often an event held back while its watch stream is still writing
   * the previous one is tried again (default 50 ms). */
  int64_t watch_retry_interval_ms;
  /* Identity providers whose identities are runtimes; none = just
   * "runtime-token". Copied. */
  const char *const *runtime_providers;
  size_t runtime_provider_count;
  /* The identity provider that marks the host itself (default "host"; ""
   * = none). Copied. */
  const char *host_provider;
  /* Random selection: `random` returns uniformly distributed 64-bit values
   * (called from any thread); NULL = a built-in generator seeded with
   * `random_seed`, or from the CSPRNG when that is 0. Tests set a seed. */
  cp_registry_random_fn random;
  void *random_user;
  uint64_t random_seed;
  /* CP_BASE_URL_* flags (default LOOPBACK | PEER; 0 refuses every
   * base_url). A malformed base_url is INVALID_ARGUMENT, one outside the
   * policy PERMISSION_DENIED. */
  unsigned base_url_allow;
  /* Called for each removed registration that had a base_url (unregistered,
   * or its runtime removed), after the change is visible, outside the
   * registry's lock, on the thread that removed it; must not call back into
   * the registry. A host closes the router's connection there. */
  cp_registry_removed_fn on_removed;
  void *on_removed_user;
  /* Liveness (see above). lease_interval_ms (default 2000; 0 = never
   * declare a runtime gone): how long a runtime may stay silent before it
   * is probed, and the probe's timeout. lease_misses (default 3, at least
   * 1): silent intervals without proof of life before GONE. gone_grace_ms
   * (default 30000, >= 0): how long a GONE runtime stays (unrouted) before
   * it is removed. At most a day per interval, 1000 misses and 30 days of
   * grace (CP_EINVAL beyond). */
  int64_t lease_interval_ms;
  uint32_t lease_misses;
  int64_t gone_grace_ms;
  /* NULL = no probes: only runtimes that reported health can lapse. The
   * host sets a grpc.health.v1 prober. */
  cp_registry_probe_fn probe;
  void *probe_user;
  /* Time for leases and grace (NULL = the system clock). Not owned; it must
   * outlive the registry. */
  const cp_clock *clock;
} cp_registry_options;

/* Fills `opts` with the defaults. */
CP_API void cp_registry_options_init(cp_registry_options *opts);

/* Creates a registry. `opts` may be NULL; it is copied. With opts->tokens,
 * subscribes to it (a token store takes at most 16 subscribers; a destroyed
 * registry's subscription stays inert). Returns 0, CP_EINVAL, CP_ENOMEM,
 * CP_ELIMIT (no subscriber slot left) or CP_ESYS (random source). Destroy
 * with cp_registry_destroy. */
CP_API int cp_registry_create(cp_registry **out,
                              const cp_registry_options *opts);

/* Ends every open watch stream (UNAVAILABLE) and frees everything. Call
 * after the servers it is registered on have shut down. NULL allowed. */
CP_API void cp_registry_destroy(cp_registry *reg);

/* Registers ServiceRegistry's four methods on `server` (before
 * cp_server_start). The registry must outlive the server. Returns as
 * cp_server_add_method. */
CP_API int cp_registry_register(cp_registry *reg, cp_server *server);

/* Sets the allow-list entry for `key`, one of:
 *   - a principal, "<provider>:<identity>" as cp_call_principal writes it:
 *     "api-key:<name given to cp_auth_add_api_key>", "mtls:<certificate CN,
 *     or first SAN>", "<validator name>:<identity>". Covers every runtime
 *     whose handshake authenticated so (and runtimes that a non-token
 *     runtime provider authenticates so). Compared exactly;
 *   - a runtime ID ("<self_id lower-cased>-<16 hex>"): that one runtime;
 *   - "self_id:<self_id>": every runtime that CLAIMS that self_id; only with
 *     options.allow_self_id_keys (else CP_EDENIED).
 * Lookup order: runtime ID, then principal, then self_id. `types` (copied)
 * are exact service types, or "*" for any; n == 0 allows none. Replaces an
 * earlier entry for the key; already registered services stay. Returns 0,
 * CP_EINVAL (a key or type that is not valid: a bare name that is not a
 * runtime ID, a "runtime-token:" principal, control characters, over
 * CP_PRINCIPAL_MAX bytes), CP_EDENIED or CP_ENOMEM. */
CP_API int cp_registry_allow(cp_registry *reg, const char *key,
                             const char *const *types, size_t n);

/* Sets the strategy for `service_type` (kept even while it has no
 * providers). Returns 0 or CP_EINVAL. */
CP_API int cp_registry_set_strategy(cp_registry *reg, const char *service_type,
                                    cp_select_strategy strategy);

/* A registration made by the host on a runtime's behalf (in-process
 * plugins, tests). Strings are copied. */
typedef struct cp_registry_service {
  const char *type;
  const char *version;
  const char *endpoint_path;
  const cp_metadata *metadata;
  size_t metadata_count;
} cp_registry_service;

/* Registers `svc` owned by `owner` (a runtime ID): the RPC's validation,
 * idempotency and caps apply, the allow-list does not (the host is
 * trusted). Writes the registration ID (CP_REGISTRY_ID_LEN chars + NUL) to
 * id_out if not NULL. Returns 0, CP_EINVAL (invalid field), CP_ELIMIT (a
 * cap), CP_ENOMEM or CP_ESYS (random source). */
CP_API int cp_registry_register_as_host(cp_registry *reg, const char *owner,
                                        const cp_registry_service *svc,
                                        char id_out[CP_REGISTRY_ID_LEN + 1]);

/* Removes a registration whoever owns it. Returns 0 or CP_ENOTFOUND. */
CP_API int cp_registry_unregister_as_host(cp_registry *reg,
                                          const char *registration_id);

/* Removes everything of a runtime (a plugin the host stopped): its
 * registrations and health; its watch streams end with UNAVAILABLE;
 * watchers of its types are told. Returns 0 or CP_ENOTFOUND. */
CP_API int cp_registry_remove_runtime(cp_registry *reg, const char *runtime_id);

/* Stops routing to a runtime the host is about to stop (removal,
 * replacement): its registrations stay, so calls already routed to it
 * finish, but resolve and discovery skip it from now on and watchers of its
 * types are told as for UNHEALTHY. Its own health reports do not undo it;
 * it ends with the runtime. Returns 0, CP_EINVAL or CP_ENOTFOUND. */
CP_API int cp_registry_drain_runtime(cp_registry *reg, const char *runtime_id);

/* Records a runtime's health, as PluginLifecycle.ReportHealth does:
 * `state` HEALTHY, DEGRADED or UNHEALTHY; reason (NULL = "") at most
 * CP_HEALTH_REASON_MAX bytes; at most CP_HEALTH_MAX_DEPENDENCIES
 * dependencies of at most CP_HEALTH_DEPENDENCY_MAX bytes. Strings are
 * copied. Watchers of the runtime's types are told when their answer
 * changes. Returns 0, CP_EINVAL or CP_ENOMEM. */
CP_API int cp_registry_report_health(cp_registry *reg, const char *runtime_id,
                                     cp_plugin_health state, const char *reason,
                                     const char *const *dependencies,
                                     size_t dependency_count);

/* A copy of a runtime's last health report (~9 KiB: keep it off small
 * stacks). */
typedef struct cp_plugin_health_report {
  cp_plugin_health state;
  char reason[CP_HEALTH_REASON_MAX + 1];
  size_t dependency_count;
  char dependencies[CP_HEALTH_MAX_DEPENDENCIES][CP_HEALTH_DEPENDENCY_MAX + 1];
} cp_plugin_health_report;

/* Copies the last report of `runtime_id` into *out. Returns 0, or
 * CP_ENOTFOUND when it never reported (or was removed). */
CP_API int cp_registry_get_health(cp_registry *reg, const char *runtime_id,
                                  cp_plugin_health_report *out);

/* Where to send a call for a service: filled by cp_registry_resolve in
 * memory the caller owns (~4.7 KiB). */
typedef struct cp_registry_endpoint {
  char provider_id[CP_REGISTRY_OWNER_MAX + 1]; /* the provider's runtime ID */
  char registration_id[CP_REGISTRY_ID_LEN + 1];
  char version[CP_REGISTRY_VERSION_MAX + 1];
  char endpoint_path[CP_REGISTRY_PATH_MAX + 1];
  /* A copy of metadata "base_url" (where the provider serves), "" when the
   * registration has none. */
  char base_url[CP_REGISTRY_VALUE_MAX + 1];
  bool has_base_url;
  cp_plugin_health health; /* HEALTHY, DEGRADED or UNKNOWN */
} cp_registry_endpoint;

/* The in-process lookup for the router. provider_id NULL: a provider of
 * `service_type` chosen by the type's strategy among the routable ones
 * (advancing round-robin); otherwise that runtime's first registration of
 * the type. Returns 0 with *out filled; CP_ENOTFOUND when the type has no
 * such provider; CP_EDENIED when the provider (or every provider) is
 * UNHEALTHY; CP_EINVAL for NULL arguments. Takes a read lock shard, never
 * allocates. */
CP_API int cp_registry_resolve(cp_registry *reg, const char *service_type,
                               const char *provider_id,
                               cp_registry_endpoint *out);

/* One registration as cp_registry_list reports it. */
typedef struct cp_registry_listing {
  const char *service_type;
  /* As cp_registry_resolve fills it; health is the runtime's last report
   * (UNHEALTHY included). */
  cp_registry_endpoint endpoint;
  /* Whether resolve and discovery may pick it: its runtime is not
   * UNHEALTHY, draining or GONE. */
  bool routable;
} cp_registry_listing;

/* Called once per registration with a copy valid during the call only,
 * under the registry's read lock: it must not call into the registry nor
 * block. */
typedef void (*cp_registry_list_fn)(const cp_registry_listing *item,
                                    void *user);

/* Reports every registration (of `service_type` only, unless NULL) to `fn`:
 * a type's providers in registration order, types in no particular order.
 * Read-only (no round-robin step); at most max_registrations calls. Writes
 * the number reported to *count if not NULL. Returns 0, CP_EINVAL or
 * CP_ENOMEM (nothing reported). */
CP_API int cp_registry_list(cp_registry *reg, const char *service_type,
                            cp_registry_list_fn fn, void *user, size_t *count);

/* WatchService on another method's stream, for a host's own services (the
 * admin service's Watch): `stream`, which a server-streaming handler
 * received, must carry connectplugin.v1.WatchServiceEvent messages. Checks
 * service_type as WatchService does (INVALID_ARGUMENT) and counts the
 * watcher against `owner` (not a runtime ID: a name of the caller's own,
 * such as its principal "api-key:ops"; at most CP_REGISTRY_OWNER_MAX bytes)
 * and the total cap (RESOURCE_EXHAUSTED). Returns the code the handler
 * returns: on OK the registry keeps the stream (events as WatchService's,
 * until the client cancels or cp_registry_destroy ends it with
 * UNAVAILABLE); otherwise the call's error is set. No authorization: the
 * caller's handler decides who may watch. */
CP_API cp_status_code cp_registry_watch(cp_registry *reg, cp_call *call,
                                        cp_stream *stream,
                                        const char *service_type,
                                        const char *owner);

typedef struct cp_registry_stats {
  size_t registrations;
  size_t bytes;    /* stored registration bytes, as the caps count them */
  size_t runtimes; /* with registrations, health or watchers */
  size_t service_types;
  size_t watchers;
  uint64_t watch_events_sent;
  /* Events replaced by a newer one before a slow watcher received them. */
  uint64_t watch_events_coalesced;
  /* Sends deferred because a watch stream was still writing the previous
   * event (retried later). */
  uint64_t watch_stalls;
  /* Events encoded: once each, however many watchers receive it. */
  uint64_t watch_events_encoded;
  /* The most event bytes one watcher held at once: its pending event plus
   * the one its stream is writing, never more than two events. */
  uint64_t watch_max_held_bytes;
  /* Runtimes currently GONE (unrouted, awaiting removal), and totals since
   * creation of runtimes declared gone and of registrations taken over by
   * a successor with the same self_id. */
  size_t runtimes_gone;
  uint64_t liveness_gone_total;
  uint64_t takeovers_total;
  /* Bytes of the registry's structures (tables, registrations, runtimes,
   * types, watchers) and of the strings the caps count: an estimate
   * without allocator overhead; events waiting in watch streams are the
   * server's (cp_server_queued_bytes). */
  size_t memory_bytes;
  /* Liveness passes that completed (cp_registry_check_liveness returned
   * 0 with liveness on), and when the last did: wall-clock ms since the
   * Unix epoch, or the registry's creation before the first. */
  uint64_t liveness_passes;
  int64_t last_liveness_unix_ms;
} cp_registry_stats;

/* One liveness pass (see "Liveness" above): removes GONE runtimes whose
 * grace ended, probes runtimes silent for a lease interval (through
 * options.probe, without the lock), and declares GONE those nothing proved
 * alive for lease_misses intervals. Watchers of affected types are told.
 * The host calls it every lease_interval_ms; tests call it after moving
 * their clock. Not concurrently with itself. Returns 0, CP_EINVAL or
 * CP_ENOMEM (nothing probed this pass). */
CP_API int cp_registry_check_liveness(cp_registry *reg);

/* Fills *out with a snapshot (counts under the read lock; the watch
 * counters are totals since creation). */
CP_API void cp_registry_get_stats(cp_registry *reg, cp_registry_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_REGISTRY_H */
