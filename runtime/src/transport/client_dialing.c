/* cp_client_create_dialing: a client over connections it makes itself, and
 * makes again once the server has closed the last one.
 *
 * gRPC's channel over a descriptor (a "direct channel") never reconnects,
 * and tells nobody when its connection ends. The dialer keeps a duplicate
 * of the connection's descriptor: the socket outlives gRPC's copy, and
 * poll(2) on it reports the server's end closed (POLLRDHUP/POLLHUP). Each
 * call checks that before it opens; a closed connection's channel is
 * replaced under the dialer's lock, which every call holds while it opens,
 * so no call is being opened on a channel that is destroyed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP */
#endif
#include <fcntl.h>
#include <grpc/grpc.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/connection_fd.h"

struct cp_client_dialer {
  cp_client_dial_fn dial;
  void *user;
  pthread_mutex_t mu;
  int watch_fd; /* a duplicate of the current connection */
};

static bool peer_closed(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  return poll(&p, 1, 0) > 0 &&
         (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* A new connection from `dial`: its channel in *channel and its duplicate
 * in *watch_fd. Returns 0, the dial's error, CP_EINVAL (not a connected
 * AF_UNIX stream socket), CP_ESYS or CP_ENOMEM. */
static int connect_once(cp_client_dialer *d, const cp_client_options *o,
                        grpc_channel **channel, int *watch_fd) {
  int fd = -1;
  int rc = d->dial(&fd, d->user);
  if (rc == 0 && fd < 0) {
    rc = CP_EINVAL;
  }
  if (rc != 0) {
    return rc;
  }
  rc = cpi_connection_fd_prepare(fd);
  int watch = rc == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (rc == 0 && watch < 0) {
    rc = CP_ESYS;
  }
  if (rc != 0) {
    close(fd);
    return rc;
  }
  *channel = cpi_channel_over_connection(fd, o);
  if (*channel == NULL) {
    close(watch);
    return CP_ENOMEM;
  }
  *watch_fd = watch;
  return 0;
}

int cp_client_create_dialing(cp_client **out, cp_client_dial_fn dial,
                             void *user, const cp_client_options *opts) {
  if (out != NULL) {
    *out = NULL;
  }
  cp_client_options o;
  int rc = out == NULL || dial == NULL ? CP_EINVAL
                                       : cpi_client_check_options(opts, &o);
  if (rc == 0 && o.tls != NULL) {
    rc = CP_EINVAL; /* gRPC dials a descriptor with plaintext only */
  }
  cp_client_dialer *d = rc == 0 ? calloc(1, sizeof *d) : NULL;
  if (rc == 0 && d == NULL) {
    rc = CP_ENOMEM;
  }
  if (rc != 0) {
    return rc;
  }
  d->dial = dial;
  d->user = user;
  pthread_mutex_init(&d->mu, NULL);
  grpc_init();
  grpc_channel *channel = NULL;
  rc = connect_once(d, &o, &channel, &d->watch_fd);
  if (rc != 0) {
    d->watch_fd = -1;
    cpi_client_dialer_free(d);
    grpc_shutdown();
    return rc;
  }
  rc = cpi_client_from_channel(out, &o, channel);
  if (rc != 0) {
    cpi_client_dialer_free(d);
    return rc;
  }
  (*out)->dialer = d;
  return 0;
}

grpc_call *cpi_client_open_call(cp_client *c, grpc_call *parent,
                                grpc_completion_queue *cq, grpc_slice path,
                                gpr_timespec deadline) {
  cp_client_dialer *d = c->dialer;
  if (d == NULL) {
    return grpc_channel_create_call(c->channel, parent, GRPC_PROPAGATE_DEFAULTS,
                                    cq, path, NULL, deadline, NULL);
  }
  pthread_mutex_lock(&d->mu);
  grpc_channel *fresh = NULL;
  int watch = -1;
  /* A failed dial keeps the closed connection: this call fails UNAVAILABLE
   * on it, and the next one dials again. */
  if (peer_closed(d->watch_fd) &&
      connect_once(d, &c->opts, &fresh, &watch) == 0) {
    grpc_channel_destroy(c->channel);
    close(d->watch_fd);
    c->channel = fresh;
    d->watch_fd = watch;
  }
  grpc_call *call =
      grpc_channel_create_call(c->channel, parent, GRPC_PROPAGATE_DEFAULTS, cq,
                               path, NULL, deadline, NULL);
  pthread_mutex_unlock(&d->mu);
  return call;
}

void cpi_client_dialer_free(cp_client_dialer *d) {
  if (d == NULL) {
    return;
  }
  if (d->watch_fd >= 0) {
    close(d->watch_fd);
  }
  pthread_mutex_destroy(&d->mu);
  free(d);
}
