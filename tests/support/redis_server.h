/* A throwaway redis-server for tests (C, callable from C++): on a free
 * loopback port, without persistence, in the foreground of a child process
 * the test stops. Debian's redis-server, installed by tools/install-deps.sh. */
#ifndef CPLUGIN_TESTS_REDIS_SERVER_H
#define CPLUGIN_TESTS_REDIS_SERVER_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct test_redis {
  pid_t pid; /* -1 when not running */
  int port;  /* kept across test_redis_stop, for a restart on it */
} test_redis;

/* Starts redis-server with `extra` arguments (NULL-terminated, may be NULL)
 * and waits until it answers PING (a server with requirepass answers
 * NOAUTH, which counts). port <= 0: a free port, retried when another
 * process takes it first; else that port. Returns 0, or -1 with no process
 * left behind. */
int test_redis_start(test_redis *r, int port, const char *const *extra);

/* SIGKILL (no goodbye to clients, as in a crash) or SIGTERM, and waits for
 * the exit. Safe when not running. */
void test_redis_stop(test_redis *r, int sig);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_REDIS_SERVER_H */
