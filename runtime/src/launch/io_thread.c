/* A launched process's I/O thread: starts the child, logs its output,
 * watches for the handshake line and the readiness deadline, reaps the
 * child and reports its exit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SYS_pidfd_open, waitid's P_PID flags */
#endif
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "launch/handshake_line.h"
#include "launch/output_log.h"
#include "launch/process_internal.h"
#include "launch/spawn.h"

enum {
  READ_CHUNK = 16384,
  /* Read from one stream per wakeup, so the other and the exit are seen. */
  READ_BUDGET = 4 * READ_CHUNK,
  /* Output drained after the exit, per stream: whatever the child left in
   * the pipe (64 KiB by default), bounded in case a process outside the
   * group still holds the pipe and keeps writing. */
  DRAIN_MAX_BYTES = 1 << 20,
  /* Without a pidfd, how often an exit is looked for. */
  EXIT_POLL_MS = 20
};

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3, the same number on every arch */
#endif

/* --- output -------------------------------------------------------------- */

static void on_stderr_piece(const proc_piece *piece, void *user) {
  proc *p = user;
  cpi_proc_log_output(p->name, "stderr", piece->data, piece->len,
                      !piece->line_end);
}

static bool starting(proc *p) {
  pthread_mutex_lock(&p->mu);
  bool s = p->ready == PROC_STARTING;
  pthread_mutex_unlock(&p->mu);
  return s;
}

static void take_handshake(proc *p, const proc_piece *piece) {
  if (!piece->line_end) {
    char msg[96];
    snprintf(msg, sizeof msg, "malformed handshake line: longer than %d bytes",
             PROC_LINE_MAX_BYTES);
    p->skip_line = true;
    cpi_proc_fail_start(p, CP_EDECODE, msg, true);
    return;
  }
  proc_endpoint endpoint;
  char msg[PROC_MESSAGE_MAX];
  if (cpi_proc_handshake_line_parse(piece->data, piece->len, &endpoint, msg,
                                    sizeof msg) != 0) {
    cpi_proc_fail_start(p, CP_EDECODE, msg, true);
    return;
  }
  pthread_mutex_lock(&p->mu);
  if (p->ready == PROC_STARTING) {
    p->ready = PROC_READY;
    p->endpoint = endpoint;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
}

static void on_stdout_piece(const proc_piece *piece, void *user) {
  proc *p = user;
  if (p->skip_line) {
    p->skip_line = !piece->line_end;
    return;
  }
  if (piece->line_start &&
      cpi_proc_handshake_line_claimed(piece->data, piece->len) && starting(p)) {
    take_handshake(p, piece);
    return;
  }
  cpi_proc_log_output(p->name, "stdout", piece->data, piece->len,
                      !piece->line_end);
}

/* Stream 0 is stdout, 1 stderr. */
static proc_line_splitter *splitter(proc *p, int stream) {
  return stream == 0 ? &p->out_lines : &p->err_lines;
}

static proc_piece_fn piece_fn(int stream) {
  return stream == 0 ? on_stdout_piece : on_stderr_piece;
}

/* Reads up to `budget` bytes of `stream` from *fd into its splitter. At EOF
 * or on an error emits the rest and closes *fd (sets it to -1). */
static void read_stream(proc *p, int stream, int *fd, size_t budget) {
  proc_line_splitter *lines = splitter(p, stream);
  proc_piece_fn fn = piece_fn(stream);
  char chunk[READ_CHUNK];
  while (budget > 0) {
    ssize_t n = read(*fd, chunk, budget < sizeof chunk ? budget : sizeof chunk);
    if (n > 0) {
      cpi_proc_line_splitter_feed(lines, chunk, (size_t)n, fn, p);
      budget -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    cpi_proc_line_splitter_finish(lines, fn, p); /* EOF or error */
    close(*fd);
    *fd = -1;
    return;
  }
}

/* --- exit ---------------------------------------------------------------- */

static int open_pidfd(proc *p) {
  if (!p->use_pidfd) {
    return -1;
  }
  return (int)syscall(SYS_pidfd_open, p->pid, 0);
}

/* Without a pidfd: whether the child has exited, leaving it unreaped. */
static bool exited_unreaped(pid_t pid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno != EINTR; /* ECHILD: nothing left to wait for */
  }
  return info.si_pid == pid;
}

static int poll_timeout_ms(proc *p, bool have_pidfd) {
  int timeout = -1;
  if (starting(p)) {
    int64_t left_ns = p->ready_deadline_ns - cpi_clock_monotonic_ns();
    int64_t ms = left_ns <= 0 ? 0 : (left_ns + 999999) / 1000000;
    timeout = ms > INT_MAX ? INT_MAX : (int)ms;
  }
  if (!have_pidfd && (timeout < 0 || timeout > EXIT_POLL_MS)) {
    timeout = EXIT_POLL_MS;
  }
  return timeout;
}

static void check_deadline(proc *p) {
  if (starting(p) && cpi_clock_monotonic_ns() >= p->ready_deadline_ns) {
    char msg[96];
    snprintf(msg, sizeof msg, "no handshake line within %d ms",
             p->ready_timeout_ms);
    cpi_proc_fail_start(p, CP_ETIMEDOUT, msg, true);
  }
}

/* Reads output and enforces the deadline until the child has exited
 * (unreaped). *fds: stdout, stderr (-1 once closed). */
static void supervise(proc *p, int fds[2], int pidfd) {
  for (;;) {
    struct pollfd pfd[3];
    int slot[3];
    nfds_t n = 0;
    for (int i = 0; i < 2; i++) {
      if (fds[i] >= 0) {
        pfd[n].fd = fds[i];
        pfd[n].events = POLLIN;
        slot[n++] = i;
      }
    }
    if (pidfd >= 0) {
      pfd[n].fd = pidfd;
      pfd[n].events = POLLIN;
      slot[n++] = 2;
    }
    int r = poll(pfd, n, poll_timeout_ms(p, pidfd >= 0));
    bool exited = false;
    for (nfds_t i = 0; r > 0 && i < n; i++) {
      if (pfd[i].revents == 0) {
        continue;
      }
      if (slot[i] == 2) {
        exited = true;
      } else {
        read_stream(p, slot[i], &fds[slot[i]], READ_BUDGET);
      }
    }
    if (pidfd < 0) {
      exited = exited_unreaped(p->pid);
    }
    if (exited) {
      return;
    }
    check_deadline(p);
  }
}

static void describe_exit(int status, int *code, int *sig) {
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* The leader has exited: kill what it left in its group (its id still
 * names the group while it is unreaped), then reap it. */
static void reap(proc *p, int *code, int *sig) {
  pthread_mutex_lock(&p->mu);
  kill(-p->pid, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(p->pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  p->reaped = true;
  pthread_mutex_unlock(&p->mu);
  if (r == p->pid) {
    describe_exit(status, code, sig);
    return;
  }
  /* Someone else reaped it: SIGCHLD set to SIG_IGN, or a waitpid(-1). */
  *code = -1;
  *sig = 0;
  cp_log(CP_LOG_WARN, "plugin exit status lost: reaped elsewhere", "plugin",
         p->name, CP_LOG_END);
}

static void finish_start(proc *p, int code, int sig) {
  char msg[96];
  if (sig != 0) {
    snprintf(msg, sizeof msg, "killed by signal %d before its handshake line",
             sig);
  } else {
    snprintf(msg, sizeof msg, "exited with code %d before its handshake line",
             code);
  }
  pthread_mutex_lock(&p->mu);
  cpi_proc_fail_start_locked(p, CP_ECLOSED, msg, false);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void log_exit(proc *p, int code, int sig) {
  if (!cp_log_enabled(CP_LOG_DEBUG)) {
    return;
  }
  char pid[24];
  char how[24];
  snprintf(pid, sizeof pid, "%d", (int)p->pid);
  snprintf(how, sizeof how, "%d", sig != 0 ? sig : code);
  cp_log(CP_LOG_DEBUG, "plugin process exited", "plugin", p->name, "pid", pid,
         sig != 0 ? "signal" : "code", how, CP_LOG_END);
}

/* --- the thread ---------------------------------------------------------- */

void *cpi_proc_io_main(void *arg) {
  proc *p = arg;
  proc_spawned spawned;
  char err[PROC_MESSAGE_MAX];
  err[0] = '\0';
  int rc = cpi_proc_fork_exec(p->args, &spawned, err, sizeof err);
  pthread_mutex_lock(&p->mu);
  p->spawn_done = true;
  p->spawn_rc = rc;
  snprintf(p->spawn_err, sizeof p->spawn_err, "%s", err);
  if (rc == 0) {
    p->pid = spawned.pid;
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (rc != 0) {
    return NULL;
  }
  int fds[2] = {spawned.stdout_fd, spawned.stderr_fd};
  int pidfd = open_pidfd(p);
  supervise(p, fds, pidfd);
  int code;
  int sig;
  reap(p, &code, &sig);
  if (pidfd >= 0) {
    close(pidfd);
  }
  /* What the child wrote before it exited is still in the pipes. */
  for (int i = 0; i < 2; i++) {
    if (fds[i] >= 0) {
      read_stream(p, i, &fds[i], DRAIN_MAX_BYTES);
    }
    if (fds[i] >= 0) {
      cpi_proc_line_splitter_finish(splitter(p, i), piece_fn(i), p);
      close(fds[i]);
    }
  }
  finish_start(p, code, sig);
  log_exit(p, code, sig);
  if (p->on_exit != NULL) {
    p->on_exit(p, code, sig, p->user);
  }
  pthread_mutex_lock(&p->mu);
  p->exit_reported = true;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}
