/* cplugin — managed plugins: a host launches the plugins a manifest lists
 * (docs/manifest.md), gives each its runtime identity, keeps them running
 * and stops them with the host.
 *
 *   cp_launcher_options lo;
 *   cp_launcher_options_init(&lo);
 *   lo.manifest_path = "plugins.json";
 *   lo.host_url = "127.0.0.1:8080";          // where plugins reach the host
 *   cp_launcher *l;
 *   char err[512];
 *   cp_launcher_create(&l, host, &lo, err, sizeof err);  // host started
 *   cp_launcher_start(l, err, sizeof err);   // every plugin, in order
 *   cp_client *kv;
 *   cp_launcher_dispense(l, "kv", &kv);      // typed stubs on it
 *   ...
 *   cp_launcher_shutdown(l);                     // before cp_host_shutdown
 *   cp_launcher_destroy(l);
 *
 * Starting a plugin (docs/launch.md tells the plugin's side):
 *  1. The process starts with only what the manifest allows: its argument
 *     list, an environment made of the allowed and set variables plus
 *     CPLUGIN_LISTEN (a Unix socket <socket_dir>/<name>.sock, or loopback
 *     TCP), CPLUGIN_HOST_URL and a launch secret (CPLUGIN_LAUNCH_SECRET), in
 *     its own process group, with no inherited descriptor, killed when the
 *     host dies (PR_SET_PDEATHSIG). Its stdout and stderr go line by line to
 *     the host's log with the plugin's name.
 *  2. Readiness: the plugin prints its handshake line once it serves; none
 *     within the manifest's ready_timeout_ms is a failed start.
 *  3. Identity (Model A): the host calls PluginIdentity/GetPluginInfo on the
 *     plugin (with the launch secret), checks that it answers with the
 *     manifest's name, declares every type the manifest says it provides,
 *     and that every service it requires for startup has a routable
 *     provider, issues a runtime identity (principal "launch:<name>"),
 *     hands it over with SetRuntimeIdentity, and waits until the plugin
 *     reported HEALTHY and registered every type the manifest says it
 *     provides: only then is it RUNNING, dispensed, routed to, and are the
 *     plugins that need it started. All of step 3 must end within
 *     identity_timeout_ms.
 * A start that fails at any step leaves no process and no identity behind.
 *
 * Order. cp_launcher_start starts the manifest's plugins one at a time in
 * dependency order ("requires" with required_for_startup wait for every
 * provider); a cycle or a requirement nobody provides refuses the whole
 * manifest before anything starts, naming the cycle or the service.
 *
 * Supervision. A plugin that exits, crashes, or hangs (see
 * health_interval_ms) loses its identity at once
 * (its registrations go, watchers see it unavailable) and is restarted per
 * its restart policy with exponential backoff and jitter, going through
 * steps 1-3 again with a new identity; max_restarts restarts within
 * window_ms make it FAILED (logged at error level, shown by
 * cp_launcher_status). A restarted process that fails step 3 is killed and
 * counts as a crash.
 *
 * Stopping. cp_launcher_shutdown stops the plugins in reverse start order: each
 * gets PluginControl/Shutdown (with the secret and stop_grace_ms), then
 * SIGTERM when it has not exited within the grace period, then SIGKILL;
 * its identity is revoked and the process reaped. No process outlives the
 * launcher; one that outlives a crashed host dies by PR_SET_PDEATHSIG.
 *
 * In-process plugins. A manifest entry with "in_process": "<name>" names a
 * plugin compiled into the host (cp_in_process_plugin, given in
 * cp_launcher_options.in_process). It is started in its dependency order
 * like the others, but runs no process and opens no listener: its
 * services are registered on a cp_server of its own that is reached only
 * through socketpair connections (cp_connection_pair). The launcher issues
 * its identity itself (principal "launch:<name>", allowed exactly the
 * entry's provides; no GetPluginInfo: the host trusts its own code) and
 * starts a cp_plugin_runtime for it whose every connection to the host is
 * a socketpair to the host's server, so its registrations, health reports
 * and routed calls pass the host's authentication, registry and router as
 * a process plugin's do. It registers base_url "inproc:<name>": the host
 * must allow CP_BASE_URL_INPROC (cp_registry_options.base_url_allow), and
 * the launcher installs the router's connector (cp_router_set_connector;
 * one launcher with in-process plugins per host). Then it waits for
 * HEALTHY within identity_timeout_ms as for a process. Its status shows
 * pid 0 and endpoint "inproc:<name>"; metrics and health as any plugin.
 * A crash of it is the host's crash: no supervision, no restarts. Removal
 * drains it, stops its runtime, shuts its server down within
 * stop_grace_ms and revokes its identity. cp_launcher_replace runs a new
 * instance blue-green (a new server, identity and base_url
 * "inproc:<name>/<generation>"), of the same compiled-in plugin or of
 * another one the host has (a second version, say), and starts a removed
 * one again. The runtime's connections to the host are made again when
 * the host closes them (its idle or age limit: cp_client_create_dialing),
 * and the plugin's own server has no such limits.
 *
 * The host must leave child processes to the launcher: SIGCHLD not ignored,
 * no waitpid(-1) elsewhere (see runtime/src/launch/process.h).
 *
 * Thread safety: create, start, stop and destroy from one thread;
 * cp_launcher_dispense, cp_launcher_status, cp_launcher_plugin_status,
 * cp_launcher_remove and cp_launcher_replace may be called from any thread
 * after start returned and before stop (one change per plugin at a time). */
#ifndef CPLUGIN_LAUNCHER_H
#define CPLUGIN_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cplugin/export.h"
#include "cplugin/client.h"
#include "cplugin/host.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/registry.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_launcher cp_launcher;

/* Called once an in-process plugin's runtime joined the host. */
typedef void (*cp_in_process_started_fn)(cp_plugin_runtime *rt, void *user);

/* A plugin compiled into the host (see In-process plugins above). */
typedef struct cp_in_process_plugin {
  const char *name; /* what a manifest entry's "in_process" names */
  /* Registers the plugin's services on its own server (before that server
   * starts; it has no listener). Nonzero fails the plugin's start. */
  cp_register_services_fn register_services;
  /* Optional: called once the plugin's runtime joined the host and is
   * HEALTHY, on the thread that starts it; routed clients come from
   * cp_plugin_runtime_route(rt, ...) and stay valid until the plugin is
   * removed or the launcher stops. Must not block. */
  cp_in_process_started_fn on_started;
  /* Registered with the services (NULL: "0.0.0"). */
  const char *self_version;
  void *user; /* for both callbacks */
} cp_in_process_plugin;

typedef struct cp_launcher_options {
  /* The manifest (required). Relative plugin paths in it are resolved
   * against its directory. */
  const char *manifest_path;
  /* How plugins reach the host: "127.0.0.1:PORT", "unix:/path" (required;
   * passed as CPLUGIN_HOST_URL and in SetRuntimeIdentity). */
  const char *host_url;
  /* Directory for the plugins' Unix sockets; it must exist, be owned by
   * the host's user and not be accessible to others (mode 0700 or
   * stricter). NULL (default): a fresh 0700 directory under $TMPDIR (or
   * /tmp), removed by cp_launcher_destroy. */
  const char *socket_dir;
  /* From the handshake line to HEALTHY (step 3 above; default 10000). */
  int64_t identity_timeout_ms;
  /* Grace period of a stop: Shutdown's grace_period, then the wait before
   * SIGTERM and again before SIGKILL (default 5000). */
  int64_t stop_grace_ms;
  /* Remove and replace: after the registry stops routing to the old
   * instance, the wait before it is asked to shut down (default 250;
   * 0..60000). A call the router resolved to it just before the drain may
   * still be on its way there; the wait lets it reach an instance that
   * still serves instead of one that is closing (UNAVAILABLE). It narrows
   * that window rather than closing it: a routing thread held up longer
   * than this still finds the old instance gone. cp_launcher_shutdown does not
   * wait. */
  int64_t drain_settle_ms;
  /* The plugins a manifest's "in_process" may name (copied by create; the
   * strings and callbacks must outlive the launcher). A manifest naming one
   * that is not here is refused by create (CP_EINVAL). */
  const cp_in_process_plugin *in_process;
  size_t in_process_count;
  /* Hung plugins: every health_interval_ms (default 2000; 0 = never) each
   * running process plugin is asked PluginControl/GetHealth with that
   * deadline; health_misses (default 3, 1..1000) failures in a row - no
   * answer, an error other than UNIMPLEMENTED, or UNHEALTHY - kill it
   * (SIGKILL), and its restart
   * policy goes on as after a crash. */
  int64_t health_interval_ms;
  uint32_t health_misses;
} cp_launcher_options;

CP_API void cp_launcher_options_init(cp_launcher_options *opts);

/* Loads and checks the manifest and its dependency graph and prepares the
 * socket directory; starts nothing. The host must be started (its registry
 * and token store are used) and outlive the launcher. Returns 0 and *out;
 * CP_EINVAL (options, manifest syntax or validation, a cycle, a required
 * service nobody provides: the reason in err); CP_ESYS (the manifest or the
 * socket directory); CP_ENOMEM. err (errlen bytes, may be NULL) holds one
 * line. */
CP_API int cp_launcher_create(cp_launcher **out, cp_host *host,
                              const cp_launcher_options *opts, char *err,
                              size_t errlen);

/* Starts every plugin of the manifest in dependency order and returns when
 * each is HEALTHY or has failed. A plugin that fails to start is FAILED
 * (nothing of it left running) and the plugins that require its services
 * for startup are not started (FAILED too); the others start and keep
 * running. Returns 0 when every plugin runs, or the first failure's code
 * (err: one line per failed plugin, "plugin <name>: <reason>"). Once. */
CP_API int cp_launcher_start(cp_launcher *l, char *err, size_t errlen);

/* A client connected to plugin `name`'s own server (an in-process plugin:
 * a socketpair connection to its server), for the generated
 * stubs of the services it provides; the calls go straight to the plugin
 * (not through the router) and carry nothing of the host's. Owned by the
 * launcher (do not close or destroy it), valid until cp_launcher_destroy.
 * A Unix-socket plugin keeps its address across restarts, so the client
 * follows them; a TCP plugin gets a new port at each restart: dispense
 * again after one. Returns 0; CP_ENOTFOUND (no such plugin); CP_ESTATE
 * (not running); CP_ENOMEM. */
CP_API int cp_launcher_dispense(cp_launcher *l, const char *name,
                                cp_client **out);

typedef enum cp_plugin_run_state {
  CP_PLUGIN_PENDING = 0, /* not started yet */
  CP_PLUGIN_STARTING,    /* launched, not yet HEALTHY */
  CP_PLUGIN_RUNNING,     /* HEALTHY once, serving */
  CP_PLUGIN_BACKOFF,     /* exited; restarting after a delay */
  CP_PLUGIN_FAILED,      /* start failed or crash loop: not restarted */
  CP_PLUGIN_STOPPED      /* stopped by the host, or exited for good */
} cp_plugin_run_state;

CP_API const char *cp_plugin_run_state_name(cp_plugin_run_state state);

enum { CP_LAUNCHER_NAME_MAX = 64, CP_LAUNCHER_TEXT_MAX = 511 };

/* A snapshot of one plugin. */
typedef struct cp_plugin_status {
  char name[CP_LAUNCHER_NAME_MAX + 1];
  cp_plugin_run_state state;
  pid_t pid;         /* 0 when no process runs */
  uint32_t restarts; /* since cp_launcher_start */
  /* The current runtime ID ("" when it has none). */
  char runtime_id[CP_LAUNCHER_TEXT_MAX + 1];
  /* "unix:/path" or "host:port" of the current or last process. */
  char endpoint[CP_LAUNCHER_TEXT_MAX + 1];
  /* Why the state was entered ("killed by signal 9", the start error). */
  char reason[CP_LAUNCHER_TEXT_MAX + 1];
  /* What the plugin last reported (CP_PLUGIN_HEALTH_UNKNOWN when nothing). */
  cp_plugin_health health;
} cp_plugin_status;

/* Writes up to `cap` plugins' status, in manifest order, and returns how
 * many plugins there are (call with cap 0 to size the array). */
CP_API size_t cp_launcher_status(cp_launcher *l, cp_plugin_status *out,
                                 size_t cap);

/* The status of one plugin. Returns 0 or CP_ENOTFOUND. */
CP_API int cp_launcher_plugin_status(cp_launcher *l, const char *name,
                                     cp_plugin_status *out);

/* Adds a plugin at run time: `entry_json` is one plugin entry in the
 * manifest's format (an object as an item of "plugins", docs/manifest.md;
 * a relative path is resolved against the manifest file's directory). It
 * is refused, with nothing changed, when it does not parse or validate
 * (CP_EINVAL; the error names the key, or the line and column), its name
 * is taken (CP_EEXIST), an in-process entry names a plugin the host does
 * not have (CP_EINVAL), the dependency graph with it would have a cycle or
 * a startup requirement nobody provides (CP_EINVAL, naming them), the
 * launcher has 256 plugins in all (CP_ELIMIT), or the
 * launcher was not started or is stopping (CP_ESTATE). Otherwise it is
 * listed from then on (after the manifest's plugins) and started as
 * cp_launcher_start starts each plugin; returns 0 once it is RUNNING, or
 * the start's error with the plugin left FAILED (cp_launcher_replace may
 * start it later). An added plugin is supervised, removed, replaced and
 * stopped (first, as it started last) like the manifest's own. Adds run
 * one at a time; any thread, after start returned. */
CP_API int cp_launcher_add(cp_launcher *l, const char *entry_json, char *err,
                           size_t errlen);

/* Removes plugin `name` from service: the registry stops routing to it
 * (watchers of its services are told it is unavailable), it gets
 * PluginControl/Shutdown so the calls under way finish within
 * stop_grace_ms, then SIGTERM and SIGKILL as needed; its identity is
 * revoked (its token refused from then on). The entry stays, STOPPED with
 * reason "removed"; cp_launcher_replace starts it again. Returns 0;
 * CP_ENOTFOUND; CP_ESTATE (not running, another change of it under way,
 * or the launcher not started or stopping), with err. */
CP_API int cp_launcher_remove(cp_launcher *l, const char *name, char *err,
                              size_t errlen);

/* Replaces plugin `name` blue-green: starts a new process (the executable
 * at `path`, NULL = the manifest's) with steps 1-3 above under a new
 * identity and socket, and only once it is HEALTHY drains and stops the
 * old one as cp_launcher_remove does. Both serve while they overlap, so no
 * call finds the service without a provider. A new process that fails
 * leaves the old one serving untouched (the error in err). Dispense again
 * afterwards: the new process has its own address. For an in-process
 * plugin `path` names the compiled-in plugin to run instead
 * (cp_in_process_plugin.name; NULL = the one it runs now): a new instance
 * of it, started as at launch, replaces the old the same way. Returns 0,
 * the errors of a start, CP_ENOTFOUND (no such plugin, or no compiled-in
 * plugin named `path`), CP_ESTATE. */
CP_API int cp_launcher_replace(cp_launcher *l, const char *name,
                               const char *path, char *err, size_t errlen);

/* Stops every plugin (see Stopping), in reverse start order, and returns
 * once each is reaped. Idempotent. */
CP_API void cp_launcher_shutdown(cp_launcher *l);

/* cp_launcher_shutdown if needed, then frees everything (and removes the
 * socket directory it created). NULL allowed. */
CP_API void cp_launcher_destroy(cp_launcher *l);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_LAUNCHER_H */
