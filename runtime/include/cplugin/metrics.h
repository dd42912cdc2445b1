/* cplugin — the standard cplugin metrics: request counts and durations,
 * token validations, rate-limit denials and buckets, live tokens and
 * handshakes, on a metric registry (cplugin/metric_registry.h) that the
 * HTTP listener (cplugin/metrics_http.h) exposes.
 *
 * Thread safety: every function may be called from any thread, except
 * cp_metrics_destroy (nothing else may be running on that object).
 */
#ifndef CPLUGIN_METRICS_H
#define CPLUGIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/handshake.h"
#include "cplugin/metric_registry.h"
#include "cplugin/server.h"
#include "cplugin/service.h"
#include "cplugin/status.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- the standard cplugin metrics -------------------------------------------
 * cp_metrics owns a registry with these families (docs/metrics.md):
 *   cplugin_requests_total{method,code}          counter
 *   cplugin_request_duration_seconds{method}      histogram
 *   cplugin_token_validation_duration_seconds     histogram (sampled)
 *   cplugin_rate_limit_denials_total{method}      counter
 *   cplugin_rate_limit_buckets_active             gauge (callback)
 *   cplugin_tokens_active                         gauge (callback)
 *   cplugin_handshakes_total{result}              counter (callback)
 *   process_resident_memory_bytes                 gauge (/proc/self/statm)
 *   process_threads                               gauge (/proc/self/status)
 * `method` is the gRPC path of a method registered on the server; calls to
 * unknown methods, and registered methods beyond max_methods, are counted
 * under method="other". `code` is the canonical status name ("OK").
 * The callback gauges and handshakes_total appear once something is
 * attached.
 *
 * Lifetime: attached objects (server, token store, handshake service,
 * rate-limit callback data) must outlive the cp_metrics, or at least the
 * last scrape; a server with the post hook must be destroyed before the
 * cp_metrics. Stop the HTTP listener before destroying the cp_metrics.
 */

typedef struct cp_metrics cp_metrics;

typedef struct cp_metrics_options {
  /* Distinct method labels (default 128); more go to method="other". */
  size_t max_methods;
  /* Token validations timed per thread: every Nth (default 64; rounded up
   * to a power of two; 1 = every validation). */
  uint32_t token_sample_every;
  /* Stripes of the registry (see cp_metric_registry_options). */
  unsigned stripes;
} cp_metrics_options;

CP_API void cp_metrics_options_init(cp_metrics_options *opts);

/* Creates the standard families (process gauges included). `opts` may be
 * NULL; it is copied. Returns 0, CP_EINVAL or CP_ENOMEM. The object starts
 * "not ready" (see cp_metrics_set_ready). Destroy with cp_metrics_destroy. */
CP_API int cp_metrics_create(cp_metrics **out, const cp_metrics_options *opts);

/* Frees the metrics and their registry. NULL allowed. */
CP_API void cp_metrics_destroy(cp_metrics *metrics);

/* The registry, to add the host's own families. Owned by `metrics`. */
CP_API cp_metric_registry *cp_metrics_registry(cp_metrics *metrics);

/* Adds cp_metrics_post_hook to `server` (before cp_server_start; several
 * servers may share one cp_metrics). Returns as cp_server_add_post_hook. */
CP_API int cp_metrics_register(cp_metrics *metrics, cp_server *server);

/* The post-call hook itself (`user` is the cp_metrics), for servers that
 * order hooks by hand: counts requests_total{method,code} and observes
 * request_duration_seconds{method}. Lock-free and allocation-free once a
 * method has been seen. */
CP_API void cp_metrics_post_hook(const cp_call *call, cp_status_code code,
                                 int64_t duration_ns, void *user);

/* What the hook records, for a caller that has no cp_call: `method` NULL
 * counts under "other"; a code outside 0..16 counts as UNKNOWN. */
CP_API void cp_metrics_record_call(cp_metrics *metrics,
                                   const cp_method_desc *method,
                                   cp_status_code code, int64_t duration_ns);

/* cplugin_tokens_active = cp_token_store_count(store) at scrape time.
 * Returns 0, CP_EINVAL, CP_EEXIST (already attached) or CP_ENOMEM. */
CP_API int cp_metrics_attach_token_store(cp_metrics *metrics,
                                         cp_token_store *store);

/* cplugin_handshakes_total{result="ok"|"rejected"} from
 * cp_handshake_service_get_stats at scrape time. Returns as above. */
CP_API int cp_metrics_attach_handshake(cp_metrics *metrics,
                                       const cp_handshake_service *service);

/* cplugin_rate_limit_buckets_active = read(user) at scrape time (the rate
 * limiter's live bucket count). Returns as above. */
CP_API int cp_metrics_attach_rate_limit_buckets(cp_metrics *metrics,
                                                cp_metric_read_fn read,
                                                void *user);

/* Counts one rate-limit denial of `method` (pass cp_call_method(call); NULL
 * = "other"). For the rate limiter's deny hook. Lock-free; NULL `metrics`
 * is ignored. */
CP_API void cp_metrics_count_rate_limit_denial(cp_metrics *metrics,
                                               const cp_method_desc *method);

/* Token validation timing, sampled per thread (token_sample_every):
 *   int64_t t = cp_metrics_token_validation_begin(m);
 *   ok = cp_token_store_validate(...);
 *   cp_metrics_token_validation_end(m, t);
 * begin returns 0 for validations that are not sampled (then end does
 * nothing) and the monotonic time in ns for sampled ones, so unsampled
 * validations cost a thread-local increment and no clock read. NULL
 * `metrics` is ignored (begin returns 0). */
CP_API int64_t cp_metrics_token_validation_begin(cp_metrics *metrics);
CP_API void cp_metrics_token_validation_end(cp_metrics *metrics,
                                            int64_t begin_ns);

/* Observes one token validation of `duration_ns` (unsampled: the caller
 * decides what to time). */
CP_API void cp_metrics_observe_token_validation(cp_metrics *metrics,
                                                int64_t duration_ns);

/* cp_token_store_validate wrapped in begin/end: a drop-in for the
 * runtime-token path. Same arguments and result as cp_token_store_validate;
 * `metrics` may be NULL. */
CP_API bool cp_metrics_validate_token(cp_metrics *metrics,
                                      cp_token_store *store,
                                      const char *runtime_id,
                                      size_t runtime_id_len, const char *token,
                                      size_t token_len);

/* Readiness reported by /readyz: set true once the server serves, false when
 * shutdown begins. Any thread. */
CP_API void cp_metrics_set_ready(cp_metrics *metrics, bool ready);
CP_API bool cp_metrics_is_ready(const cp_metrics *metrics);

/* Makes readiness also depend on `check(user)` (e.g. cp_health_serving, so
 * that /readyz follows the overall health status). Set before the HTTP
 * listener starts; `check` runs on its thread and must be thread-safe. */
typedef bool (*cp_ready_check_fn)(void *user);

CP_API void cp_metrics_set_ready_check(cp_metrics *metrics,
                                       cp_ready_check_fn check, void *user);

/* cp_metric_registry_render of the standard registry. */
CP_API int cp_metrics_render(cp_metrics *metrics, char **text, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_METRICS_H */
