/* The child between fork and exec: async-signal-safe calls only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct linux_dirent64 fields, SYS_* numbers */
#endif
#include "launch/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2) /* linux/close_range.h, Linux 5.11 */
#endif

const char *cpi_proc_child_step_name(int step) {
  switch (step) {
    case PROC_CHILD_SETPGID:
      return "setpgid";
    case PROC_CHILD_PDEATHSIG:
      return "prctl(PR_SET_PDEATHSIG)";
    case PROC_CHILD_PARENT_GONE:
      return "the host exited during the start";
    case PROC_CHILD_STDIO:
      return "dup2 of stdin, stdout, stderr";
    case PROC_CHILD_CLOSE_FDS:
      return "closing inherited descriptors";
    case PROC_CHILD_EXEC:
      return "exec";
    default:
      return "child setup";
  }
}

_Noreturn static void fail(int report_fd, proc_child_step step, int err) {
  proc_child_report r = {(int32_t)step, (int32_t)err};
  ssize_t ignored = write(report_fd, &r, sizeof r);
  (void)ignored;
  _exit(127);
}

/* Moves fd to a number >= 3 (close-on-exec), so that placing stdio on 0, 1
 * and 2 cannot overwrite a source that sits there (a host that closed its
 * own stdio gets pipes with small numbers). */
static int above_stdio(int fd) {
  return fd >= 3 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Marks fds >= 3 close-on-exec by listing /proc/self/fd with getdents64
 * (opendir allocates). Returns 0, or -1 without /proc. */
static int cloexec_listed_fds(void) {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    return -1;
  }
  char buf[4096] __attribute__((aligned(8)));
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    for (long off = 0; off < n;) {
      /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1),
       * name. */
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char *name = buf + off + 19;
      int fd = 0;
      bool numeric = name[0] != '\0';
      for (const char *p = name; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
          numeric = false;
          break;
        }
        fd = fd * 10 + (*p - '0');
      }
      if (numeric && fd >= 3 && fd != dir) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
      off += reclen;
    }
  }
  close(dir);
  return 0;
}

/* Every descriptor >= 3 close-on-exec (report_fd must stay usable until
 * exec, so none is closed here). close_range (Linux 5.11), else
 * /proc/self/fd, else every number below RLIMIT_NOFILE. */
static int cloexec_all_fds(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
    return 0;
  }
  if (cloexec_listed_fds() == 0) {
    return 0;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return -1;
  }
  for (rlim_t fd = 3; fd < rl.rlim_cur; fd++) {
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  }
  return 0;
}

/* libc refuses to touch the signals it reserves for itself (glibc: 32 and
 * 33), yet an ignored one is inherited across exec like any other (Bazel's
 * test wrapper leaves 32 ignored). The kernel's own call resets them; its
 * struct is known here for the architectures below. */
static void reset_reserved_signal(int sig) {
#if defined(__x86_64__) || defined(__aarch64__)
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
  } dfl = {SIG_DFL, 0, NULL, 0};
  syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
#else
  (void)sig;
#endif
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &sa, NULL) != 0) {
      reset_reserved_signal(sig);
    }
  }
}

_Noreturn void cpi_proc_child_exec(const proc_child_setup *s) {
  int report = above_stdio(s->report_fd);
  if (report < 0) {
    _exit(127); /* cannot even report; the parent sees exit code 127 */
  }
  if (setpgid(0, 0) != 0) {
    fail(report, PROC_CHILD_SETPGID, errno);
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    fail(report, PROC_CHILD_PDEATHSIG, errno);
  }
  /* The parent may have died before prctl: then no signal would come. */
  if (getppid() != s->parent_pid) {
    fail(report, PROC_CHILD_PARENT_GONE, ESRCH);
  }
  /* Signals stay blocked (the forking thread blocks them all) until the
   * handlers inherited from the host are gone. */
  reset_signals();
  int in = above_stdio(s->stdin_fd);
  int out = above_stdio(s->stdout_fd);
  int err = above_stdio(s->stderr_fd);
  if (in < 0 || out < 0 || err < 0 || dup2(in, STDIN_FILENO) < 0 ||
      dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
    fail(report, PROC_CHILD_STDIO, errno);
  }
  if (cloexec_all_fds() != 0) {
    fail(report, PROC_CHILD_CLOSE_FDS, errno);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(s->path, s->argv, s->envp);
  fail(report, PROC_CHILD_EXEC, errno);
}
