/* cplugin — calling plugins through the host from a program that is not a
 * plugin: a command-line tool, a test, a service of your own.
 *
 *   cp_host_caller_options o;
 *   cp_host_caller_options_init(&o);
 *   o.host_url = "127.0.0.1:8080";   // NULL: CPLUGIN_HOST_URL or HOST_URL
 *   o.self_id = "url-client";
 *   cp_host_caller *caller;
 *   cp_status st;
 *   if (cp_host_caller_create(&caller, &o, &st) != 0) { ... st.message ... }
 *   cp_client *api;
 *   cp_host_caller_route(caller, "api", &api);  // owned by the caller
 *   cp_api__v1__api__shorten__call(api, &req, &resp, NULL, &st);
 *   cp_host_caller_destroy(caller);
 *
 * cp_host_caller_create handshakes with the host for a runtime identity
 * named self_id (with api_key, the identity carries the key's principal,
 * which the host's allow-lists and rate limits key on). Routed clients send
 * each call to the host with that identity; the host's router picks a
 * provider of the service type (its selection strategy) and forwards the
 * call, caller ID included. The caller provides no services and registers
 * nothing: it is a cp_plugin_runtime with no provides and no heartbeat, so
 * it keeps its identity fresh (renewal at half the token's lifetime) and
 * handshakes again when the host lost it (a restart), as a plugin does.
 *
 * Errors of routed calls are the router's and the provider's: UNAVAILABLE
 * "no provider" when none is registered, UNAUTHENTICATED when the identity
 * is gone (the caller then recovers in the background; call again).
 *
 * Thread safety: create and destroy from one thread; routed clients may be
 * used from any thread until destroy.
 */
#ifndef CPLUGIN_HOST_CALLER_H
#define CPLUGIN_HOST_CALLER_H

#include "cplugin/client.h"
#include "cplugin/export.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_host_caller_options {
  /* The host: "host:port", "unix:/path" or "http://host:port"; NULL = the
   * CPLUGIN_HOST_URL environment variable, else HOST_URL. */
  const char *host_url;
  /* The caller's name with the host (its log, its identity). Required. */
  const char *self_id;
  /* Sent as x-api-key on the handshake; NULL = none. A secret. */
  const char *api_key;
  /* TLS to the host; NULL = plaintext. Read whenever a client to the host
   * is made: keep it until destroy. */
  const cp_tls_client_options *tls;
} cp_host_caller_options;

/* Fills `opts` with the defaults. */
CP_API void cp_host_caller_options_init(cp_host_caller_options *opts);

typedef struct cp_host_caller cp_host_caller;

/* Joins the host as a caller (above). `status` is required. Returns 0;
 * CP_EINVAL for a NULL argument or bad options
 * (no self_id, no host named) with `status` INVALID_ARGUMENT saying which;
 * CP_ERPC with `status` filled when the host could not be reached or
 * refused the handshake; CP_ENOMEM. Destroy with cp_host_caller_destroy. */
CP_API int cp_host_caller_create(cp_host_caller **out,
                                 const cp_host_caller_options *opts,
                                 cp_status *status);

/* A client whose calls the host routes to a provider of `service_type`;
 * use it with that service's generated stubs. Owned by the caller: do not
 * destroy it. Returns 0, CP_EINVAL, CP_ELIMIT (at most 32 types) or
 * CP_ENOMEM. */
CP_API int cp_host_caller_route(cp_host_caller *caller,
                                const char *service_type, cp_client **out);

/* The runtime ID the host issued (for logs). Valid until destroy. */
CP_API const char *cp_host_caller_id(const cp_host_caller *caller);

/* Ends the routed clients' calls, leaves the host and frees. NULL
 * allowed. */
CP_API void cp_host_caller_destroy(cp_host_caller *caller);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_HOST_CALLER_H */
