/* cpluginctl — child processes of `load`: `cpluginctl serve` and
 * `cpluginctl provider`, started from this very binary (/proc/self/exe),
 * read through their stdout contract, and always stopped.
 *
 * No orphans: each child gets PR_SET_PDEATHSIG(SIGTERM), so it stops even if
 * `load` is killed outright, and runs in its own process group, so a
 * terminal's Ctrl-C reaches only `load`, which then stops the children in
 * order (provider before host) after its own calls drained.
 *
 * Thread safety: one thread. Start children before creating threads (gRPC):
 * fork() copies only the calling thread.
 */
#ifndef CPLUGINCTL_CHILDREN_H
#define CPLUGINCTL_CHILDREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ctl_child {
  char name[16]; /* "serve", "provider": for messages */
  pid_t pid;     /* 0 = not running */
  int out_fd;    /* the child's stdout */
  char buf[1024];
  size_t len; /* bytes in buf not yet returned as lines */
  bool eof;
} ctl_child;

/* Starts `/proc/self/exe argv[1..]` (argv[0] is ignored, NULL-terminated).
 * Returns 0 or -1 (errno-style message on stderr). */
int ctl_child_start(ctl_child *c, const char *name, char *const argv[]);

/* Reads lines until one starts with `prefix`; copies the rest of it (after
 * the prefix) into `value`. Returns 0; -1 when the child ended its output or
 * timeout_ms passed first (the lines read meanwhile are echoed to stderr so
 * the reason is visible). */
int ctl_child_expect(ctl_child *c, const char *prefix, char *value, size_t cap,
                     int timeout_ms);

/* SIGTERM, then reads the rest of the output for "SERVED ok=<n>" and reaps
 * the child; SIGKILL after timeout_ms. *served is set when the line came.
 * Returns the exit status (0..255), or -1 when it had to be killed or did
 * not exit normally. No-op (returns 0) for a child that is not running. */
int ctl_child_stop(ctl_child *c, int timeout_ms, bool *has_served,
                   uint64_t *served);

#endif /* CPLUGINCTL_CHILDREN_H */
