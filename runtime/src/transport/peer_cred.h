/* The user behind a caller of a plaintext Unix-socket listener (internal).
 * No gRPC types: the per-address limits outside the transport use it. */
#ifndef CPLUGIN_TRANSPORT_PEER_CRED_H
#define CPLUGIN_TRANSPORT_PEER_CRED_H

#include <stdbool.h>
#include <sys/types.h>

/* For the peer string of a call on a connection that a cplugin Unix-socket
 * listener accepted ("fd:N": gRPC names a connection handed to it by
 * descriptor that way, see unix_listener.h), stores in *uid the user the
 * kernel recorded when the client connected (SO_PEERCRED) and returns true.
 * Returns false for every other peer (TCP, "unix:...", NULL) and when N is
 * not a connected Unix socket.
 *
 * Only while the call that reported `peer` is live: gRPC closes N after the
 * last call on its connection is released, so until then N names that
 * connection and no later one. Thread safety: any thread; no allocation. */
bool cpi_peer_unix_uid(const char *peer, uid_t *uid);

#endif /* CPLUGIN_TRANSPORT_PEER_CRED_H */
