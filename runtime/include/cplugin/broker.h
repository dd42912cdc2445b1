/* cplugin — the capability broker: services the host offers its plugins
 * (a logger, secrets, a cache ...), each used under a grant.
 *
 * A host declares capabilities: a type ("logger"), a SemVer version and a
 * function that registers the capability's service (the generated
 * cp_<pkg>__register) on the broker's own server, which has no listener
 * and is reached only through grants. A plugin asks for one with
 * connectplugin.v1.CapabilityBroker/RequestCapability, authenticated with
 * its runtime token; the answer is a grant bound to that runtime, the type
 * and the version: an ID (16 random bytes), a bearer token (32 random
 * bytes; both base64url, padded) and endpoint_url
 * "/capabilities/<type>/<grant_id>". The plugin then calls the
 * capability's methods through the host in either form:
 *   1. path: :path = "/capabilities/<type>/<grant_id>/<pkg.Service>/<Method>"
 *   2. metadata (what generated stubs send): :path = "/<pkg.Service>/<Method>"
 *        x-cplugin-capability-grant: <grant_id>
 *        x-cplugin-capability-type: <type>
 * with `authorization: Bearer <grant token>` and `x-plugin-runtime-id:
 * <its runtime ID>`. The host checks the grant (token in constant time,
 * runtime, type, expiry) and forwards the call to the capability's service
 * with its own path and `x-plugin-caller-id: <runtime ID>`; no lock is held
 * while the capability runs, and a slow capability holds only its own
 * calls (the capability server has its own threads; mark blocking
 * handlers with cp_server_run_blocking in register_services). Any failed
 * check is UNAUTHENTICATED "authentication failed", never saying which
 * part was wrong.
 *
 * Lifetimes: a grant lasts grant_ttl_ms (default 1 h) and goes earlier
 * when its runtime's identity is revoked or expires (a removed plugin's
 * is revoked). Live grants are capped in total and per runtime (an issue
 * over a cap first sweeps the expired ones; RESOURCE_EXHAUSTED after).
 * RequestCapability for a type the host lacks, or whose version is below
 * min_version (SemVer precedence), is NOT_FOUND naming what is available.
 *
 * Metrics (with cp_broker_attach_metrics): cplugin_capability_grants_
 * issued_total, _live, _expired_total, _revoked_total and
 * _refused_total{reason="not_found"|"limit"|"unauthenticated"}.
 *
 * The host (cplugin/host.h) creates and wires a broker; this header is for
 * what a host offers (cp_host_options.capabilities) and for assembling a
 * server by hand.
 *
 * Thread safety: create, add capabilities, register, attach and start
 * from one thread before serving; afterwards every call is safe from any
 * thread. Destroy after the servers that use it stopped. */
#ifndef CPLUGIN_BROKER_H
#define CPLUGIN_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/auth.h"
#include "cplugin/clock.h"
#include "cplugin/handshake.h"
#include "cplugin/metrics.h"
#include "cplugin/router.h"
#include "cplugin/server.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata of the metadata form (see above). */
#define CP_MD_CAPABILITY_GRANT "x-cplugin-capability-grant"
#define CP_MD_CAPABILITY_TYPE "x-cplugin-capability-type"
/* RequestCapability's trailing metadata: the grant's remaining lifetime
 * in milliseconds (decimal), so a plugin can ask again in time. */
#define CP_MD_GRANT_TTL_MS "x-cplugin-grant-ttl-ms"
/* The path form's prefix. */
#define CP_CAPABILITY_PATH_PREFIX "/capabilities/"

/* A capability the host offers. The strings and `user` must outlive the
 * broker (they are not copied). */
typedef struct cp_capability {
  const char *type;    /* 1..128 bytes of [a-z0-9._-], unique per broker */
  const char *version; /* SemVer 2.0.0 */
  /* Registers the capability's service(s) on `server` (the broker's);
   * returns 0 or a CP_E* code. NULL: a plugin provides the capability -
   * its calls go through the router (cp_broker_set_router) to a provider
   * registered for service type `type`, with the registry's selection,
   * health and endpoint-path rules; none registered: NOT_FOUND, an
   * unhealthy one: UNAVAILABLE. */
  cp_register_services_fn register_services;
  void *user;
} cp_capability;

typedef struct cp_broker_options {
  int64_t grant_ttl_ms;          /* 1000 .. 7 days; default 3600000 */
  size_t max_grants;             /* live grants in all; default 4096 */
  size_t max_grants_per_runtime; /* 1 .. max_grants; default 16 */
  const cp_clock *clock;         /* expiries; NULL = the system clock */
} cp_broker_options;

CP_API void cp_broker_options_init(cp_broker_options *opts);

typedef struct cp_broker cp_broker;

/* A broker whose grants follow the identities of `tokens` (not owned; it
 * must outlive the broker). Returns 0, CP_EINVAL (options out of range),
 * CP_ELIMIT (the token store has no listener place left) or CP_ENOMEM. */
CP_API int cp_broker_create(cp_broker **out, cp_token_store *tokens,
                            const cp_broker_options *opts);

/* Stops and frees the broker and its capability server. NULL allowed. */
CP_API void cp_broker_destroy(cp_broker *broker);

/* Adds a capability (before cp_broker_start): its services are registered
 * on a server of its own now (unless a plugin provides it). Returns 0;
 * CP_EINVAL (bad type or version); CP_EEXIST (type taken); CP_ESTATE
 * (started); CP_ELIMIT (64 capabilities); the error of register_services;
 * CP_ENOMEM. */
CP_API int cp_broker_add_capability(cp_broker *broker,
                                    const cp_capability *cap);

/* Writes up to `cap` capabilities, sorted by type (endpoint
 * "/capabilities/<type>"), and returns how many there are. The strings
 * belong to the broker. */
CP_API size_t cp_broker_capabilities(const cp_broker *broker,
                                     cp_capability_info *out, size_t cap);

/* Adds connectplugin.v1.CapabilityBroker/RequestCapability to `server`
 * (before it starts). Returns 0 or an error of cp_server_add_method. */
CP_API int cp_broker_register(cp_broker *broker, cp_server *server);

/* Adds the grant check to `auth` as its first provider: a call in either
 * capability form is authenticated by its grant (identity: the runtime ID,
 * provider "capability-grant") or refused; other calls pass to the next
 * provider. Returns 0 or an error of cp_auth_add_validator. */
CP_API int cp_broker_add_auth(cp_broker *broker, cp_auth *auth);

/* Series of the broker in `metrics`' registry (once). Returns 0, CP_EEXIST
 * or CP_ENOMEM. */
CP_API int cp_broker_attach_metrics(cp_broker *broker, cp_metrics *metrics);

/* The router that carries the calls of capabilities plugins provide
 * (register_services NULL); not owned, it must outlive the broker. Without
 * one such calls are UNAVAILABLE. The host sets its own. */
CP_API void cp_broker_set_router(cp_broker *broker, cp_router *router);

/* Starts the capability server. Returns 0, CP_ESTATE or a server error. */
CP_API int cp_broker_start(cp_broker *broker);

/* Shuts the capability server down: calls under way get `grace_ms`. */
CP_API void cp_broker_shutdown(cp_broker *broker, int64_t grace_ms);

/* For a server's fallback: when `call` is a capability call (either form),
 * checks its grant again and forwards it to the capability, sets *handled
 * and returns the status to answer (CP_STATUS_OK once forwarded); otherwise
 * leaves it (*handled false, returns CP_STATUS_OK). */
CP_API cp_status_code cp_broker_dispatch(cp_broker *broker, cp_call *call,
                                         bool *handled);

/* The logger capability (type "logger", version "1.0.0",
 * capability.logger.v1.Logger/Log): each Log writes one line to the host's
 * log (cplugin/log.h) at the request's level ("debug", "info", "warn",
 * "error"; anything else INVALID_ARGUMENT), with the caller's runtime ID
 * and up to 16 fields; message and values are cut at 1024 bytes, keys at
 * 64, control characters replaced by '?'. */
CP_API void cp_logger_capability(cp_capability *out);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_BROKER_H */
