/* cpi_connection_fd_prepare: is this descriptor one end of a connection
 * gRPC can serve or dial over? */
#include "transport/connection_fd.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cplugin/errors.h"

static bool int_opt_is(int fd, int name, int want) {
  int v = 0;
  socklen_t len = sizeof v;
  return getsockopt(fd, SOL_SOCKET, name, &v, &len) == 0 && v == want;
}

int cpi_connection_fd_prepare(int fd) {
  if (fd < 0) {
    return CP_EINVAL;
  }
  /* AF_UNIX only: the peer is named "inproc:<n>" and counted as an
   * address of its own, which would hide a TCP peer's real address. */
  if (!int_opt_is(fd, SO_DOMAIN, AF_UNIX) ||
      !int_opt_is(fd, SO_TYPE, SOCK_STREAM) ||
      !int_opt_is(fd, SO_ACCEPTCONN, 0)) {
    return CP_EINVAL;
  }
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0) {
    return CP_EINVAL; /* not connected */
  }
  int fl = fcntl(fd, F_GETFL);
  int fdfl = fcntl(fd, F_GETFD);
  if (fl < 0 || fdfl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
      fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) != 0) {
    return CP_EINVAL;
  }
  return 0;
}
