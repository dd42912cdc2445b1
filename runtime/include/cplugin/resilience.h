/* cplugin — client resilience: retry with backoff, a circuit breaker and
 * static discovery with failover, all built on the client interceptor API
 * (cplugin/client.h). docs/resilience-client.md has the knobs, defaults and
 * the recommended order (breaker outside retry).
 *
 * Ownership: cp_retry and cp_breaker objects are created by the application,
 * attached to any number of clients with *_attach, and destroyed after every
 * client they are attached to (cp_client_destroy first).
 *
 * Thread safety: clients are shared across threads, so an attached cp_retry
 * or cp_breaker is used by many calls at once; every function here is safe
 * from any thread except the destroy functions. Callbacks (sleep, random,
 * on_state_change) may run on several threads at once.
 *
 * Asynchronous calls (cp_client_unary_async): retry and breaker attach with
 * both interceptor forms, so they wrap asynchronous calls too. There a
 * retry's backoff is a timer on the client's callback thread — `sleep` is
 * never called, no thread waits — and cp_client_close ends the wait at once
 * (the call ends CANCELLED "client is closed"); an open breaker fails the
 * call without a network call, its callback still on the callback thread.
 */
#ifndef CPLUGIN_RESILIENCE_H
#define CPLUGIN_RESILIENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/client.h"
#include "cplugin/clock.h"
#include "cplugin/metrics.h"
#include "cplugin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A set of status codes, one bit per code. */
#define CP_CODE_BIT(code) (UINT32_C(1) << (unsigned)(code))

/* --- retry ------------------------------------------------------------------
 * Runs an invocation again after a failure that is safe to repeat: the
 * server did not act on the request (UNAVAILABLE) or asked the caller to
 * come back later (RESOURCE_EXHAUSTED with `retry-after-ms`). Between
 * attempts it waits min(initial * multiplier^(n-1), max) times a jitter
 * factor in [0.5, 1); a status carrying `retry-after-ms` replaces that wait
 * with the server's (never shortened by jitter). It never waits past the
 * call's deadline: when the next wait would end at or after it, the last
 * status is returned at once. A RESOURCE_EXHAUSTED without `retry-after-ms`
 * is not retried (cplugin's rate limiter omits it exactly when waiting
 * cannot help), nor is one asking for more than max_retry_after_ms.
 *
 * Streams: only the start of a stream is ever retried, never a stream that
 * delivered a message. With CP_RETRY_STREAM_START, a start whose request
 * could not be sent (target down) is retried; refusals the server sends as
 * the stream's first event reach the caller through cp_client_stream_next.
 * With CP_RETRY_STREAM_FIRST_MESSAGE, the start also waits for the first
 * message or the end (cp_invocation_await_first_message), so a refused
 * stream is retried before the caller sees it; cp_client_stream_start then
 * returns only once the server sent a message or ended the stream.
 * Client-streaming and bidirectional streams: only a failed open (nothing
 * sent yet, e.g. target down) is retried, in either mode; a failure after
 * the caller started sending reaches the caller and is never replayed.
 */

typedef enum cp_retry_stream_mode {
  CP_RETRY_STREAM_START = 0,
  CP_RETRY_STREAM_FIRST_MESSAGE = 1
} cp_retry_stream_mode;

typedef struct cp_retry_policy {
  /* Attempts in all, the first included (default 3; 1 = never retry). At
   * most CP_RETRY_MAX_ATTEMPTS. */
  int max_attempts;
  /* Backoff before the second attempt (default 100 ms), growing by
   * `multiplier` (default 2.0, at least 1.0) up to max_backoff_ms (default
   * 10 000 ms). */
  int64_t initial_backoff_ms;
  int64_t max_backoff_ms;
  double multiplier;
  /* Multiply each backoff by a factor in [0.5, 1) (default true), so clients
   * refused together do not come back together. */
  bool jitter;
  /* Codes retried (default UNAVAILABLE | RESOURCE_EXHAUSTED). Only add codes
   * whose calls are safe to repeat: a DEADLINE_EXCEEDED or INTERNAL call may
   * have run on the server. RESOURCE_EXHAUSTED always needs retry-after-ms. */
  uint32_t retry_codes;
  /* The longest server-requested wait honoured (default 10 000 ms); a
   * longer retry-after-ms ends retrying with the server's status. */
  int64_t max_retry_after_ms;
  cp_retry_stream_mode streams; /* default CP_RETRY_STREAM_START */
} cp_retry_policy;

#define CP_RETRY_MAX_ATTEMPTS 100

/* Fills `policy` with the defaults above. */
CP_API void cp_retry_policy_init(cp_retry_policy *policy);

/* Routes per cp_retry (each call scans them). */
#define CP_RETRY_MAX_ROUTES 256

/* A policy for the methods whose path starts with `prefix`: a full path
 * "/pkg.Service/Method" or a service "/pkg.Service/". The longest matching
 * prefix wins. */
typedef struct cp_retry_route {
  const char *prefix;
  cp_retry_policy policy;
} cp_retry_route;

/* Waits `ns` nanoseconds (the default uses nanosleep). Tests pass one that
 * advances a cp_manual_clock instead. Blocking calls only: asynchronous
 * calls wait on a timer. */
typedef void (*cp_retry_sleep_fn)(int64_t ns, void *user);
/* A number in [0, 1) for jitter (the default is a thread-safe PRNG). */
typedef double (*cp_retry_random_fn)(void *user);

typedef struct cp_retry_options {
  cp_retry_policy policy;       /* for methods no route matches */
  const cp_retry_route *routes; /* copied, prefixes too */
  size_t route_count;
  /* Time for deadline checks (NULL = system clock). The deadline is read
   * once, as time left, when the invocation reaches the interceptor. */
  const cp_clock *clock;
  cp_retry_sleep_fn sleep;
  void *sleep_user;
  cp_retry_random_fn random;
  void *random_user;
} cp_retry_options;

/* Default policy, no routes, system clock, real sleep, internal PRNG. */
CP_API void cp_retry_options_init(cp_retry_options *opts);

typedef struct cp_retry cp_retry;

/* Validates and copies `opts` (NULL = defaults). Returns 0, CP_EINVAL (a
 * policy out of range, a route without a prefix "/...") or CP_ENOMEM. */
CP_API int cp_retry_create(cp_retry **out, const cp_retry_options *opts);

/* Adds the retry interceptor to `client` (before its first call). Returns as
 * cp_client_add_interceptor. */
CP_API int cp_retry_attach(cp_retry *retry, cp_client *client);

/* The wait before attempt `attempt + 1` after `attempt` failures (1-based),
 * in ms, without jitter: min(initial * multiplier^(attempt-1), max). */
CP_API int64_t cp_retry_backoff_ms(const cp_retry_policy *policy, int attempt);

/* Retries done (attempts after the first) since creation. */
CP_API uint64_t cp_retry_count(const cp_retry *retry);

/* NULL allowed. After every client it is attached to was destroyed. */
CP_API void cp_retry_destroy(cp_retry *retry);

/* --- circuit breaker --------------------------------------------------------
 * Stops calling a target that keeps failing. Closed: calls pass; after
 * failure_threshold consecutive failures it opens. Open: calls fail at once
 * with UNAVAILABLE "circuit breaker is open" (the target is not called);
 * after open_timeout_ms it goes half-open. Half-open: at most
 * half_open_max_probes calls at a time reach the target (others fail fast as
 * if open); success_threshold successes close it, one failure opens it
 * again. Failures are the codes in failure_codes (by default those that say
 * the target is sick: UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN,
 * DATA_LOSS). Any other outcome — OK, or an error the target answered
 * deliberately such as INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED,
 * UNAUTHENTICATED or RESOURCE_EXHAUSTED (a quota, not sickness) — counts as
 * a success: the target is alive. CANCELLED (the caller gave up) counts as
 * neither. A stream counts by its start.
 */

typedef enum cp_breaker_state {
  CP_BREAKER_CLOSED = 0,
  CP_BREAKER_OPEN = 1,
  CP_BREAKER_HALF_OPEN = 2
} cp_breaker_state;

/* "Closed", "Open", "HalfOpen"; "Unknown" otherwise. Static. */
CP_API const char *cp_breaker_state_name(cp_breaker_state state);

typedef struct cp_breaker cp_breaker;

/* Called after each state change, outside the breaker's lock. Changes of
 * one breaker are reported one at a time, in order. It may read the breaker
 * (stats, state) but must not call cp_breaker_allow/record or make a call
 * the breaker guards: that call would wait for its own report. */
typedef void (*cp_breaker_change_fn)(cp_breaker *breaker, cp_breaker_state from,
                                     cp_breaker_state to, void *user);

typedef struct cp_breaker_options {
  int failure_threshold;    /* default 5 */
  int success_threshold;    /* default 2 */
  int64_t open_timeout_ms;  /* default 10 000 */
  int half_open_max_probes; /* default 1 */
  uint32_t failure_codes;   /* default as above */
  /* Only methods whose path starts with this are guarded (NULL or "" =
   * all); other calls pass through untouched. Attach one breaker per route
   * to break routes separately on one client. Copied. */
  const char *scope_prefix;
  const cp_clock *clock; /* NULL = system clock */
  cp_breaker_change_fn on_state_change;
  void *user;
  /* Optional metrics: series labelled breaker=`name` in
   * cplugin_circuit_breaker_state (gauge: 0 closed, 1 open, 2 half-open),
   * cplugin_circuit_breaker_transitions_total{breaker,to} and
   * cplugin_circuit_breaker_rejections_total (see cp_breaker_metrics). */
  struct cp_breaker_metrics *metrics;
  /* Copied; default (NULL) "default"; "" is CP_EINVAL. Give each breaker
   * of a registry its own name: breakers with one name share (and
   * overwrite) one series. */
  const char *name;
} cp_breaker_options;

CP_API void cp_breaker_options_init(cp_breaker_options *opts);

/* Validates and copies `opts` (NULL = defaults). Returns 0, CP_EINVAL or
 * CP_ENOMEM. */
CP_API int cp_breaker_create(cp_breaker **out, const cp_breaker_options *opts);

/* Adds the breaker interceptor to `client` (before its first call). */
CP_API int cp_breaker_attach(cp_breaker *breaker, cp_client *client);

typedef struct cp_breaker_stats {
  cp_breaker_state state;
  int consecutive_failures; /* closed state */
  int half_open_successes;
  int probes_in_flight;
  uint64_t rejected; /* calls failed fast since creation */
  uint64_t opened;   /* transitions to open since creation */
} cp_breaker_stats;

CP_API void cp_breaker_get_stats(cp_breaker *breaker, cp_breaker_stats *out);

/* The state now (an open breaker whose timeout passed reads HALF_OPEN only
 * once a call moved it there). */
CP_API cp_breaker_state cp_breaker_get_state(cp_breaker *breaker);

/* The breaker without the interceptor, for plugins that guard something
 * other than a cp_client call: cp_breaker_allow says whether a call may go
 * ahead (false: fail it fast; counted as rejected) and fills `ticket`; after
 * the call, report its outcome with cp_breaker_record and that ticket. A
 * ticket from before the last state change is ignored (the call says nothing
 * about the new state). */
typedef struct cp_breaker_ticket {
  uint64_t generation;
  bool probe;
} cp_breaker_ticket;

CP_API bool cp_breaker_allow(cp_breaker *breaker, cp_breaker_ticket *ticket);
CP_API void cp_breaker_record(cp_breaker *breaker,
                              const cp_breaker_ticket *ticket,
                              cp_status_code code);

/* NULL allowed. After every client it is attached to was destroyed. */
CP_API void cp_breaker_destroy(cp_breaker *breaker);

/* The three metric families, created once per registry and shared by every
 * breaker reporting to it. Owned by the caller; destroy after the breakers
 * (the series themselves belong to the registry). */
typedef struct cp_breaker_metrics cp_breaker_metrics;
CP_API int cp_breaker_metrics_create(cp_breaker_metrics **out,
                                     cp_metric_registry *registry);
CP_API void cp_breaker_metrics_destroy(cp_breaker_metrics *metrics);

/* --- static discovery with failover -----------------------------------------
 * A fixed list of host addresses in preference order, and the one in use.
 * When a call to the current address fails with UNAVAILABLE, move on with
 * cp_static_discovery_next; cp_static_discovery_connect finds the first
 * address, from the current one on, whose health check answers. */

typedef struct cp_static_discovery cp_static_discovery;

/* Copies `addresses` (client targets, see cp_client_create). Returns 0,
 * CP_EINVAL (no addresses, or an empty one) or CP_ENOMEM. */
CP_API int cp_static_discovery_create(cp_static_discovery **out,
                                      const char *const *addresses,
                                      size_t count);

CP_API size_t cp_static_discovery_count(const cp_static_discovery *d);

/* Address `i` in the configured order (NULL when out of range). */
CP_API const char *cp_static_discovery_address(const cp_static_discovery *d,
                                               size_t i);

/* The address in use (the first one until a failover). The string lives as
 * long as `d`. */
CP_API const char *cp_static_discovery_current(const cp_static_discovery *d);

/* Reports that `failed` (a string returned by this object) did not answer
 * and returns the address to use now: the one after `failed`, wrapping
 * around. When another thread already moved past `failed`, returns the
 * current one unchanged, so concurrent reports of one failure fail over
 * once. */
CP_API const char *cp_static_discovery_next(cp_static_discovery *d,
                                            const char *failed);

/* Tries the addresses from the current one on, each once, with a
 * grpc.health.v1 Check (service "") bounded by `timeout_ms` per address.
 * An address answers unless the check ends with UNAVAILABLE,
 * DEADLINE_EXCEEDED or NOT_SERVING (a server without the health service
 * answers UNIMPLEMENTED, which counts: it is up). On success the address
 * becomes current and *out is a client for it created with `opts` (may be
 * NULL); returns 0. Otherwise returns CP_ERPC with `status` UNAVAILABLE
 * "no address answered" (last error in the message). */
CP_API int cp_static_discovery_connect(cp_static_discovery *d,
                                       const cp_client_options *opts,
                                       int64_t timeout_ms, cp_client **out,
                                       cp_status *status);

CP_API void cp_static_discovery_destroy(cp_static_discovery *d);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_RESILIENCE_H */
