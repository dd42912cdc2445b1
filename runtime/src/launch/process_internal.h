/* The proc object, shared by the API (process.c) and its I/O thread
 * (io_thread.c). Internal to launch/.
 *
 * Locking: mu guards the fields marked "mu"; cv (CLOCK_MONOTONIC) is
 * broadcast when spawn_done, ready, reaped or exit_reported change. The
 * child is signalled only under mu and only while !reaped, and the I/O
 * thread reaps it under mu: a signal never reaches a reused pid. */
#ifndef CPLUGIN_LAUNCH_PROCESS_INTERNAL_H
#define CPLUGIN_LAUNCH_PROCESS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "launch/child_args.h"
#include "launch/line_splitter.h"
#include "launch/process.h"

enum { PROC_MESSAGE_MAX = 320 };

typedef enum proc_readiness {
  PROC_STARTING = 0,
  PROC_READY = 1,
  PROC_FAILED = 2
} proc_readiness;

struct proc {
  /* Constant after cpi_proc_spawn returns. */
  char name[PROC_NAME_MAX + 1];
  proc_exit_fn on_exit;
  void *user;
  int ready_timeout_ms;
  int64_t ready_deadline_ns;
  bool use_pidfd;
  pid_t pid;
  pthread_t thread;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  const proc_child_args *args; /* mu; until spawn_done */
  bool spawn_done;             /* mu */
  int spawn_rc;                /* mu */
  char spawn_err[PROC_MESSAGE_MAX];
  proc_readiness ready; /* mu */
  int fail_rc;          /* mu; when ready == PROC_FAILED */
  char fail_msg[PROC_MESSAGE_MAX];
  proc_endpoint endpoint; /* mu; when ready == PROC_READY */
  bool reaped;            /* mu */
  bool exit_reported;     /* mu; on_exit has returned */

  /* The I/O thread's own. */
  proc_line_splitter out_lines;
  proc_line_splitter err_lines;
  bool skip_line; /* dropping the rest of a too-long handshake line */
};

/* The I/O thread: forks the child, reads its output, enforces the
 * readiness deadline, reaps it, calls on_exit. */
void *cpi_proc_io_main(void *arg);

/* Ends a start that has not become ready (no effect otherwise): records rc
 * and the message (prefixed "plugin <name>: ") for cpi_proc_wait_ready and, when
 * kill_group, kills the process group (SIGKILL). Locks mu. */
void cpi_proc_fail_start(proc *p, int rc, const char *message, bool kill_group);

/* The same with mu held. */
void cpi_proc_fail_start_locked(proc *p, int rc, const char *message,
                                bool kill_group);

#endif /* CPLUGIN_LAUNCH_PROCESS_INTERNAL_H */
