/* cplugin — per-method rate limits on a server: an interceptor that checks
 * each call against a cp_rate_limiter.
 *
 * Whose budget: the caller's authenticated identity (cp_call_identity, set
 * by the auth interceptor) together with its provider, so "alice" by API key
 * and "alice" by certificate are different callers. A call without an
 * identity (Handshake, health) is limited per peer IP address, without the
 * port; IPv6 addresses by their /64 prefix by default (one host usually owns
 * a whole /64), Unix-socket peers per user (docs/security.md). Request
 * metadata never picks a budget: a spoofed x-plugin-runtime-id header
 * neither borrows nor drains another caller's bucket.
 *
 * Which budget: every method with its own rule has its own bucket per
 * caller; a rule for a service prefix ("/pkg.Svc/") gives all of that
 * service's methods without an exact rule one shared bucket; every other
 * method shares the default rule's bucket. Exact paths win over prefixes,
 * which win over the default.
 *
 * Rejection: RESOURCE_EXHAUSTED, message "rate limit exceeded", and the
 * trailer `retry-after-ms` with the wait until the next token in
 * milliseconds (rounded up, at least 1). When the limiter tracks
 * max_buckets callers and this one is new, the same answer carries the
 * limiter's idle-eviction period. A limit that will never admit again
 * (burst 0, or rate 0 without a sweeper) sends no retry-after-ms.
 *
 * Order: the policy's interceptor runs in CP_PHASE_POLICY, after the
 * authentication phase (cp_auth_register) whichever was installed first, so
 * it always sees the identity auth recorded. Calls auth rejects never reach
 * the policy.
 *
 * Thread safety: every function may be called from any thread at any time,
 * also while the server runs: a changed rule applies to the next call, and
 * a changed limit to the next check of each bucket. The interceptor takes
 * no lock. cp_rate_policy_destroy excepted: call it after the server that
 * uses the policy was destroyed.
 */
#ifndef CPLUGIN_RATELIMIT_POLICY_H
#define CPLUGIN_RATELIMIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/call.h"
#include "cplugin/ratelimit.h"
#include "cplugin/ratelimit_redis.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rules per policy (exact paths and service prefixes together). */
#define CP_RATE_POLICY_MAX_RULES 256

/* The trailer of a rejected call. */
#define CP_MD_RETRY_AFTER_MS "retry-after-ms"

/* The host defaults (cp_rate_policy_host_defaults). */
#define CP_RATE_HANDSHAKE_PATH "/connectplugin.v1.HandshakeService/Handshake"
#define CP_RATE_REGISTER_PATH \
  "/connectplugin.v1.ServiceRegistry/RegisterService"
#define CP_RATE_UNREGISTER_PATH \
  "/connectplugin.v1.ServiceRegistry/UnregisterService"
#define CP_RATE_DISCOVER_PATH \
  "/connectplugin.v1.ServiceRegistry/DiscoverService"
#define CP_RATE_WATCH_PATH "/connectplugin.v1.ServiceRegistry/WatchService"
#define CP_RATE_CAPABILITY_PATH \
  "/connectplugin.v1.CapabilityBroker/RequestCapability"

typedef struct cp_rate_policy cp_rate_policy;

/* Called for each rejected call on the server thread that rejected it, with
 * the call (read-only accessors of call.h: cp_call_method, cp_call_path,
 * ...) and CP_RATE_DENY, CP_RATE_DENY_FULL or (sharing through Redis)
 * CP_RATE_DENY_OUTAGE; for the metrics module:
 *   cp_metrics_count_rate_limit_denial(m, cp_call_method(call));
 * It must return quickly and must not change the policy's configuration. */
typedef void (*cp_rate_deny_fn)(const cp_call *call, cp_rate_result result,
                                void *user);

typedef struct cp_rate_policy_options {
  /* The policy's own limiter (cp_rate_limiter_options_init defaults). */
  cp_rate_limiter_options limiter;
  /* Start with the host defaults (default true); false starts with no rules
   * and no default limit, i.e. nothing limited. */
  bool host_defaults;
  /* Bits of an IPv6 peer address that pick its bucket (default 64, at most
   * 128). IPv4 addresses are always used whole. */
  unsigned ipv6_prefix_bits;
  cp_rate_deny_fn on_deny; /* may be NULL */
  void *on_deny_user;
  /* Limits shared with the other replicas of a host through Redis
   * (cplugin/ratelimit_redis.h); NULL (default) = this process's limits
   * only. Copied. */
  const cp_rate_redis_options *redis;
} cp_rate_policy_options;

CP_API void cp_rate_policy_options_init(cp_rate_policy_options *opts);

/* Creates a policy and its limiter, and with `redis` its link to Redis
 * (connected once here, for at most redis->timeout_ms: an unreachable
 * Redis is an outage, not an error). `opts` may be NULL for the defaults;
 * it is copied. Returns 0 and sets *out, CP_EINVAL (also for bad redis
 * options), CP_ENOMEM or CP_ESYS (see cp_rate_limiter_create). Destroy
 * with cp_rate_policy_destroy. */
CP_API int cp_rate_policy_create(cp_rate_policy **out,
                                 const cp_rate_policy_options *opts);

/* Frees the policy and its limiter. NULL allowed. The server it was
 * installed on must have been destroyed. */
CP_API void cp_rate_policy_destroy(cp_rate_policy *policy);

/* Replaces every rule with exactly the host table (per caller):
 *   Handshake                           10/s, burst 20 (per peer IP)
 *   RegisterService, UnregisterService   1/s, burst 64 (each its own)
 *   DiscoverService                    100/s, burst 200
 *   WatchService                         1/s, burst 16
 *   RequestCapability                   10/s, burst 20
 *   any other method (default)        1000/s, burst 2000 (shared)
 * and enables the policy. Returns 0. */
CP_API int cp_rate_policy_host_defaults(cp_rate_policy *policy);

/* Sets (adds or replaces) the limit for an exact method path
 * ("/pkg.Svc/Method") or a service prefix ("/pkg.Svc/"). Returns 0;
 * CP_EINVAL for a path that does not start with '/' or is longer than 512
 * bytes; CP_ELIMIT beyond CP_RATE_POLICY_MAX_RULES paths; CP_ENOMEM. */
CP_API int cp_rate_policy_set(cp_rate_policy *policy, const char *path,
                              cp_rate_limit limit);

/* Exempts a path: its calls are never limited (a rule, so it also shadows
 * a prefix rule or the default). Returns as cp_rate_policy_set. */
CP_API int cp_rate_policy_exempt(cp_rate_policy *policy, const char *path);

/* Removes the rule for `path`: the prefix rule or the default applies
 * again. Returns 0 or CP_ENOTFOUND. */
CP_API int cp_rate_policy_clear(cp_rate_policy *policy, const char *path);

/* The limit of methods without a rule of their own. */
CP_API void cp_rate_policy_set_default(cp_rate_policy *policy,
                                       cp_rate_limit limit);

/* Methods without a rule of their own are not limited. */
CP_API void cp_rate_policy_exempt_default(cp_rate_policy *policy);

/* Turns the whole policy off (every call passes) or on again; rules and
 * buckets are kept. */
CP_API void cp_rate_policy_set_enabled(cp_rate_policy *policy, bool enabled);

/* The limit a call to `path` gets now: returns 0 and sets *limit when it is
 * limited, CP_ENOTFOUND when it is not (exempt, no rule and no default, or
 * the policy is off), CP_EINVAL for NULL arguments. Takes no lock. */
CP_API int cp_rate_policy_lookup(const cp_rate_policy *policy, const char *path,
                                 cp_rate_limit *limit);

/* Adds the policy's interceptor to `server` in CP_PHASE_POLICY (before
 * cp_server_start): it runs after the authentication phase, so it keys on
 * the identity cp_auth_register's interceptor recorded, in whichever order
 * the two were added. Returns 0, CP_EINVAL, CP_ENOMEM, or CP_ESTATE once the
 * server started. */
CP_API int cp_rate_policy_register(cp_rate_policy *policy, cp_server *server);

/* The policy's limiter (owned by the policy), for cp_rate_limiter_count
 * and cp_rate_limiter_get_stats. */
CP_API cp_rate_limiter *cp_rate_policy_limiter(cp_rate_policy *policy);

/* Fills `out` with the state of the policy's link to Redis. Returns 0;
 * CP_ENOTFOUND when the policy does not share its limits; CP_EINVAL for
 * NULL arguments. Any thread. */
CP_API int cp_rate_policy_redis_stats(const cp_rate_policy *policy,
                                      cp_rate_redis_stats *out);

/* Calls rejected under the rule for `path` (exact text of the rule), or
 * under the default when `path` is NULL. 0 when there is no such rule. */
CP_API uint64_t cp_rate_policy_denials(const cp_rate_policy *policy,
                                       const char *path);

/* Calls fn(rule_path, denials, user) for every rule that has rejected a
 * call, then for the default ("*") if it has, for a
 * cplugin_rate_limit_denials_total{method} counter. Per rule rather than per
 * method: unknown methods fall under the default, so the label set stays
 * bounded by the configuration. `rule_path` is valid during the call. */
typedef void (*cp_rate_denials_fn)(const char *rule_path, uint64_t denials,
                                   void *user);

CP_API void cp_rate_policy_foreach_denials(const cp_rate_policy *policy,
                                           cp_rate_denials_fn fn, void *user);

/* One rule as cp_rate_policy_foreach_rule reports it. */
typedef struct cp_rate_rule_info {
  /* The exact method path, a service prefix ("/pkg.Svc/"), or "*" for the
   * default (methods without a rule of their own). Valid during the
   * callback. */
  const char *path;
  bool prefix;         /* a service prefix: its methods share one bucket */
  bool exempt;         /* never limited */
  cp_rate_limit limit; /* when not exempt */
  uint64_t denials;    /* calls rejected under it so far */
} cp_rate_rule_info;

typedef void (*cp_rate_rule_fn)(const cp_rate_rule_info *rule, void *user);

/* Calls fn for every rule, in the order they were first set, then for the
 * default: the effective table an operator sees (cpluginctl limits). Rules
 * cannot change while it runs (it holds the table's writer lock; fn must
 * not change the policy). Whether checks run at all:
 * cp_rate_policy_enabled. */
CP_API void cp_rate_policy_foreach_rule(const cp_rate_policy *policy,
                                        cp_rate_rule_fn fn, void *user);

/* False after cp_rate_policy_set_enabled(policy, false): every call passes. */
CP_API bool cp_rate_policy_enabled(const cp_rate_policy *policy);

/* Writes the address part of a gRPC peer string into `out` (NUL-terminated)
 * and returns its length: "ipv4:10.0.0.7:5000" gives "10.0.0.7";
 * "ipv6:[2001:db8::1]:5000" (also percent-encoded, "%5B...%5D") gives
 * "2001:db8::1" in canonical form, with the zone dropped and only the first
 * `ipv6_prefix_bits` (0..128) kept; an IPv4-mapped IPv6 address gives the
 * IPv4 address; "unix:/path", "unix-abstract:name" and "inproc:<n>" (a
 * connection handed over with cp_server_add_connection) are returned whole.
 * Returns CP_EINVAL for NULL arguments, a bad prefix length, anything else
 * (including no port), or when `out` is too small. Pure: no allocation. */
CP_API int cp_rate_peer_address(const char *peer, unsigned ipv6_prefix_bits,
                                char *out, size_t out_cap);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_RATELIMIT_POLICY_H */
