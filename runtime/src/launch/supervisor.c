/* Restarting a plugin process per its policy (see supervisor.h).
 *
 * Lifetime rule that keeps the proc pointer safe without reference counts:
 * only the supervisor thread replaces (and destroys) `current`, and only
 * while `stopping` is false, checked under mu. So once cpi_sup_stop has set
 * `stopping`, the proc it read from `current` stays valid, and cpi_sup_stop can
 * call cpi_proc_stop on it outside the lock (cpi_proc_stop waits for on_exit, which
 * takes mu). cpi_proc_kill never waits for on_exit, so it is called under mu. */
#include "launch/supervisor.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"

enum { SUP_REASON_MAX = 512 };

struct sup {
  pthread_mutex_t mu;
  pthread_cond_t cv;

  /* Copied options; proc.on_exit/user point back here. */
  proc_options popts;
  char *name;
  char *path;
  char **argv;
  char **env_allow;
  char **env_set;
  manifest_restart restart;
  sup_state_fn on_state;
  void *user;

  pthread_t thread;
  bool thread_started;
  bool started;   /* cpi_sup_start was called */
  bool stopping;  /* cpi_sup_stop was called: no restart, no replacement */
  bool stop_done; /* cpi_sup_stop finished */

  proc *current;
  bool exited; /* current's on_exit ran and was not handled yet */
  int exit_code;
  int exit_signal;
  bool any_exit;
  pid_t pid;
  int64_t ready_at_ns;
  /* Why the last restart did not become ready; empty when it did. */
  char start_error[256];
  bool have_endpoint;
  proc_endpoint endpoint;

  sup_state state;
  uint32_t restarts;
  uint32_t attempt; /* consecutive failures, for the backoff */
  /* Start times of the last max_restarts restarts (a ring indexed by
   * restarts % max_restarts), for the crash-loop window. */
  int64_t *restart_at_ns;

  /* Serialises on_state calls. */
  pthread_mutex_t notify_mu;
};

static void put_err(char *err, size_t errlen, const char *message) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, "%s", message);
  }
}

void cpi_sup_options_init(sup_options *o) {
  memset(o, 0, sizeof *o);
  cpi_proc_options_init(&o->proc);
  o->restart.policy = MANIFEST_RESTART_ON_FAILURE;
  o->restart.max_restarts = 5;
  o->restart.window_ms = 60000;
  o->restart.backoff_initial_ms = 100;
  o->restart.backoff_max_ms = 10000;
}

static void free_strv(char **v) {
  if (v != NULL) {
    for (char **p = v; *p != NULL; p++) {
      free(*p);
    }
    free(v);
  }
}

/* A NULL-terminated copy of v (NULL stays NULL). Returns 0 or CP_ENOMEM. */
static int copy_strv(const char *const *v, char ***out) {
  *out = NULL;
  if (v == NULL) {
    return 0;
  }
  size_t n = 0;
  while (v[n] != NULL) {
    n++;
  }
  char **c = calloc(n + 1, sizeof *c);
  if (c == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    c[i] = strdup(v[i]);
    if (c[i] == NULL) {
      free_strv(c);
      return CP_ENOMEM;
    }
  }
  *out = c;
  return 0;
}

static void on_proc_exit(proc *p, int exit_code, int term_signal, void *user);

static int check_restart(const manifest_restart *r, char *err, size_t errlen) {
  const char *problem = NULL;
  if (r->policy != MANIFEST_RESTART_ON_FAILURE &&
      r->policy != MANIFEST_RESTART_ALWAYS &&
      r->policy != MANIFEST_RESTART_NEVER) {
    problem = "restart policy must be on-failure, always or never";
  } else if (r->max_restarts > 1000) {
    problem = "max_restarts must be 0..1000";
  } else if (r->window_ms < 1) {
    problem = "window_ms must be >= 1";
  } else if (r->backoff_initial_ms < 1 ||
             r->backoff_max_ms < r->backoff_initial_ms) {
    problem = "backoff must be 1 <= backoff_initial_ms <= backoff_max_ms";
  }
  if (problem != NULL) {
    put_err(err, errlen, problem);
    return CP_EINVAL;
  }
  return 0;
}

int cpi_sup_create(const sup_options *opts, sup **out, char *err,
                   size_t errlen) {
  if (out != NULL) {
    *out = NULL;
  }
  if (opts == NULL || out == NULL) {
    put_err(err, errlen, "supervisor: NULL options or result");
    return CP_EINVAL;
  }
  if (opts->proc.on_exit != NULL || opts->proc.user != NULL) {
    put_err(err, errlen, "supervisor: proc.on_exit and proc.user must be NULL");
    return CP_EINVAL;
  }
  if (opts->proc.name == NULL || opts->proc.path == NULL ||
      opts->proc.ready_timeout_ms <= 0) {
    put_err(err, errlen,
            "supervisor: name, path and ready_timeout_ms > 0 are required");
    return CP_EINVAL;
  }
  int rc = check_restart(&opts->restart, err, errlen);
  if (rc != 0) {
    return rc;
  }
  sup *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  s->name = strdup(opts->proc.name);
  s->path = strdup(opts->proc.path);
  if (opts->restart.max_restarts > 0) {
    s->restart_at_ns =
        calloc(opts->restart.max_restarts, sizeof *s->restart_at_ns);
  }
  if (s->name == NULL || s->path == NULL ||
      (opts->restart.max_restarts > 0 && s->restart_at_ns == NULL) ||
      copy_strv(opts->proc.argv, &s->argv) != 0 ||
      copy_strv(opts->proc.env_allow, &s->env_allow) != 0 ||
      copy_strv(opts->proc.env_set, &s->env_set) != 0) {
    free_strv(s->argv);
    free_strv(s->env_allow);
    free(s->restart_at_ns);
    free(s->name);
    free(s->path);
    free(s);
    put_err(err, errlen, "supervisor: out of memory");
    return CP_ENOMEM;
  }
  s->popts = opts->proc;
  s->popts.name = s->name;
  s->popts.path = s->path;
  s->popts.argv = (const char *const *)s->argv;
  s->popts.env_allow = (const char *const *)s->env_allow;
  s->popts.env_set = (const char *const *)s->env_set;
  s->popts.on_exit = on_proc_exit;
  s->popts.user = s;
  s->restart = opts->restart;
  s->on_state = opts->on_state;
  s->user = opts->user;
  s->state = SUP_CREATED;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->notify_mu, NULL);
  cpi_cond_init_monotonic(&s->cv);
  *out = s;
  return 0;
}

/* Sets the state (mu held). The caller calls notify() after unlocking. */
static void set_state_locked(sup *s, sup_state state) {
  s->state = state;
  pthread_cond_broadcast(&s->cv);
}

static void notify(sup *s, sup_state state, const char *reason,
                   const proc_endpoint *endpoint) {
  if (state == SUP_FAILED) {
    cp_log(CP_LOG_ERROR, "plugin failed", "plugin", s->name, "reason", reason,
           CP_LOG_END);
  }
  if (s->on_state != NULL) {
    pthread_mutex_lock(&s->notify_mu);
    s->on_state(s, state, reason, endpoint, s->user);
    pthread_mutex_unlock(&s->notify_mu);
  }
}

static void on_proc_exit(proc *p, int exit_code, int term_signal, void *user) {
  (void)p;
  sup *s = user;
  pthread_mutex_lock(&s->mu);
  s->exited = true;
  s->any_exit = true;
  s->exit_code = exit_code;
  s->exit_signal = term_signal;
  s->pid = 0;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void describe_exit(int code, int sig, char *out, size_t cap) {
  if (sig != 0) {
    snprintf(out, cap, "killed by signal %d (%s)", sig, strsignal(sig));
  } else {
    snprintf(out, cap, "exited with status %d", code);
  }
}

static bool policy_restarts(manifest_restart_policy policy, int code, int sig) {
  switch (policy) {
    case MANIFEST_RESTART_ALWAYS:
      return true;
    case MANIFEST_RESTART_ON_FAILURE:
      return sig != 0 || code != 0;
    case MANIFEST_RESTART_NEVER:
    default:
      return false;
  }
}

static const char *policy_name(manifest_restart_policy policy) {
  switch (policy) {
    case MANIFEST_RESTART_ALWAYS:
      return "always";
    case MANIFEST_RESTART_ON_FAILURE:
      return "on-failure";
    default:
      return "never";
  }
}

/* True (mu held) when max_restarts restarts already began within window_ms
 * of now. */
static bool crash_loop_locked(const sup *s, int64_t now_ns) {
  uint32_t max = s->restart.max_restarts;
  if (max == 0) {
    return true;
  }
  if (s->restarts < max) {
    return false;
  }
  int64_t oldest = s->restart_at_ns[s->restarts % max];
  return now_ns - oldest < s->restart.window_ms * 1000000;
}

static double random_fraction(void) {
  uint32_t r = 0;
  if (cpi_random_bytes(&r, sizeof r) != 0) {
    return 1.0; /* no randomness: the full nominal delay, never shorter */
  }
  return (double)r / 4294967296.0;
}

/* Spawns and waits for readiness (no lock held). On success stores the proc
 * as current and returns 0; else returns the error, message in err, with
 * nothing running. The old `current` must have been destroyed already. */
static int spawn_ready(sup *s, proc_endpoint *ep, char *err, size_t errlen) {
  proc *p = NULL;
  int rc = cpi_proc_spawn(&s->popts, &p, err, errlen);
  if (rc != 0) {
    return rc;
  }
  pthread_mutex_lock(&s->mu);
  s->current = p;
  /* A fast child may have exited (on_exit ran) already. */
  s->pid = s->exited ? 0 : cpi_proc_pid(p);
  bool stopping = s->stopping;
  pthread_mutex_unlock(&s->mu);
  if (stopping) {
    /* cpi_sup_stop may have missed this proc: stop it here. */
    cpi_proc_stop(p, 0);
    put_err(err, errlen, "supervisor stopped during the start");
    return CP_ECANCELLED;
  }
  rc = cpi_proc_wait_ready(p, ep, err, errlen);
  if (rc != 0) {
    /* The child was reaped; make sure on_exit has returned too. */
    cpi_proc_stop(p, 0);
    return rc;
  }
  pthread_mutex_lock(&s->mu);
  s->ready_at_ns = cpi_clock_monotonic_ns();
  s->endpoint = *ep;
  s->have_endpoint = true;
  pthread_mutex_unlock(&s->mu);
  return 0;
}

/* Ends the thread in a final state (mu held on entry, released). */
static void finish_locked(sup *s, sup_state state, const char *reason) {
  set_state_locked(s, state);
  pthread_mutex_unlock(&s->mu);
  notify(s, state, reason, NULL);
}

static void *supervise(void *arg) {
  sup *s = arg;
  char reason[SUP_REASON_MAX];
  char how[320];
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->stopping && !s->exited) {
      pthread_cond_wait(&s->cv, &s->mu);
    }
    if (s->stopping) {
      break;
    }
    /* The process exited (or a restart failed to become ready). */
    s->exited = false;
    int64_t now = cpi_clock_monotonic_ns();
    if (s->start_error[0] != '\0') {
      snprintf(how, sizeof how, "restart failed: %s", s->start_error);
      s->start_error[0] = '\0';
    } else {
      describe_exit(s->exit_code, s->exit_signal, how, sizeof how);
    }
    if (s->state == SUP_READY &&
        now - s->ready_at_ns >= s->restart.backoff_max_ms * 1000000) {
      s->attempt = 0;
    }
    if (s->state != SUP_STARTING &&
        !policy_restarts(s->restart.policy, s->exit_code, s->exit_signal)) {
      snprintf(reason, sizeof reason, "%s; policy %s does not restart", how,
               policy_name(s->restart.policy));
      finish_locked(s, SUP_STOPPED, reason);
      return NULL;
    }
    if (crash_loop_locked(s, now)) {
      snprintf(reason, sizeof reason,
               "crash loop: %u restarts within %lld ms (max_restarts %u); "
               "last: %s",
               (unsigned)s->restart.max_restarts,
               (long long)s->restart.window_ms,
               (unsigned)s->restart.max_restarts, how);
      finish_locked(s, SUP_FAILED, reason);
      return NULL;
    }
    int64_t delay =
        cpi_sup_backoff_ms(s->attempt, s->restart.backoff_initial_ms,
                           s->restart.backoff_max_ms, random_fraction());
    s->attempt++;
    set_state_locked(s, SUP_BACKOFF);
    snprintf(reason, sizeof reason, "%s; restarting in %lld ms", how,
             (long long)delay);
    pthread_mutex_unlock(&s->mu);
    cp_log(CP_LOG_WARN, "plugin exited", "plugin", s->name, "reason", reason,
           CP_LOG_END);
    notify(s, SUP_BACKOFF, reason, NULL);
    pthread_mutex_lock(&s->mu);
    struct timespec deadline = cpi_monotonic_after_ms(delay);
    while (!s->stopping) {
      if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0) {
        break; /* timed out */
      }
    }
    if (s->stopping) {
      break;
    }
    /* Restart: replace the exited process. */
    proc *old = s->current;
    s->current = NULL;
    s->restart_at_ns[s->restarts % s->restart.max_restarts] =
        cpi_clock_monotonic_ns();
    s->restarts++;
    set_state_locked(s, SUP_STARTING);
    pthread_mutex_unlock(&s->mu);
    cpi_proc_destroy(old);
    notify(s, SUP_STARTING, "restart", NULL);
    proc_endpoint ep;
    char err[256] = "";
    int rc = spawn_ready(s, &ep, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (rc == 0 && !s->stopping) {
      set_state_locked(s, SUP_READY);
      pthread_mutex_unlock(&s->mu);
      notify(s, SUP_READY, "restarted", &ep);
      pthread_mutex_lock(&s->mu);
      continue;
    }
    if (s->stopping) {
      break;
    }
    /* A failed restart: its on_exit (if any) already ran; handle it as an
     * exit in STARTING, which always counts as a failure. */
    cp_log(CP_LOG_WARN, "plugin restart failed", "plugin", s->name, "error",
           err, CP_LOG_END);
    snprintf(s->start_error, sizeof s->start_error, "%s", err);
    s->exited = true;
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int cpi_sup_start(sup *s, proc_endpoint *endpoint, char *err, size_t errlen) {
  if (s == NULL) {
    put_err(err, errlen, "supervisor: NULL");
    return CP_EINVAL;
  }
  pthread_mutex_lock(&s->mu);
  if (s->started || s->stopping) {
    pthread_mutex_unlock(&s->mu);
    put_err(err, errlen, "supervisor: already started or stopped");
    return CP_ESTATE;
  }
  s->started = true;
  set_state_locked(s, SUP_STARTING);
  pthread_mutex_unlock(&s->mu);
  notify(s, SUP_STARTING, "first start", NULL);

  proc_endpoint ep;
  char msg[256] = "";
  int rc = spawn_ready(s, &ep, msg, sizeof msg);
  if (rc == 0) {
    /* READY is announced before the thread exists, so that on_state never
     * sees an exit before the start; an early exit waits in `exited`. */
    pthread_mutex_lock(&s->mu);
    set_state_locked(s, SUP_READY);
    pthread_mutex_unlock(&s->mu);
    if (endpoint != NULL) {
      *endpoint = ep;
    }
    notify(s, SUP_READY, "started", &ep);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
      /* cpi_sup_stop came during the start and stops the process itself. */
      pthread_mutex_unlock(&s->mu);
      return 0;
    }
    if (pthread_create(&s->thread, NULL, supervise, s) == 0) {
      s->thread_started = true;
      pthread_mutex_unlock(&s->mu);
      return 0;
    }
    pthread_mutex_unlock(&s->mu);
    cpi_proc_stop(s->current, 0);
    snprintf(msg, sizeof msg, "plugin %s: cannot start its supervisor thread",
             s->name);
    rc = CP_ESYS;
  }
  pthread_mutex_lock(&s->mu);
  s->exited = false;
  finish_locked(s, SUP_FAILED, msg);
  put_err(err, errlen, msg);
  return rc;
}

int cpi_sup_stop(sup *s, int grace_ms) {
  return cpi_sup_stop_asking(s, NULL, NULL, grace_ms);
}

int cpi_sup_stop_asking(sup *s, sup_ask_fn ask, void *user, int grace_ms) {
  if (s == NULL || grace_ms < 0) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&s->mu);
  if (s->stopping) {
    /* Another cpi_sup_stop runs or ran: wait for it to finish. */
    while (!s->stop_done) {
      pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  s->stopping = true;
  pthread_cond_broadcast(&s->cv);
  if (ask != NULL && s->pid != 0) {
    /* Asked to exit by other means (PluginControl/Shutdown) once no exit
     * can be followed by a restart: give it the time before any signal. */
    pthread_mutex_unlock(&s->mu);
    bool asked = ask(user);
    pthread_mutex_lock(&s->mu);
    struct timespec deadline = cpi_monotonic_after_ms(grace_ms);
    while (asked && s->pid != 0 &&
           pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == 0) {
    }
  }
  proc *p = s->current; /* stays valid: see the top of this file */
  /* No thread starts once stopping is set (cpi_sup_start checks it). */
  bool join = s->thread_started;
  s->thread_started = false;
  pthread_mutex_unlock(&s->mu);
  if (p != NULL) {
    cpi_proc_stop(p, grace_ms);
  }
  if (join) {
    pthread_join(s->thread, NULL);
  }
  pthread_mutex_lock(&s->mu);
  p = s->current; /* the thread may have spawned one after we looked */
  pthread_mutex_unlock(&s->mu);
  if (p != NULL) {
    cpi_proc_stop(p, grace_ms);
  }
  pthread_mutex_lock(&s->mu);
  s->stop_done = true;
  s->pid = 0;
  pthread_cond_broadcast(&s->cv);
  bool notify_stop = s->state != SUP_FAILED && s->state != SUP_STOPPED;
  if (notify_stop) {
    finish_locked(s, SUP_STOPPED, "stopped by the host");
  } else {
    pthread_mutex_unlock(&s->mu);
  }
  return 0;
}

int cpi_sup_report_unhealthy(sup *s, const char *reason) {
  if (s == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&s->mu);
  int rc = CP_ESTATE;
  if (s->current != NULL && !s->stopping && s->state == SUP_READY) {
    rc = cpi_proc_kill(s->current, SIGKILL) == 0 ? 0 : CP_ESTATE;
  }
  pthread_mutex_unlock(&s->mu);
  if (rc == 0) {
    cp_log(CP_LOG_WARN, "plugin unhealthy, killing it", "plugin", s->name,
           "reason", reason != NULL ? reason : "", CP_LOG_END);
  }
  return rc;
}

void cpi_sup_destroy(sup *s) {
  if (s == NULL) {
    return;
  }
  cpi_sup_stop(s, 0);
  cpi_proc_destroy(s->current);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->notify_mu);
  free_strv(s->argv);
  free_strv(s->env_allow);
  free_strv(s->env_set);
  free(s->restart_at_ns);
  free(s->name);
  free(s->path);
  free(s);
}

sup_state cpi_sup_get_state(sup *s) {
  pthread_mutex_lock(&s->mu);
  sup_state st = s->state;
  pthread_mutex_unlock(&s->mu);
  return st;
}

const char *cpi_sup_state_name(sup_state state) {
  switch (state) {
    case SUP_CREATED:
      return "CREATED";
    case SUP_STARTING:
      return "STARTING";
    case SUP_READY:
      return "READY";
    case SUP_BACKOFF:
      return "BACKOFF";
    case SUP_FAILED:
      return "FAILED";
    case SUP_STOPPED:
      return "STOPPED";
  }
  return "?";
}

uint32_t cpi_sup_restart_count(sup *s) {
  pthread_mutex_lock(&s->mu);
  uint32_t n = s->restarts;
  pthread_mutex_unlock(&s->mu);
  return n;
}

pid_t cpi_sup_pid(sup *s) {
  pthread_mutex_lock(&s->mu);
  pid_t pid = s->pid;
  pthread_mutex_unlock(&s->mu);
  return pid;
}

int cpi_sup_last_exit(sup *s, int *exit_code, int *term_signal) {
  pthread_mutex_lock(&s->mu);
  int rc = s->any_exit ? 0 : CP_ENOTFOUND;
  if (rc == 0) {
    if (exit_code != NULL) {
      *exit_code = s->exit_code;
    }
    if (term_signal != NULL) {
      *term_signal = s->exit_signal;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int cpi_sup_endpoint(sup *s, proc_endpoint *out) {
  pthread_mutex_lock(&s->mu);
  int rc = s->have_endpoint ? 0 : CP_ENOTFOUND;
  if (rc == 0 && out != NULL) {
    *out = s->endpoint;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}
