/* Launched processes: spawning, readiness, stopping (see process.h). */
#include "launch/process.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "core/validate.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "launch/process_internal.h"
#include "launch/spawn.h"

static atomic_int pidfd_disabled;

void cpi_proc_testing_disable_pidfd(int disable) {
  atomic_store(&pidfd_disabled, disable != 0);
}

void cpi_proc_options_init(proc_options *o) {
  memset(o, 0, sizeof *o);
  o->ready_timeout_ms = PROC_READY_TIMEOUT_DEFAULT_MS;
}

static void put_err(char *err, size_t errlen, const char *name,
                    const char *message) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, "plugin %s: %s", name, message);
  }
}

void cpi_proc_fail_start_locked(proc *p, int rc, const char *message,
                                bool kill_group) {
  if (p->ready != PROC_STARTING) {
    return;
  }
  p->ready = PROC_FAILED;
  p->fail_rc = rc;
  snprintf(p->fail_msg, sizeof p->fail_msg, "plugin %s: %s", p->name, message);
  if (kill_group && !p->reaped) {
    kill(-p->pid, SIGKILL);
  }
  pthread_cond_broadcast(&p->cv);
}

void cpi_proc_fail_start(proc *p, int rc, const char *message,
                         bool kill_group) {
  pthread_mutex_lock(&p->mu);
  cpi_proc_fail_start_locked(p, rc, message, kill_group);
  pthread_mutex_unlock(&p->mu);
}

/* The name is checked first: the other messages carry it. */
static int check_options(const proc_options *o, char *err, size_t errlen) {
  if (o == NULL || o->name == NULL ||
      strnlen(o->name, PROC_NAME_MAX + 1) > PROC_NAME_MAX ||
      !cpi_identifier_chars_valid(o->name, strlen(o->name))) {
    if (err != NULL && errlen > 0) {
      snprintf(err, errlen,
               "plugin name must be 1..%d bytes of [A-Za-z][A-Za-z0-9_.-]*",
               PROC_NAME_MAX);
    }
    return CP_EINVAL;
  }
  const char *problem = NULL;
  if (o->path == NULL || o->path[0] == '\0') {
    problem = "no executable path";
  } else if (o->ready_timeout_ms <= 0) {
    problem = "ready_timeout_ms must be > 0";
  }
  if (problem != NULL) {
    put_err(err, errlen, o->name, problem);
    return CP_EINVAL;
  }
  return 0;
}

static void free_proc(proc *p) {
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static proc *new_proc(const proc_options *o) {
  proc *p = calloc(1, sizeof *p);
  if (p == NULL) {
    return NULL;
  }
  snprintf(p->name, sizeof p->name, "%s", o->name);
  p->on_exit = o->on_exit;
  p->user = o->user;
  p->ready_timeout_ms = o->ready_timeout_ms;
  p->ready_deadline_ns =
      cpi_deadline_after_ms(cpi_clock_monotonic_ns(), o->ready_timeout_ms);
  p->use_pidfd = !atomic_load(&pidfd_disabled);
  p->pid = -1;
  pthread_mutex_init(&p->mu, NULL);
  cpi_cond_init_monotonic(&p->cv);
  cpi_proc_line_splitter_init(&p->out_lines);
  cpi_proc_line_splitter_init(&p->err_lines);
  return p;
}

/* The I/O thread starts with every signal blocked: the host's signals are
 * for the host's threads, and the child it forks must not run a host
 * handler before its own dispositions are reset. */
static int start_io_thread(proc *p) {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&p->thread, NULL, cpi_proc_io_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int cpi_proc_spawn(const proc_options *opts, proc **out, char *err,
                   size_t errlen) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  int rc = check_options(opts, err, errlen);
  if (rc != 0) {
    return rc;
  }
  proc_child_args args;
  char reason[PROC_MESSAGE_MAX];
  rc = cpi_proc_child_args_build(opts, &args, reason, sizeof reason);
  if (rc != 0) {
    put_err(err, errlen, opts->name, reason);
    return rc;
  }
  proc *p = new_proc(opts);
  if (p == NULL) {
    cpi_proc_child_args_free(&args);
    put_err(err, errlen, opts->name, "out of memory");
    return CP_ENOMEM;
  }
  p->args = &args;
  int create = start_io_thread(p);
  if (create != 0) {
    cpi_proc_child_args_free(&args);
    free_proc(p);
    char text[128];
    snprintf(reason, sizeof reason, "starting its I/O thread: %s",
             cpi_proc_errno_text(create, text, sizeof text));
    put_err(err, errlen, opts->name, reason);
    return create == EAGAIN ? CP_EAGAIN : CP_ESYS;
  }
  pthread_mutex_lock(&p->mu);
  while (!p->spawn_done) {
    pthread_cond_wait(&p->cv, &p->mu);
  }
  rc = p->spawn_rc;
  p->args = NULL;
  pthread_mutex_unlock(&p->mu);
  cpi_proc_child_args_free(&args);
  if (rc != 0) {
    pthread_join(p->thread, NULL);
    put_err(err, errlen, p->name, p->spawn_err);
    free_proc(p);
    return rc;
  }
  if (cp_log_enabled(CP_LOG_DEBUG)) {
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)p->pid);
    cp_log(CP_LOG_DEBUG, "plugin process started", "plugin", p->name, "pid",
           pid, CP_LOG_END);
  }
  *out = p;
  return 0;
}

int cpi_proc_wait_ready(proc *p, proc_endpoint *endpoint, char *err,
                        size_t errlen) {
  if (p == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&p->mu);
  while (p->ready == PROC_STARTING || (p->ready == PROC_FAILED && !p->reaped)) {
    pthread_cond_wait(&p->cv, &p->mu);
  }
  int rc = 0;
  if (p->ready == PROC_READY) {
    if (endpoint != NULL) {
      *endpoint = p->endpoint;
    }
  } else {
    rc = p->fail_rc;
    if (err != NULL && errlen > 0) {
      snprintf(err, errlen, "%s", p->fail_msg);
    }
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static bool on_io_thread(const proc *p) {
  return pthread_equal(pthread_self(), p->thread) != 0;
}

/* Waits (mu held) until on_exit has returned, or until `deadline_ns` (then
 * returns false). Never waits on the I/O thread itself: there the child is
 * already reaped and on_exit is what is running. */
static bool wait_exit_locked(proc *p, int64_t deadline_ns) {
  if (on_io_thread(p)) {
    return true;
  }
  struct timespec at = cpi_monotonic_timespec(deadline_ns);
  while (!p->exit_reported) {
    if (deadline_ns == INT64_MAX) {
      pthread_cond_wait(&p->cv, &p->mu);
    } else if (pthread_cond_timedwait(&p->cv, &p->mu, &at) == ETIMEDOUT) {
      return p->exit_reported;
    }
  }
  return true;
}

/* Signals the group unless the child has been reaped. mu held. */
static void signal_locked(proc *p, int sig) {
  if (!p->reaped) {
    kill(-p->pid, sig);
  }
}

int cpi_proc_stop(proc *p, int grace_ms) {
  if (p == NULL || grace_ms < 0) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&p->mu);
  cpi_proc_fail_start_locked(p, CP_ECANCELLED, "stopped before it was ready",
                             false);
  signal_locked(p, SIGTERM);
  int64_t deadline =
      cpi_time_after_ns(cpi_clock_monotonic_ns(), cpi_ms_to_ns(grace_ms));
  if (!wait_exit_locked(p, deadline)) {
    pthread_mutex_unlock(&p->mu);
    cp_log(CP_LOG_WARN, "plugin did not exit after SIGTERM; killing it",
           "plugin", p->name, CP_LOG_END);
    pthread_mutex_lock(&p->mu);
    signal_locked(p, SIGKILL);
    wait_exit_locked(p, INT64_MAX);
  }
  pthread_mutex_unlock(&p->mu);
  return 0;
}

int cpi_proc_kill(proc *p, int sig) {
  if (p == NULL || sig < 0 || sig >= NSIG) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&p->mu);
  int rc = 0;
  if (p->reaped) {
    rc = CP_ECLOSED;
  } else if (kill(-p->pid, sig) != 0) {
    rc = errno == EINVAL ? CP_EINVAL : CP_ESYS;
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

pid_t cpi_proc_pid(const proc *p) {
  return p != NULL ? p->pid : -1;
}

void cpi_proc_destroy(proc *p) {
  if (p == NULL) {
    return;
  }
  pthread_mutex_lock(&p->mu);
  cpi_proc_fail_start_locked(p, CP_ECANCELLED, "destroyed before it was ready",
                             false);
  signal_locked(p, SIGKILL);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  free_proc(p);
}
