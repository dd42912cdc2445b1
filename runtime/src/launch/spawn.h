/* Fork and exec with the outcome known (internal): the parent learns whether
 * exec worked, and if not which step failed with which errno, through a
 * close-on-exec pipe that exec closes (EOF) or the child writes to. */
#ifndef CPLUGIN_LAUNCH_SPAWN_H
#define CPLUGIN_LAUNCH_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "launch/child_args.h"

typedef struct proc_spawned {
  pid_t pid;
  int stdout_fd; /* read ends, close-on-exec and non-blocking */
  int stderr_fd;
} proc_spawned;

/* Starts args->path as described in launch/process.h (launch/child.c does
 * the child's part). Call it with every signal blocked in the calling
 * thread, from the thread that will outlive the child: PR_SET_PDEATHSIG
 * fires when that thread ends. Returns 0 and fills *out, or a CP_E* code
 * (CP_ENOTFOUND, CP_EDENIED, CP_ENOMEM, CP_ESYS) with "<path>: <reason>" in
 * err; then the child (if one was forked) has been reaped. */
int cpi_proc_fork_exec(const proc_child_args *args, proc_spawned *out,
                       char *err, size_t errlen);

/* strerror_r into buf, returning the text. */
const char *cpi_proc_errno_text(int err, char *buf, size_t n);

#endif /* CPLUGIN_LAUNCH_SPAWN_H */
