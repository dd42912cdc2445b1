/* The metrics listener's open connections, for a drain before stopping. */
#include "metrics/http_conns.h"

#include <errno.h>
#include <sys/socket.h>

#include "core/monotonic_cond.h"

void cpi_http_conns_init(http_conns *c) {
  pthread_mutex_init(&c->mu, NULL);
  cpi_cond_init_monotonic(&c->none_left);
  for (size_t i = 0; i < HTTP_CONNS_CAP; i++) {
    c->fds[i] = -1;
  }
  c->live = 0;
  c->draining = false;
}

void cpi_http_conns_destroy(http_conns *c) {
  pthread_cond_destroy(&c->none_left);
  pthread_mutex_destroy(&c->mu);
}

void cpi_http_conns_opened(http_conns *c, int fd) {
  pthread_mutex_lock(&c->mu);
  c->live++;
  bool kept = false;
  if (!c->draining) {
    for (size_t i = 0; i < HTTP_CONNS_CAP && !kept; i++) {
      if (c->fds[i] < 0) {
        c->fds[i] = fd;
        kept = true;
      }
    }
  }
  if (!kept) {
    /* Under the lock: `fd` cannot be closed (and reused) meanwhile, since
     * its close comes after cpi_http_conns_closed. */
    shutdown(fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&c->mu);
}

void cpi_http_conns_closed(http_conns *c, int fd) {
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < HTTP_CONNS_CAP; i++) {
    if (c->fds[i] == fd) {
      c->fds[i] = -1;
      break;
    }
  }
  if (c->live > 0 && --c->live == 0) {
    pthread_cond_broadcast(&c->none_left);
  }
  pthread_mutex_unlock(&c->mu);
}

bool cpi_http_conns_drain(http_conns *c, int timeout_ms) {
  struct timespec deadline = cpi_monotonic_after_ms(timeout_ms);
  pthread_mutex_lock(&c->mu);
  c->draining = true;
  for (size_t i = 0; i < HTTP_CONNS_CAP; i++) {
    if (c->fds[i] >= 0) {
      shutdown(c->fds[i], SHUT_RDWR);
      c->fds[i] = -1; /* once is enough; `live` still counts it */
    }
  }
  int rc = 0;
  while (c->live > 0 && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&c->none_left, &c->mu, &deadline);
  }
  bool drained = c->live == 0;
  pthread_mutex_unlock(&c->mu);
  return drained;
}
