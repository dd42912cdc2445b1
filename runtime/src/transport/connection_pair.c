/* cp_connection_pair: an in-process connection from a new client to a
 * running server, without a listener. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_CLOEXEC */
#endif
#include <sys/socket.h>
#include <unistd.h>

#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "cplugin/server.h"

int cp_connection_pair(cp_server *server, cp_client **client_out,
                       const cp_client_options *opts) {
  if (client_out != NULL) {
    *client_out = NULL;
  }
  if (server == NULL || client_out == NULL) {
    return CP_EINVAL;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return CP_ESYS;
  }
  /* The client first: a bad `opts` then fails before the server has a
   * connection that would only see its peer vanish. */
  cp_client *client = NULL;
  int rc = cp_client_create_from_connection(&client, sv[0], opts);
  if (rc != 0) {
    close(sv[1]);
    return rc;
  }
  rc = cp_server_add_connection(server, sv[1]);
  if (rc != 0) {
    cp_client_destroy(client);
    return rc;
  }
  *client_out = client;
  return 0;
}
