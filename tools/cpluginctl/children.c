/* Child processes: fork + exec of this binary, line-oriented reads of their
 * stdout with poll() and a deadline, SIGTERM then SIGKILL. */
#define _GNU_SOURCE
#include "children.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_child(int out_w, pid_t parent, char *const argv[]) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) {
    _exit(127); /* the parent died before prctl took effect */
  }
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(out_w, STDOUT_FILENO) < 0) {
    _exit(127);
  }
  close(out_w);
  execv("/proc/self/exe", argv);
  _exit(127);
}

int ctl_child_start(ctl_child *c, const char *name, char *const argv[]) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->out_fd = -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    fprintf(stderr, "cpluginctl load: cannot start %s: pipe: %s\n", name,
            strerror(errno));
    return -1;
  }
  fflush(NULL); /* nothing buffered may be written twice */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    exec_child(fds[1], parent, argv);
  }
  close(fds[1]);
  if (pid < 0) {
    fprintf(stderr, "cpluginctl load: cannot start %s: fork: %s\n", name,
            strerror(errno));
    close(fds[0]);
    return -1;
  }
  c->pid = pid;
  c->out_fd = fds[0];
  return 0;
}

/* Next complete line into `line` (NUL-terminated, no newline). Returns 1, 0
 * at EOF, -1 on timeout. */
static int read_line(ctl_child *c, char *line, size_t cap, int64_t deadline) {
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl != NULL || c->len == sizeof c->buf || (c->eof && c->len > 0)) {
      size_t n = nl != NULL ? (size_t)(nl - c->buf) : c->len;
      size_t copy = n < cap - 1 ? n : cap - 1;
      memcpy(line, c->buf, copy);
      line[copy] = '\0';
      size_t used = nl != NULL ? n + 1 : n;
      memmove(c->buf, c->buf + used, c->len - used);
      c->len -= used;
      return 1;
    }
    if (c->eof) {
      return 0;
    }
    int64_t left_ms = (deadline - ctl_now_ns()) / 1000000;
    if (left_ms <= 0) {
      return -1;
    }
    struct pollfd pfd = {c->out_fd, POLLIN, 0};
    int r = poll(&pfd, 1, left_ms > 1000 ? 1000 : (int)left_ms);
    if (r < 0 && errno != EINTR) {
      c->eof = true;
    }
    if (r <= 0) {
      continue;
    }
    ssize_t got = read(c->out_fd, c->buf + c->len, sizeof c->buf - c->len);
    if (got > 0) {
      c->len += (size_t)got;
    } else if (got == 0 || errno != EINTR) {
      c->eof = true;
    }
  }
}

int ctl_child_expect(ctl_child *c, const char *prefix, char *value, size_t cap,
                     int timeout_ms) {
  int64_t deadline = ctl_now_ns() + (int64_t)timeout_ms * 1000000;
  size_t plen = strlen(prefix);
  char line[512];
  int r;
  while ((r = read_line(c, line, sizeof line, deadline)) == 1) {
    if (strncmp(line, prefix, plen) == 0) {
      snprintf(value, cap, "%s", line + plen);
      return 0;
    }
    fprintf(stderr, "[%s] %s\n", c->name, line);
  }
  fprintf(stderr, "cpluginctl load: %s %s before printing \"%s\"\n", c->name,
          r == 0 ? "ended its output" : "timed out", prefix);
  return -1;
}

int ctl_child_stop(ctl_child *c, int timeout_ms, bool *has_served,
                   uint64_t *served) {
  *has_served = false;
  *served = 0;
  if (c->pid <= 0) {
    return 0;
  }
  kill(c->pid, SIGTERM);
  int64_t deadline = ctl_now_ns() + (int64_t)timeout_ms * 1000000;
  char line[512];
  while (read_line(c, line, sizeof line, deadline) == 1) {
    static const char kServed[] = "SERVED ok=";
    if (strncmp(line, kServed, sizeof kServed - 1) == 0) {
      char *end = NULL;
      unsigned long long n = strtoull(line + sizeof kServed - 1, &end, 10);
      if (end != line + sizeof kServed - 1 && *end == '\0') {
        *has_served = true;
        *served = n;
      }
    }
  }
  int status = 0;
  pid_t r;
  while ((r = waitpid(c->pid, &status, WNOHANG)) == 0 &&
         ctl_now_ns() < deadline) {
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  int result = -1;
  if (r == 0) {
    fprintf(stderr, "cpluginctl load: %s did not stop; killing it\n", c->name);
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
  } else if (r == c->pid && WIFEXITED(status)) {
    result = WEXITSTATUS(status);
  }
  close(c->out_fd);
  c->out_fd = -1;
  c->pid = 0;
  return result;
}
