/* cplugin — server-side authentication: a server interceptor that tries
 * providers in order and records who the caller is.
 *
 * Providers:
 *   - runtime tokens: `authorization: Bearer <token>` with
 *     `x-plugin-runtime-id`, checked against a cp_token_store (identity = the
 *     runtime ID, provider "runtime-token");
 *   - API keys: `x-api-key`, compared in constant time with each configured
 *     key (identity = the name given with the key, provider "api-key");
 *   - mutual TLS: the verified client certificate's common name, or its first
 *     SAN when it has no CN (provider "mtls", claims "cn" and "san");
 *   - your own validator callback.
 * The first provider that authenticates wins; the call's identity is then
 * readable by later interceptors (the rate limiter keys on it) and by the
 * handler (cp_call_identity). A provider that finds no credentials of its
 * kind passes to the next; one that finds invalid credentials ends the
 * search. Failures are UNAUTHENTICATED: "authentication required" when no
 * provider found credentials, "authentication failed" otherwise — the same
 * message whether a runtime ID is unknown, the token wrong, expired or
 * revoked. Interceptors run before the handler, so it runs at most once.
 *
 * Policy: each method is open, optional or requires authentication; the
 * default is "required". cp_auth_open_host_methods opens what a host serves
 * to callers that have no identity yet: both health services open, and
 * Handshake optional, so that a plugin may present an API key or a client
 * certificate there and its runtime identity carries that principal (see
 * cp_call_principal and docs/registry.md, "Authorization").
 *
 * Thread safety: configure before cp_auth_register and before the server
 * starts; afterwards the interceptor runs on any number of server threads.
 */
#ifndef CPLUGIN_AUTH_H
#define CPLUGIN_AUTH_H

#include "cplugin/export.h"
#include "cplugin/call.h"
#include "cplugin/server.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_auth cp_auth;

/* Outcome of one provider. */
typedef enum cp_auth_result {
  CP_AUTH_OK = 0,     /* authenticated: the provider set the identity */
  CP_AUTH_ABSENT = 1, /* no credentials of this kind: try the next */
  /* Credentials present but not valid: the call fails UNAUTHENTICATED
   * "authentication failed" unless a later provider accepts other
   * credentials it carries (a stale token beside a valid API key). */
  CP_AUTH_DENIED = 2
} cp_auth_result;

/* A custom provider: inspect the call (metadata, peer certificate) and, on
 * success, call cp_call_set_identity before returning CP_AUTH_OK. */
typedef cp_auth_result (*cp_auth_validator_fn)(cp_call *call, void *user);

typedef enum cp_auth_rule {
  CP_AUTH_REQUIRED = 0,
  CP_AUTH_OPEN = 1, /* providers do not run: the call has no identity */
  /* Providers run: valid credentials set the identity, invalid ones are
   * UNAUTHENTICATED "authentication failed", none let the call through
   * without an identity. A runtime token that does not validate counts as
   * none (a plugin handshaking again after its identity expired). */
  CP_AUTH_OPTIONAL = 2
} cp_auth_rule;

CP_API int cp_auth_create(cp_auth **out);
CP_API void cp_auth_destroy(cp_auth *auth);

/* Runtime-token provider. `store` is not owned and must outlive the auth. */
CP_API int cp_auth_add_runtime_tokens(cp_auth *auth, cp_token_store *store);

/* How the runtime-token provider checks a token: by default
 * cp_token_store_validate; a host replaces it to time validations for
 * metrics (cp_metrics_validate_token). Same arguments and result as
 * cp_token_store_validate, plus `user`. Set before the server starts. */
typedef bool (*cp_auth_token_check_fn)(cp_token_store *store,
                                       const char *runtime_id,
                                       size_t runtime_id_len, const char *token,
                                       size_t token_len, void *user);
CP_API int cp_auth_set_token_check(cp_auth *auth, cp_auth_token_check_fn fn,
                                   void *user);

/* Adds one API key (copied) that authenticates as `identity`. Keys must be
 * 16..256 bytes. Returns 0, CP_EINVAL or CP_ENOMEM. */
CP_API int cp_auth_add_api_key(cp_auth *auth, const char *key,
                               const char *identity);

/* Mutual-TLS provider (listen with cp_server_listen_tls and
 * require_client_cert). */
CP_API int cp_auth_add_mtls(cp_auth *auth);

/* Custom provider; `name` is informational (logs). */
CP_API int cp_auth_add_validator(cp_auth *auth, const char *name,
                                 cp_auth_validator_fn fn, void *user);

/* Sets the rule for an exact method path ("/pkg.Svc/Method") or for every
 * method of a service ("/pkg.Svc/"). Exact paths win over service prefixes,
 * which win over the default. Returns 0, CP_EINVAL or CP_ENOMEM. */
CP_API int cp_auth_set_rule(cp_auth *auth, const char *path, cp_auth_rule rule);

/* The rule for methods without one (initially CP_AUTH_REQUIRED). */
CP_API void cp_auth_set_default(cp_auth *auth, cp_auth_rule rule);

/* Handshake optional; connectplugin.health.v1.HealthService and
 * grpc.health.v1.Health open. */
CP_API int cp_auth_open_host_methods(cp_auth *auth);

/* Adds the auth's interceptor to `server` in CP_PHASE_AUTHENTICATION
 * (before cp_server_start), so it runs before every policy and application
 * interceptor whatever the order they were added in. The auth must outlive
 * the server. Returns as cp_server_add_interceptor. */
CP_API int cp_auth_register(cp_auth *auth, cp_server *server);

/* The principal the call was authenticated as, for authorization that
 * must not rest on a caller's claim: "<provider>:<identity>" (e.g.
 * "api-key:kv-plugin", "mtls:kv.plugins.example", "<validator
 * name>:<identity>"), written to `out` (NUL-terminated). A runtime token is
 * not a principal: it stands for an identity whose principal the token
 * store keeps (cp_token_store_principal). Returns 0; CP_ENOTFOUND when the
 * call has no identity or a "runtime-token" one; CP_ETOOBIG when the result
 * would be longer than CP_PRINCIPAL_MAX bytes; CP_EINVAL. */
CP_API int cp_call_principal(const cp_call *call,
                             char out[CP_PRINCIPAL_MAX + 1]);

/* Metadata keys (gRPC metadata is lower-case). */
#define CP_MD_AUTHORIZATION "authorization"
#define CP_MD_RUNTIME_ID "x-plugin-runtime-id"
#define CP_MD_API_KEY "x-api-key"

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_AUTH_H */
