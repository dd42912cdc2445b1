/* The launcher's state, shared by its parts (internal): the public API and
 * snapshots (launcher.c), one plugin's processes and supervision
 * (launcher_instance.c: one process generation; launcher_plugin.c: what
 * its changes mean for the plugin), the host-issued identity
 * (launcher_identity.c), the start order (launcher_order.c) and removal
 * and replacement (launcher_platform.c).
 *
 * Locks: l->mu guards every plugin's run state (state, runtime_id,
 * endpoint, reason, clients); it is never held across a call to a plugin,
 * a supervisor or the registry. */
#ifndef CPLUGIN_PLATFORM_LAUNCHER_INTERNAL_H
#define CPLUGIN_PLATFORM_LAUNCHER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cplugin/launcher.h"
#include "cplugin/metrics.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/server.h"
#include "cplugin/tokens.h"
#include "crypto/crypto.h"
#include "launch/supervisor.h"
#include "platform/manifest.h"

enum {
  /* "unix:" + a socket path, or host:port. */
  LAUNCHER_TARGET_MAX = PROC_ADDRESS_MAX + 8,
  LAUNCHER_REASON_MAX = CP_LAUNCHER_TEXT_MAX,
  /* Clients dispensed for earlier TCP endpoints, kept until destroy. */
  LAUNCHER_MAX_OLD_CLIENTS = 16,
  /* The manifest's plugins and those added at run time, in all: the
   * plugins array is allocated for that many once, so a plugin never
   * moves (instances and threads hold pointers to it). */
  LAUNCHER_MAX_PLUGINS = MANIFEST_MAX_PLUGINS
};

/* One process generation of a plugin: a start, its restarts, its stop.
 * A replacement runs a second instance beside the first until it is
 * HEALTHY. */
typedef struct linstance {
  struct lplugin *p;
  unsigned generation; /* 0 for the first; names the socket after that */
  /* "launch:<name>", "launch:<name>/<generation>" after the first: a
   * replacement is a different principal, so it does not take over the
   * registrations of the instance it replaces (registry takeover) before
   * it proved HEALTHY; both serve until the old one is drained. */
  char principal[CP_LAUNCHER_NAME_MAX + 24];
  sup *sup;
  char secret[CP_RANDOM_TOKEN_CHARS + 1];
  char *path;        /* the executable */
  char *socket_path; /* NULL for TCP */
  /* What the process gets: argv and "NAME=VALUE" strings, NULL-ended. */
  char **argv;
  char **env_set;
  const char **env_allow;
  bool launched; /* its supervisor was started (l->mu) */
  /* l->mu: the identity and address of the current process. */
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  char target[LAUNCHER_TARGET_MAX];
  /* Set while the instance starts: its identity step reports to start_rc
   * and start_err (written and read by the thread in cpi_sup_start) instead
   * of killing the process. */
  atomic_bool starting;
  int start_rc;
  char start_err[LAUNCHER_REASON_MAX + 1];
  /* An in-process plugin's instance (p->def set): no process, no
   * supervisor; the compiled-in plugin it runs (a replacement may run
   * another), its server (reached over socketpairs only) and runtime.
   * server is set by its start, read by connectors under l->mu. */
  const cp_in_process_plugin *def;
  cp_server *server;
  cp_plugin_runtime *rt;
} linstance;

typedef struct lplugin {
  cp_launcher *l;
  const manifest_plugin *m; /* in l->manifest */
  /* The compiled-in plugin its "in_process" names (in l->in_process);
   * NULL for a process plugin. */
  const cp_in_process_plugin *def;
  /* l->mu */
  linstance *cur;  /* the instance whose state the plugin shows */
  linstance *next; /* a replacement while it starts */
  cp_plugin_run_state state;
  char reason[LAUNCHER_REASON_MAX + 1];
  unsigned generations;     /* instances made so far */
  uint32_t restarts_before; /* restarts of replaced instances */
  cp_client *client;        /* dispensed, for `client_target` */
  char client_target[LAUNCHER_TARGET_MAX];
  cp_client *old_clients[LAUNCHER_MAX_OLD_CLIENTS];
  size_t old_client_count;
  bool busy; /* a replace or remove runs */
  /* launcher_observe.c: its series and health service ("plugin/<name>"). */
  cp_gauge *up;
  cp_gauge *failed;
  cp_counter *restart_counter;
  char health_name[CP_LAUNCHER_NAME_MAX + 8];
} lplugin;

struct cp_launcher {
  cp_host *host;
  cp_registry *reg;
  cp_token_store *tokens;
  manifest *manifest;
  /* Manifest order, then the plugins added at run time. An entry is
   * complete before `count` (an atomic: read without a lock) covers it,
   * and never moves or goes away before destroy. */
  lplugin *plugins; /* LAUNCHER_MAX_PLUGINS */
  atomic_size_t count;
  size_t *order; /* indices in start order; added plugins last */
  /* launcher_add.c: the entries added at run time (one manifest each),
   * what their relative paths are resolved against, one add at a time. */
  manifest *added[LAUNCHER_MAX_PLUGINS];
  size_t added_count;
  char *manifest_dir;
  pthread_mutex_t add_mu;
  /* launcher_observe.c: the plugin series' families (NULL: unmetered). */
  cp_metric_family *up_family;
  cp_metric_family *failed_family;
  cp_metric_family *restarts_family;
  char *host_url;
  char *socket_dir;
  bool own_socket_dir;
  int64_t identity_timeout_ms;
  int64_t stop_grace_ms;
  int64_t drain_settle_ms; /* remove and replace: drain, wait, then stop */
  /* launcher_probe.c: the hung-plugin probe's settings and thread. */
  int64_t health_interval_ms;
  pthread_t probe_thread;
  pthread_mutex_t probe_mu;
  pthread_cond_t probe_cv; /* CLOCK_MONOTONIC */
  uint32_t health_misses;
  bool probe_started;
  bool probe_stop;                  /* probe_mu */
  cp_in_process_plugin *in_process; /* copied from the options */
  size_t in_process_count;
  bool connector_installed; /* the host router's, for "inproc:" */

  pthread_mutex_t mu;
  /* Serialises cpi_lobserve_publish so the last published state is the last
   * one set. */
  pthread_mutex_t publish_mu;
  atomic_bool stopping; /* cuts identity waits short */
  bool started;
  bool stopped;
};

/* --- launcher_instance.c --- */
/* Makes the next instance of p (path NULL: the manifest's) with its
 * argv, environment and supervisor; nothing runs. NULL on failure with
 * err (CP_ENOMEM, CP_EINVAL, CP_ESYS in *rc). */
linstance *cpi_linstance_new(lplugin *p, const char *path, int *rc, char *err,
                             size_t errlen);
/* Launches the instance and waits for its identity step: 0, or an error
 * with err (nothing of it runs then). */
int cpi_linstance_start(linstance *in, char *err, size_t errlen);
/* Drains its runtime in the registry, then waits drain_settle_ms for the
 * calls already on their way to it (remove and replace, before
 * cpi_linstance_stop). */
void cpi_linstance_drain(linstance *in);
/* Drains its runtime in the registry, asks it to shut down, then the
 * supervisor's stop (SIGTERM, SIGKILL); its identity is revoked. */
void cpi_linstance_stop(linstance *in);
/* Frees a stopped (or never started) instance and removes its socket. */
void cpi_linstance_free(linstance *in);

/* --- launcher.c --- */
/* Sets up plugins[index] for manifest entry `m` (not yet counted): its
 * first instance, nothing started. 0 or an error with err. */
int cpi_lplugin_init(cp_launcher *l, size_t index, const manifest_plugin *m,
                     char *err, size_t errlen);
/* Starts p if its startup requirements run (as cp_launcher_start does for
 * each): 0, or an error with err and p FAILED. */
int cpi_lplugin_start(cp_launcher *l, lplugin *p, char *err, size_t errlen);
/* The plugin named `name`, or NULL. */
lplugin *cpi_lplugin_find(cp_launcher *l, const char *name);
/* The compiled-in plugin named `name` (cp_launcher_options.in_process), or
 * NULL. */
const cp_in_process_plugin *cpi_lplugin_find_in_process(const cp_launcher *l,
                                                        const char *name);

/* --- launcher_plugin.c --- */
/* Sets state and reason (l->mu not held). */
void cpi_lplugin_set(lplugin *p, cp_plugin_run_state state, const char *reason);
/* The same, when `in` is its plugin's current instance (a replacement
 * starting, or a replaced one stopping, changes nothing). */
void cpi_lplugin_show(linstance *in, cp_plugin_run_state state,
                      const char *reason);
/* An instance's supervisor changed state. */
void cpi_lplugin_on_state(linstance *in, sup_state state, const char *reason,
                          const proc_endpoint *endpoint);

/* --- launcher_probe.c --- */
/* Starts the hung-plugin probe (none when health_interval_ms is 0):
 * 0 or CP_ESYS. */
int cpi_lprobe_start(cp_launcher *l);
/* Stops and joins it; idempotent. */
void cpi_lprobe_stop(cp_launcher *l);

/* --- launcher_observe.c --- */
/* Creates the plugin series' families in the host's metrics (once per
 * host), then cpi_lobserve_plugin for each plugin. */
void cpi_lobserve_init(cp_launcher *l);
/* p's series and health service name. */
void cpi_lobserve_plugin(cp_launcher *l, lplugin *p);
/* Publishes p's current state: cplugin_plugin_up / _failed and the host's
 * health service "plugin/<name>" (SERVING while RUNNING). */
void cpi_lobserve_publish(lplugin *p);
/* Counts one restart of p. */
void cpi_lobserve_restart(lplugin *p);

/* --- launcher_inproc.c --- */
/* Starts an in-process instance: its server, its identity, its runtime
 * joined over socketpairs to the host; waits for HEALTHY. 0, or an error
 * with err (nothing of it left: server down, identity revoked). */
int cpi_linproc_start(linstance *in, char *err, size_t errlen);
/* Drains its runtime, stops it (unregistering), shuts the server down
 * within stop_grace_ms and revokes the identity; STOPPED. */
void cpi_linproc_stop(linstance *in);
/* Frees what the instance's start made (after stop). */
void cpi_linproc_free(linstance *in);
/* A new client connected to the server of in-process instance `in`
 * (l->mu held): 0, CP_ENOTFOUND (NULL, not serving) or the error of
 * cp_connection_pair. */
int cpi_linproc_connect_locked(linstance *in, cp_client **out);
/* Installs the host router's connector for "inproc:<name>" addresses, once,
 * when a listed plugin is in process or `needed` (one being added is), and
 * removes it. */
int cpi_linproc_install_connector(cp_launcher *l, bool needed);
void cpi_linproc_remove_connector(cp_launcher *l);

/* --- launcher_identity.c --- */
/* Waiting, by polls, for something a plugin does (its runtime publishing,
 * its HEALTHY report): the first poll after 2 ms, then doubling up to
 * 100 ms, until the deadline, the launcher stopping or - when `process` is
 * not NULL - the process exiting. */
typedef struct lpoll {
  cp_launcher *l;
  sup *process;
  int64_t deadline_ns;
  int64_t next_ms;
} lpoll;
void cpi_lpoll_init(lpoll *w, cp_launcher *l, sup *process, int64_t timeout_ms);
/* Milliseconds to the deadline, 0 once passed. */
int64_t cpi_lpoll_remaining_ms(const lpoll *w);
/* Sleeps until the next poll; false when the wait must end instead. */
bool cpi_lpoll_again(lpoll *w);
/* Until runtime_id reported HEALTHY (DEGRADED is not enough: a required
 * dependency is missing) and registered every type the manifest says `p`
 * provides: only then may the launcher route to it or start what needs
 * it. 0, CP_ENOMEM, or CP_ETIMEDOUT with what was missing in err. */
int cpi_lwait_ready(lpoll *w, const lplugin *p, const char *runtime_id,
                    char *err, size_t errlen);

/* Model A against the process at `target`: GetPluginInfo, checks, issues
 * an identity, SetRuntimeIdentity, waits until ready (cpi_lwait_ready).
 * Returns 0 with the runtime ID in runtime_id, or an error with err (no
 * identity left). */
int cpi_lidentity_establish(linstance *in, const char *target,
                            char runtime_id[CP_RUNTIME_ID_MAX + 1], char *err,
                            size_t errlen);
/* Asks the plugin to shut down (PluginControl/Shutdown with the secret);
 * true when it acknowledged. */
bool cpi_lidentity_request_shutdown(linstance *in, const char *target,
                                    int64_t grace_ms);

#endif /* CPLUGIN_PLATFORM_LAUNCHER_INTERNAL_H */
