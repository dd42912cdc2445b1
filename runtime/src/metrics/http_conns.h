/* The metrics listener's open connections (internal), so that stopping can
 * end them while the HTTP daemon still runs. libmicrohttpd 0.9.75 crashes
 * when an error reply (400, 414, 431) races its shutdown flag: it queues the
 * reply, finds the daemon shutting down, and then formats a reply it never
 * kept. Draining first leaves nothing in flight when the flag is set.
 *
 * Thread safety: every function may be called from any thread; opened and
 * closed come from the daemon's thread, drain from the stopping one. */
#ifndef CPLUGIN_METRICS_HTTP_CONNS_H
#define CPLUGIN_METRICS_HTTP_CONNS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum { HTTP_CONNS_CAP = 32 /* the daemon's connection limit */ };

typedef struct http_conns {
  pthread_mutex_t mu;
  pthread_cond_t none_left; /* signalled when `live` reaches 0 */
  int fds[HTTP_CONNS_CAP];  /* -1: a free slot */
  size_t live;              /* tracked or not: every opened, not closed */
  bool draining;
} http_conns;

void cpi_http_conns_init(http_conns *c);
void cpi_http_conns_destroy(http_conns *c);

/* A connection on socket `fd` began. While draining (or past the cap, which
 * the daemon's limit prevents) its socket is shut down at once. */
void cpi_http_conns_opened(http_conns *c, int fd);

/* The connection on `fd` ended; called before the daemon closes `fd`, so a
 * tracked descriptor always belongs to its connection. */
void cpi_http_conns_closed(http_conns *c, int fd);

/* Shuts down every open connection's socket (both ways: the daemon sees
 * the end at its next poll and closes it) and waits up to `timeout_ms` for
 * all of them to close. Returns false on timeout. */
bool cpi_http_conns_drain(http_conns *c, int timeout_ms);

#endif /* CPLUGIN_METRICS_HTTP_CONNS_H */
