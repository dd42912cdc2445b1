/* A throwaway single-member etcd for tests (C, callable from C++): on free
 * loopback ports, its data in a directory the caller owns, in a child
 * process the test stops and may start again on the same ports and data.
 * Debian's etcd-server, installed by tools/install-deps.sh. */
#ifndef CPLUGIN_TESTS_ETCD_SERVER_H
#define CPLUGIN_TESTS_ETCD_SERVER_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct test_etcd {
  pid_t pid;       /* -1 when not running */
  int client_port; /* kept across test_etcd_stop, for a restart */
  int peer_port;
  char dir[256];   /* data and etcd.log live here */
  char target[32]; /* "127.0.0.1:<client_port>" */
} test_etcd;

/* Starts etcd with its data and log under `dir` (which must exist) and
 * waits until it reports itself healthy (GET /health). Fresh ports on the
 * first start (retried when another process takes one first); the same
 * ports when `e` ran before. Returns 0, or -1 with no process left
 * behind. Zero `e` before its first start. */
int test_etcd_start(test_etcd *e, const char *dir);

/* Sends `sig` (SIGTERM, or SIGKILL for a crash) and waits for the exit.
 * Safe when not running. */
void test_etcd_stop(test_etcd *e, int sig);

/* test_etcd_start in a new directory /tmp/<name>-XXXXXX (kept in e->dir,
 * where a restart finds it). Returns 0, or -1 with nothing left behind. */
int test_etcd_start_fresh(test_etcd *e, const char *name);

/* Stops it (SIGTERM) and removes its directory. Safe when not started. */
void test_etcd_remove(test_etcd *e);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_ETCD_SERVER_H */
