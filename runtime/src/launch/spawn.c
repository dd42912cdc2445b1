/* The parent's side of starting a child: pipes, fork, the exec report. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, _Fork, the GNU strerror_r */
#endif
#include "launch/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "launch/child.h"

const char *cpi_proc_errno_text(int err, char *buf, size_t n) {
  return strerror_r(err, buf, n);
}

/* fork without the pthread_atfork handlers (gRPC's, OpenSSL's...): the child
 * only execs, and those handlers are not async-signal-safe. */
static pid_t fork_for_exec(void) {
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  return _Fork();
#else
  return fork();
#endif
}

static int code_for_errno(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return CP_ENOTFOUND;
    case EACCES:
    case EPERM:
      return CP_EDENIED;
    case ENOMEM:
      return CP_ENOMEM;
    default:
      return CP_ESYS;
  }
}

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

/* Reads the child's report: 1 and *r filled when it wrote one (exec or a
 * step before it failed), 0 at EOF (exec closed the pipe). */
static int read_report(int fd, proc_child_report *r) {
  size_t got = 0;
  while (got < sizeof *r) {
    ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += (size_t)n;
  }
  return got == sizeof *r ? 1 : 0;
}

static int fail_errno(const char *path, const char *what, int e, char *err,
                      size_t errlen) {
  char text[128];
  if (err != NULL && errlen > 0) {
    if (what != NULL) {
      snprintf(err, errlen, "%s: %s: %s", path, what,
               cpi_proc_errno_text(e, text, sizeof text));
    } else {
      snprintf(err, errlen, "%s: %s", path,
               cpi_proc_errno_text(e, text, sizeof text));
    }
  }
  return code_for_errno(e);
}

int cpi_proc_fork_exec(const proc_child_args *args, proc_spawned *out,
                       char *err, size_t errlen) {
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int report_pipe[2] = {-1, -1};
  if (devnull < 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(report_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close_fd(&devnull);
    for (int i = 0; i < 2; i++) {
      close_fd(&out_pipe[i]);
      close_fd(&err_pipe[i]);
      close_fd(&report_pipe[i]);
    }
    return fail_errno(args->path, "creating pipes", e, err, errlen);
  }
  proc_child_setup setup = {args->path,  args->argv,  args->envp,     devnull,
                            out_pipe[1], err_pipe[1], report_pipe[1], getpid()};
  pid_t pid = fork_for_exec();
  if (pid == 0) {
    cpi_proc_child_exec(&setup);
  }
  int fork_errno = errno;
  close_fd(&devnull);
  close_fd(&out_pipe[1]);
  close_fd(&err_pipe[1]);
  close_fd(&report_pipe[1]);
  proc_child_report report;
  int failed = pid > 0 ? read_report(report_pipe[0], &report) : 0;
  close_fd(&report_pipe[0]);
  if (pid < 0 || failed) {
    close_fd(&out_pipe[0]);
    close_fd(&err_pipe[0]);
    if (pid < 0) {
      return fail_errno(args->path, "fork", fork_errno, err, errlen);
    }
    reap(pid);
    const char *what = report.step == PROC_CHILD_EXEC
                           ? NULL
                           : cpi_proc_child_step_name(report.step);
    return fail_errno(args->path, what, report.err, err, errlen);
  }
  /* Only the read ends: the child's ends stay blocking, as programs expect
   * of their stdout. */
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  out->pid = pid;
  out->stdout_fd = out_pipe[0];
  out->stderr_fd = err_pipe[0];
  return 0;
}
