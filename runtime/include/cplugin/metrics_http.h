/* cplugin — the metrics HTTP listener: /metrics (the exposition of a
 * cp_metrics), /healthz and /readyz, served by libmicrohttpd.
 *
 * Thread safety: start and destroy from one thread; the listener serves on
 * its own thread meanwhile.
 */
#ifndef CPLUGIN_METRICS_HTTP_H
#define CPLUGIN_METRICS_HTTP_H

#include "cplugin/export.h"
#include "cplugin/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- HTTP listener (libmicrohttpd) ------------------------------------------
 * GET /metrics  200, CP_METRICS_CONTENT_TYPE, the exposition
 * GET /healthz  200 "ok" while the process runs
 * GET /readyz   200 "ready" or 503 "not ready" (cp_metrics_set_ready)
 * other paths 404; methods other than GET and HEAD 405 (with Allow).
 * One internal thread (poll) serves every connection; at most 32
 * connections (4 per client address), each closed after 10 s idle, request headers within 16 KiB.
 */

typedef struct cp_metrics_http cp_metrics_http;

/* Listens on `address` (a numeric IPv4 or IPv6 address such as "127.0.0.1"
 * or "::1"; only that address is bound) and `port` (0 = a free port), and
 * serves `metrics`, which must outlive the listener. *bound_port (if not
 * NULL) receives the port. Returns 0; CP_EINVAL for a bad address or port;
 * CP_EBIND when the address cannot be bound; CP_ENOMEM. Stop with
 * cp_metrics_http_destroy. */
CP_API int cp_metrics_http_start(cp_metrics_http **out, cp_metrics *metrics,
                                 const char *address, int port,
                                 int *bound_port);

/* Closes the listener, waits for the request in progress (if any) and frees
 * it. NULL allowed. */
CP_API void cp_metrics_http_destroy(cp_metrics_http *http);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_METRICS_HTTP_H */
