/* Keeping one plugin process running per its restart policy (internal),
 * on top of process.h.
 *
 * Life of a supervisor:
 *   cpi_sup_create -> cpi_sup_start (first spawn + readiness, in the caller) ->
 *   READY -> [exit -> BACKOFF -> STARTING -> READY]* -> STOPPED or FAILED.
 *
 * First start. cpi_sup_start spawns and waits for the handshake line in the
 * calling thread and returns the endpoint or the error; a first start that
 * fails is not retried (the host must know at startup that a plugin cannot
 * run: a wrong path or a plugin that never becomes ready will not heal by
 * itself). The state is then FAILED and nothing is left running.
 *
 * Exits. When the process exits, the policy decides:
 *   on-failure: restart after a non-zero exit status or a signal;
 *   always:     restart after any exit;
 *   never:      no restart.
 * No restart -> STOPPED (the reason says how the process ended). A restart
 * first checks the crash-loop limit: when max_restarts restarts already
 * happened within the last window_ms, the supervisor gives up -> FAILED,
 * with an error-level log line ("plugin failed", plugin=, reason=). Else it
 * waits in BACKOFF for cpi_sup_backoff_ms(attempt, ...) and starts the process
 * again (STARTING); once the new process sent its handshake line the state is
 * READY and on_state gets the NEW endpoint so the host can re-dial. A restart
 * that does not become ready is a failure like a crash: it is counted and
 * followed by the next, longer backoff (whatever the policy, except never,
 * which does not restart at all).
 *
 * Backoff. Exponential with "equal jitter": the nominal delay
 * min(initial * 2^attempt, max) is halved and the other half is scaled by a
 * random fraction in [0, 1) from the library's CSPRNG, so a delay is in
 * [nominal/2, nominal) and the delays of many plugins crashing together
 * spread out while still growing. `attempt` counts consecutive failures; it
 * returns to 0 when a run stayed READY for at least backoff_max_ms (a plugin
 * that ran that long is not in a fast crash loop).
 *
 * Unhealthy. cpi_sup_report_unhealthy kills the process group (SIGKILL); the
 * exit then goes through the normal path above, so a hung plugin is treated
 * like a crashed one (a signal: restarted under on-failure and always).
 *
 * Threads. Each started supervisor owns one thread, which handles exits,
 * backoffs and restarts. on_state is called without any lock held, from that
 * thread or from the thread in cpi_sup_start / cpi_sup_stop, one call at a time for a
 * given supervisor; it may call the getters and cpi_sup_report_unhealthy, not
 * cpi_sup_stop or cpi_sup_destroy. The getters, cpi_sup_report_unhealthy and cpi_sup_stop may
 * be called from any thread; cpi_sup_start once; cpi_sup_destroy once, when no other
 * call on the supervisor is running.
 *
 * The restart policy is manifest_restart (platform/manifest.h), a plain
 * struct; its ranges are those the manifest enforces. */
#ifndef CPLUGIN_LAUNCH_SUPERVISOR_H
#define CPLUGIN_LAUNCH_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch/process.h"
#include "platform/manifest.h"

typedef struct sup sup;

typedef enum sup_state {
  SUP_CREATED = 0, /* before cpi_sup_start */
  SUP_STARTING,    /* spawned, waiting for the handshake line */
  SUP_READY,       /* serving at the endpoint */
  SUP_BACKOFF,     /* exited; waiting to restart */
  SUP_FAILED,      /* first start failed, or crash loop: no more restarts */
  SUP_STOPPED      /* cpi_sup_stop, or the policy said no restart */
} sup_state;

/* reason: why the state was entered ("started", "killed by signal 9",
 * "crash loop: ...", the start error), valid during the call only. endpoint:
 * non-NULL with READY only. */
typedef void (*sup_state_fn)(sup *s, sup_state state, const char *reason,
                             const proc_endpoint *endpoint, void *user);

typedef struct sup_options {
  /* How to spawn the plugin; copied. on_exit and user must be NULL: the
   * supervisor needs them. */
  proc_options proc;
  manifest_restart restart;
  sup_state_fn on_state; /* may be NULL */
  void *user;
} sup_options;

/* Everything the manifest's defaults say: cpi_proc_options_init, policy
 * on-failure, max_restarts 5, window 60 s, backoff 100 ms .. 10 s. */
void cpi_sup_options_init(sup_options *o);

/* Checks and copies opts. Returns 0 and *out, CP_EINVAL (message in err) or
 * CP_ENOMEM. Nothing runs until cpi_sup_start. */
int cpi_sup_create(const sup_options *opts, sup **out, char *err,
                   size_t errlen);

/* Spawns the plugin and waits for readiness. Returns 0 with *endpoint filled
 * (may be NULL) and the supervisor watching the process; or an error of
 * cpi_proc_spawn / cpi_proc_wait_ready (message in err) with the state FAILED and
 * nothing running; CP_ESTATE when called twice or after cpi_sup_stop. */
int cpi_sup_start(sup *s, proc_endpoint *endpoint, char *err, size_t errlen);

/* No restart after this, even when a backoff is pending (its wait ends at
 * once). Stops the process with cpi_proc_stop(grace_ms) (SIGTERM, then SIGKILL),
 * joins the supervisor's thread and returns when everything is reaped. The
 * state ends STOPPED unless it was FAILED. Idempotent. CP_EINVAL for a
 * negative grace_ms. */
int cpi_sup_stop(sup *s, int grace_ms);

/* Asks a running process to exit by other means (e.g. PluginControl/
 * Shutdown); true when it agreed. Called without the supervisor's lock. */
typedef bool (*sup_ask_fn)(void *user);

/* As cpi_sup_stop, but first, once no exit can lead to a restart, calls ask
 * (when a process runs) and, when it returns true, waits up to grace_ms for
 * the process to exit by itself before cpi_proc_stop's SIGTERM and SIGKILL. */
int cpi_sup_stop_asking(sup *s, sup_ask_fn ask, void *user, int grace_ms);

/* Kills the process group (SIGKILL) so that the normal exit path restarts it.
 * reason is logged (warning). Returns 0, or CP_ESTATE when no process runs. */
int cpi_sup_report_unhealthy(sup *s, const char *reason);

/* cpi_sup_stop(s, 0) if needed, then frees s. NULL is allowed. */
void cpi_sup_destroy(sup *s);

sup_state cpi_sup_get_state(sup *s);
const char *cpi_sup_state_name(sup_state state);
/* Restarts done so far (the first start is not one). */
uint32_t cpi_sup_restart_count(sup *s);
/* The running process's pid, or 0 when none runs. */
pid_t cpi_sup_pid(sup *s);
/* How the last process ended: exit_code (term_signal 0) or -1 and the
 * signal. Returns 0, or CP_ENOTFOUND when no process has exited yet. */
int cpi_sup_last_exit(sup *s, int *exit_code, int *term_signal);
/* The endpoint of the current (or last) ready process. Returns 0, or
 * CP_ENOTFOUND before the first readiness. */
int cpi_sup_endpoint(sup *s, proc_endpoint *out);

/* The delay before restart `attempt` (0 for the first after a good run):
 * nominal = min(initial_ms * 2^attempt, max_ms), returned as
 * nominal/2 + random_fraction * (nominal - nominal/2), random_fraction in
 * [0, 1] (clamped). initial_ms <= 0 gives 0; max_ms below initial_ms is
 * raised to initial_ms. Pure: the supervisor passes a CSPRNG fraction. */
int64_t cpi_sup_backoff_ms(uint32_t attempt, int64_t initial_ms, int64_t max_ms,
                           double random_fraction);

#endif /* CPLUGIN_LAUNCH_SUPERVISOR_H */
