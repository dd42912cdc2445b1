/* Reaching a Unix socket as another user, for tests of what a server learns
 * from SO_PEERCRED (C, callable from C++).
 *
 * The kernel records the user of the process that calls connect(). A relay
 * is a forked child that drops to `uid` and, for each connection to its own
 * socket, connects to the target socket and copies bytes both ways; a gRPC
 * client of the relay thus reaches the target as `uid`, from the relay's
 * pid. The child makes only async-signal-safe calls, so forking a test
 * process that runs gRPC's threads is safe, and nothing is exec'd. */
#ifndef CPLUGIN_TESTS_UID_RELAY_H
#define CPLUGIN_TESTS_UID_RELAY_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct test_uid_relay {
  pid_t pid;
  char path[108]; /* the relay's socket; clients use "unix:" path */
} test_uid_relay;

/* Starts a relay to the Unix socket at `target_path` running as uid/gid
 * (supplementary groups dropped). The target must be reachable by that user
 * (see test_socket_share). Returns 0, or -1 with a reason in `why` (for
 * example when the process may not change its user: not root, or a user
 * namespace that does not map `uid`). Stop it with test_uid_relay_stop. */
int test_uid_relay_start(test_uid_relay *r, const char *target_path, uid_t uid,
                         gid_t gid, char *why, size_t why_cap);

/* Kills the relay (its connections close), waits for it, removes its
 * socket. Safe on a relay that did not start (pid 0). */
void test_uid_relay_stop(test_uid_relay *r);

/* Lets every user connect to the socket at `path`, made by
 * test_socket_path: opens its private directory for search and the socket
 * for writing. Returns 0 or -1. */
int test_socket_share(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_UID_RELAY_H */
