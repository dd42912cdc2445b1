/* Spawning plugin processes in end-to-end tests (C, callable from C++). */
#ifndef CPLUGIN_TESTS_PROCESS_H
#define CPLUGIN_TESTS_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct test_process {
  pid_t pid;
  int stdout_fd;
  char address[512]; /* from the "LISTENING <address>" line */
} test_process;

/* Starts argv[0] with argv (NULL-terminated) and waits up to timeout_ms for
 * its "LISTENING <address>" line. Returns 0, or -1 (the child is killed). */
int test_process_start(test_process *p, char *const argv[], int timeout_ms);

/* Sends `sig` and waits up to timeout_ms for the exit. Returns the exit
 * status (as waitpid reports it), or -1 on timeout (then SIGKILL). */
int test_process_stop(test_process *p, int sig, int timeout_ms);

/* A Unix socket path no other process uses: `name` inside a new private
 * directory under /tmp (mkdtemp). A PID does not make it unique: Bazel runs
 * tests in PID namespaces, where parallel runs share both /tmp and small
 * PIDs. Writes the path to `out` (at most 107 bytes, the socket limit) and
 * returns 0, or -1. Remove it with test_socket_path_remove. */
int test_socket_path(const char *name, char *out, size_t cap);

/* A loopback TCP port nobody listens on now (the kernel's choice), for a
 * server that must be given a fixed port (etcd, redis-server). Another
 * process may take it before the server binds, so callers retry a start
 * that fails. Returns the port, or -1. */
int test_free_loopback_port(void);

/* Waits up to timeout_ms until ready(port) holds for the server the child
 * `pid` just started. Returns 0; or -1 when the child exited first (a port
 * taken, the program missing) or never got ready, and then no child is
 * left (it is killed and reaped). */
int test_wait_server_ready(pid_t pid, int port, int (*ready)(int port),
                           int timeout_ms);

/* Unlinks the socket and removes its directory. */
void test_socket_path_remove(const char *path);

/* The path of a program given by environment variable `env` (Bazel sets it),
 * else `fallback` (CMake compiles it in). */
const char *test_program_path(const char *env, const char *fallback);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_PROCESS_H */
