/* cpi_peer_unix_uid: SO_PEERCRED of the connection behind an "fd:N" peer.
 *
 * Read at each use rather than recorded at accept: the descriptor is the
 * connection for as long as one of its calls is live, so there is no table
 * to keep right when descriptor numbers are reused. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include "transport/peer_cred.h"

#include <limits.h>
#include <string.h>
#include <sys/socket.h>

/* "fd:" and a decimal descriptor number, nothing else. */
static bool parse_fd(const char *peer, int *fd) {
  if (strncmp(peer, "fd:", 3) != 0 || peer[3] == '\0') {
    return false;
  }
  long v = 0;
  for (const char *s = peer + 3; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (INT_MAX - 9) / 10) {
      return false;
    }
    v = v * 10 + (*s - '0');
  }
  *fd = (int)v;
  return true;
}

bool cpi_peer_unix_uid(const char *peer, uid_t *uid) {
  int fd = -1;
  if (peer == NULL || uid == NULL || !parse_fd(peer, &fd)) {
    return false;
  }
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      domain != AF_UNIX) {
    return false; /* SO_PEERCRED of a TCP socket is a placeholder */
  }
  struct ucred cred;
  len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      len != sizeof cred || cred.uid == (uid_t)-1) {
    return false;
  }
  *uid = cred.uid;
  return true;
}
