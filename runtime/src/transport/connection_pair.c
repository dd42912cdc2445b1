/* cp_server_socketpair and cp_connection_pair: in-process connections to a
 * running server, without a listener. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_CLOEXEC */
#endif
#include <sys/socket.h>
#include <unistd.h>

#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "cplugin/server.h"
#include "transport/client_internal.h"

int cp_server_socketpair(cp_server *server, int *fd) {
  if (fd != NULL) {
    *fd = -1;
  }
  if (server == NULL || fd == NULL) {
    return CP_EINVAL;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return CP_ESYS;
  }
  int rc = cp_server_add_connection(server, sv[1]); /* owns sv[1] */
  if (rc != 0) {
    close(sv[0]);
    return rc;
  }
  *fd = sv[0];
  return 0;
}

int cp_connection_pair(cp_server *server, cp_client **client_out,
                       const cp_client_options *opts) {
  if (client_out != NULL) {
    *client_out = NULL;
  }
  cp_client_options checked;
  /* Bad options fail before the server has a connection that would only
   * see its peer vanish. */
  if (server == NULL || client_out == NULL ||
      cpi_client_check_options(opts, &checked) != 0 || checked.tls != NULL) {
    return CP_EINVAL;
  }
  int fd = -1;
  int rc = cp_server_socketpair(server, &fd);
  return rc != 0 ? rc : cp_client_create_from_connection(client_out, fd, opts);
}
