/* cplugin — self-registering plugins (connect-plugin-go's "unmanaged"
 * model): a plugin started with HOST_URL handshakes with the host, serves its
 * own services on its own endpoint, registers them with `base_url` metadata,
 * reports its health, and watches the services it depends on.
 *
 *   cp_service_decl provides[] = {
 *       {"storage", "1.0.0", "/storage.v1.Storage/"}};
 *   cp_service_dep requires[] = {{"logger", "1.0.0", true, true}};
 *   cp_plugin_runtime_options o;
 *   cp_plugin_runtime_options_init(&o);
 *   o.self_id = "storage";
 *   o.base_url = "127.0.0.1:7001";            // where this plugin serves
 *   o.provides = provides; o.provides_count = 1;
 *   o.requires = requires; o.requires_count = 1;
 *   cp_plugin_runtime *rt;
 *   cp_status st;
 *   cp_plugin_runtime_start(&rt, &o, &st);   // HOST_URL from the environment
 *   cp_client *logger;
 *   cp_plugin_runtime_route(rt, "logger", &logger);  // calls routed by host
 *   ...
 *   cp_plugin_runtime_destroy(rt);
 *
 * Health: HEALTHY while every dependency marked required_for_startup has an
 * available provider and the host accepts the plugin, DEGRADED (naming the
 * missing ones, or "host unreachable") otherwise; reported at start,
 * whenever a watched dependency changes, and every heartbeat_interval_ms
 * (the heartbeat: it also tells the runtime whether the host still accepts
 * its identity). cp_plugin_runtime_health reads it.
 *
 * Recovery. A supervising thread keeps the plugin joined to the host. It
 * takes the identity for lost when a heartbeat fails with UNAUTHENTICATED,
 * UNAVAILABLE or DEADLINE_EXCEEDED, or a watch stream ends; other host calls
 * and routed calls that fail with UNAUTHENTICATED make it check at once.
 * Then it says so (on_host_state LOST; health DEGRADED), and tries, first
 * at once, then backing off from backoff_initial_ms doubling to
 * backoff_max_ms with jitter (x[0.5, 1)): renew the identity (below) or,
 * when the host no longer knows it (restarted, expired, revoked), handshake
 * for a new one; register every provided service again (registration is
 * idempotent), re-open the watches, report health; then RESTORED. Routed
 * clients and the host client are never recreated: each call reads the
 * current identity, so they work again as soon as the runtime is back.
 * Their connections to the host retry at least every 2 s.
 *
 * Renewal. The host tells the token's lifetime with the handshake
 * (server_metadata runtime_token_ttl_ms). At half of it the runtime renews:
 * a Handshake carrying the current identity (x-plugin-runtime-id and
 * authorization) and client_metadata renew_runtime_id = <runtime ID> gets a
 * fresh token for the SAME runtime ID, so registrations and routing go on
 * untouched, and the previous token stays valid for the host's overlap
 * window (calls in flight pass). Then on_host_state RENEWED. A renewal that
 * fails transiently is retried with the backoff; one the host refuses
 * (UNAUTHENTICATED) is a lost identity (above). A host that states no
 * lifetime gets no renewals (recovery still heals an expiry). See
 * docs/wire-notes.md.
 *
 * Launched mode. A plugin that a cplugin host launches (docs/launch.md)
 * needs no code of its own for it; the library reads the environment the
 * launcher sets:
 *   - CPLUGIN_LISTEN ("unix:/abs/path.sock", or 127.0.0.1:PORT, [::1]:PORT,
 *     localhost:PORT with PORT 0 for any free one): the process's FIRST
 *     plaintext cp_server_listen binds this address instead of the one it
 *     was given (later listeners bind theirs). A value of another form
 *     makes that cp_server_listen fail with CP_EINVAL (logged).
 *   - Once that server started, cp_server_start prints one line on stdout
 *     and flushes it: "cplugin|1|unix|/abs/path.sock" or
 *     "cplugin|1|tcp|127.0.0.1:43121" with the port actually bound; the
 *     launcher waits for it (the format: runtime/src/launch/process.h).
 *     Print nothing that starts with "cplugin|" on stdout before it.
 *   - cp_plugin_runtime registers the launched address as base_url (the
 *     base_url option is then ignored and may be NULL), and takes the host
 *     from CPLUGIN_HOST_URL, which wins over HOST_URL (host_url, when set,
 *     wins over both).
 *   - Model A, when CPLUGIN_LAUNCH_SECRET is set too (16..128 base64url
 *     characters; any other value fails the launched cp_server_listen with
 *     CP_EINVAL): the launched server also serves
 *     connectplugin.v1.PluginIdentity, and a default PluginControl unless
 *     the plugin registered one (GetHealth: cp_plugin_runtime_health, or
 *     HEALTHY "no plugin runtime" before start; Shutdown: acknowledged,
 *     then the process sends itself SIGTERM). Calls to both services need
 *     metadata CP_LAUNCH_SECRET_METADATA = the secret (else
 *     UNAUTHENTICATED). cp_plugin_runtime_start publishes the plugin's
 *     info for GetPluginInfo, then waits (up to 30 s) for
 *     SetRuntimeIdentity and joins with that identity instead of
 *     handshaking (CP_LAUNCH_TOKEN_TTL_METADATA gives the token's
 *     lifetime; a non-empty host_url replaces the host). No identity in
 *     time: CP_ETIMEDOUT with DEADLINE_EXCEEDED "no identity from the
 *     launcher"; a Shutdown meanwhile: CP_ECANCELLED. Start the server
 *     first. See docs/launch.md.
 * Without CPLUGIN_LISTEN nothing of this happens: servers bind what they
 * are given and no line is printed (a plugin started by hand with HOST_URL
 * works as before).
 *
 * Thread safety: start and stop from one thread; the accessors and routed
 * clients may be used from any thread while the runtime runs. Callbacks run
 * on the runtime's threads, without its locks held; they must not call
 * cp_plugin_runtime_destroy.
 */
#ifndef CPLUGIN_PLUGIN_RUNTIME_H
#define CPLUGIN_PLUGIN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/client.h"
#include "cplugin/handshake.h"
#include "cplugin/registry.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Environment variable naming the host (connect-plugin-go's name). */
#define CP_HOST_URL_ENV "HOST_URL"
/* Launched mode (above): where to serve, and the host that launched the
 * plugin (wins over CP_HOST_URL_ENV). */
#define CP_LAUNCH_LISTEN_ENV "CPLUGIN_LISTEN"
#define CP_LAUNCH_HOST_URL_ENV "CPLUGIN_HOST_URL"
/* Model A (above): the secret the launcher shares with the plugin
 * (16..128 base64url characters), and the request metadata key that
 * carries it on the launcher's calls to the plugin. */
#define CP_LAUNCH_SECRET_ENV "CPLUGIN_LAUNCH_SECRET"
#define CP_LAUNCH_SECRET_METADATA "x-cplugin-launch-secret"
/* SetRuntimeIdentity request metadata: the token's lifetime in decimal
 * milliseconds (renewals at half of it). */
#define CP_LAUNCH_TOKEN_TTL_METADATA "x-cplugin-runtime-token-ttl-ms"

typedef void (*cp_dependency_fn)(const char *service_type, bool available,
                                 const char *provider_id, void *user);

/* What happened to the plugin's standing with the host. */
typedef enum cp_host_link_state {
  CP_HOST_LINK_LOST = 1,     /* the host no longer accepts the identity */
  CP_HOST_LINK_RESTORED = 2, /* joined again: registered, watching */
  CP_HOST_LINK_RENEWED = 3   /* fresh token, same runtime ID */
} cp_host_link_state;

typedef void (*cp_host_state_fn)(cp_host_link_state state, void *user);

/* Connects a client to the host (see host_connect below). */
typedef int (*cp_host_connect_fn)(cp_client **out, void *user);

typedef struct cp_plugin_runtime_options {
  /* The host: "host:port", "unix:/path" or "http://host:port"; NULL = the
   * CPLUGIN_HOST_URL environment variable, or else HOST_URL. */
  const char *host_url;
  const char *self_id; /* required */
  const char *self_version;
  /* Where this plugin serves; registered as metadata base_url. Required
   * when provides_count > 0, unless launched (the launched address is
   * registered instead; see Launched mode). */
  const char *base_url;
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
  const char *magic_cookie_key;
  const char *magic_cookie_value;
  int32_t app_version;
  const cp_tls_client_options *tls;
  /* Sent as x-api-key on the handshake only, so that the runtime identity
   * carries the key's principal (the host's allow-lists key on it); NULL =
   * none. A secret: never logged. */
  const char *api_key;
  /* Told when a watched dependency becomes available or unavailable; runs on
   * the runtime's watch thread, or its supervising thread when the host is
   * lost (every dependency then counts as unavailable until its watch is
   * re-opened). */
  cp_dependency_fn on_dependency;
  /* Told LOST, RESTORED and RENEWED (see Recovery and Renewal); runs on the
   * supervising thread. */
  cp_host_state_fn on_host_state;
  void *user; /* for both callbacks */
  /* ReportHealth period, the liveness check of the link (default 2000 ms);
   * 0 = none (a lost identity is then noticed by watches and calls only). */
  int64_t heartbeat_interval_ms;
  /* Recovery backoff: first retry after about backoff_initial_ms (default
   * 100), doubling up to backoff_max_ms (default 5000). */
  int64_t backoff_initial_ms;
  int64_t backoff_max_ms;
  /* In-process plugins (a plugin compiled into the host, started by its
   * launcher; launcher.h). host_connect, when set, makes every client to
   * the host instead of host_url (which may then be NULL), e.g. with
   * cp_connection_pair on the host's server; called from start (and from
   * cp_plugin_runtime_route), once per client. A client that cannot
   * reconnect (cp_connection_pair) is ended for good by the host's
   * connection limits (max_connection_idle_ms, max_connection_age_ms); one
   * from cp_client_create_dialing makes a new connection instead. */
  cp_host_connect_fn host_connect;
  void *host_connect_user;
  /* An identity issued by whoever starts the runtime (the host itself for
   * an in-process plugin): with runtime_id and runtime_token set, start
   * joins with them instead of handshaking (token lifetime
   * runtime_token_ttl_ms, 0 = unknown: no renewals); recovery still
   * handshakes for a new identity if the host drops this one. */
  const char *runtime_id;
  const char *runtime_token;
  int64_t runtime_token_ttl_ms;
} cp_plugin_runtime_options;

CP_API void cp_plugin_runtime_options_init(cp_plugin_runtime_options *opts);

typedef struct cp_plugin_runtime cp_plugin_runtime;

/* Handshakes (with self_id; in Model A, above, takes the launcher's
 * identity instead), registers every provided service, starts
 * watching the dependencies, reports health and starts the supervising
 * thread. Options are copied (tls is read whenever a client to the host is
 * created: keep it until stop). Returns 0; CP_EINVAL for bad options (no
 * host URL, no self_id, an interval outside 0..1 day, backoff_initial_ms
 * not in 1..backoff_max_ms); CP_ERPC with `status` filled
 * when the host refused a step (the runtime is then torn down: recovery
 * only starts once the runtime has joined); in Model A also CP_ETIMEDOUT
 * or CP_ECANCELLED (see Launched mode). */
CP_API int cp_plugin_runtime_start(cp_plugin_runtime **out,
                                   const cp_plugin_runtime_options *opts,
                                   cp_status *status);

/* The runtime ID the host issued last. A renewal keeps it; a recovery that
 * needed a new identity changes it. The string stays valid until stop. */
CP_API const char *cp_plugin_runtime_id(const cp_plugin_runtime *rt);

/* The plugin's own health: DEGRADED while the host is lost or a required
 * dependency has no provider, HEALTHY otherwise. */
CP_API cp_plugin_health cp_plugin_runtime_health(cp_plugin_runtime *rt);

/* The authenticated channel to the host (registry, lifecycle, discovery);
 * its calls carry the current identity. */
CP_API cp_client *cp_plugin_runtime_host(cp_plugin_runtime *rt);

/* A client whose calls the host routes to a provider of `service_type` (the
 * host's selection strategy picks it); use it with the generated stubs of
 * that service. Owned by the runtime. Returns 0, CP_EINVAL, CP_ELIMIT (at
 * most 32 routes) or CP_ENOMEM. */
CP_API int cp_plugin_runtime_route(cp_plugin_runtime *rt,
                                   const char *service_type, cp_client **out);

/* A client for the host's capability `type` (cplugin/broker.h,
 * docs/capabilities.md) at min_version or above (NULL or "": any): the
 * runtime asks the host's broker for a grant with its identity, and every
 * call on the client carries it (the metadata form), so the capability's
 * generated stubs work on it as on any client:
 *   cp_client *logger;
 *   cp_plugin_runtime_capability(rt, "logger", "1.0.0", &logger, &st);
 *   cp_capability__logger__v1__logger__log__call(logger, &req, &resp, ...);
 * The grant is asked for again before it ends (at half the lifetime the
 * host states), when the runtime's identity changed (a renewal, or a host
 * restart it recovered from), and after a call was refused UNAUTHENTICATED
 * (that call fails; the next one carries the new grant). Asking blocks the
 * calling thread, or an asynchronous call's callback thread, for one round
 * trip to the host, about once per half lifetime (30 min by default).
 * The client belongs to the runtime and stays valid until
 * cp_plugin_runtime_destroy; asking again for the same type returns the same
 * client (min_version of the first call); at most 16 types. Returns 0;
 * CP_ENOTFOUND when the host does not offer `type` at min_version (the
 * host's answer in `st` names what it offers); CP_ERPC for another
 * refusal; CP_EINVAL; CP_ELIMIT; CP_ENOMEM. `st` may be NULL. Thread-safe. */
CP_API int cp_plugin_runtime_capability(cp_plugin_runtime *rt, const char *type,
                                        const char *min_version,
                                        cp_client **out, cp_status *st);

/* Whether a watched dependency currently has an available provider. */
CP_API bool cp_plugin_runtime_dependency_available(cp_plugin_runtime *rt,
                                                   const char *service_type);

/* Stops the supervising thread (at once in a backoff or a wait; a host call
 * in flight ends within its 10 s timeout), unregisters the services (unless
 * the host is lost), stops watching, closes. NULL allowed. */
CP_API void cp_plugin_runtime_destroy(cp_plugin_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_PLUGIN_RUNTIME_H */
