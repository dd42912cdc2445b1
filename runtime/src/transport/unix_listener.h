/* Plaintext Unix-socket listeners that cplugin accepts on itself
 * (internal).
 *
 * gRPC's own listener reports every caller of a Unix socket as the socket's
 * path, so per-address limits would count all local users as one. These
 * accept each connection and hand it to gRPC by descriptor
 * (grpc_server_add_channel_from_fd, plaintext only); its calls report the
 * peer "fd:N" and cpi_peer_unix_uid reads the caller's user from N. */
#ifndef CPLUGIN_TRANSPORT_UNIX_LISTENER_H
#define CPLUGIN_TRANSPORT_UNIX_LISTENER_H

#include <stdbool.h>

typedef struct grpc_server grpc_server;
typedef struct cp_unix_listener cp_unix_listener;

/* True for the addresses these listeners take: "unix:path" and
 * "unix-abstract:name". */
bool cpi_unix_listener_handles(const char *address);

/* Binds and listens on `address`, read as gRPC reads it (percent-escapes
 * decoded; a stale socket file at the path is replaced), for `server`, and
 * adds the listener to `*list`. It accepts nothing before
 * cpi_unix_listeners_start. Returns 0, CP_EINVAL (arguments), CP_EBIND
 * (address unusable or not bindable) or CP_ENOMEM. */
int cpi_unix_listener_open(const char *address, grpc_server *server,
                           cp_unix_listener **list);

/* Begins accepting on every listener of `list`. Call after
 * grpc_server_start: gRPC needs the server's completion queues and methods
 * before it takes a connection. */
void cpi_unix_listeners_start(cp_unix_listener *list);

/* Stops accepting (joins the threads: nothing is handed to gRPC after this
 * returns), closes the sockets, removes their files, frees the listeners and
 * empties `*list`. Connections already handed over stay with gRPC. Call it
 * before shutting the gRPC server down. */
void cpi_unix_listeners_close(cp_unix_listener **list);

#endif /* CPLUGIN_TRANSPORT_UNIX_LISTENER_H */
