/* What the forked child does before exec (internal). It runs between fork
 * and exec in the copy of a process that has other threads, so it calls
 * async-signal-safe functions only: no allocation, no locks, no stdio. */
#ifndef CPLUGIN_LAUNCH_CHILD_H
#define CPLUGIN_LAUNCH_CHILD_H

#include <stdint.h>
#include <sys/types.h>

/* The step that failed, reported to the parent with its errno. */
typedef enum proc_child_step {
  PROC_CHILD_SETPGID = 1,
  PROC_CHILD_PDEATHSIG = 2,
  PROC_CHILD_PARENT_GONE = 3,
  PROC_CHILD_STDIO = 4,
  PROC_CHILD_CLOSE_FDS = 5,
  PROC_CHILD_EXEC = 6
} proc_child_step;

/* Written whole (one write of 8 bytes, atomic on a pipe) to report_fd. */
typedef struct proc_child_report {
  int32_t step;
  int32_t err;
} proc_child_report;

typedef struct proc_child_setup {
  const char *path;
  char *const *argv;
  char *const *envp;
  int stdin_fd;  /* becomes 0 (/dev/null) */
  int stdout_fd; /* becomes 1 */
  int stderr_fd; /* becomes 2 */
  int report_fd; /* close-on-exec: EOF tells the parent exec worked */
  pid_t parent_pid;
} proc_child_setup;

/* Own process group, PR_SET_PDEATHSIG(SIGKILL) (exits when the parent is
 * already gone), stdio, every other descriptor close-on-exec, default signal
 * dispositions, an empty signal mask, execve. Returns only to _exit(127)
 * after writing a report. */
_Noreturn void cpi_proc_child_exec(const proc_child_setup *s);

/* "setpgid", "exec", ...: what a step did, for error messages. */
const char *cpi_proc_child_step_name(int step);

#endif /* CPLUGIN_LAUNCH_CHILD_H */
