/* cplugin — a plugin's whole main loop in one call.
 *
 *   static int setup(cp_server *server, void *user) {
 *     static const cp_greeter__v1__greeter__handlers h = {
 *         .on_say_hello = say_hello, .on_count = count};
 *     return cp_greeter__v1__greeter__register(server, &h, user);
 *   }
 *   int main(void) {
 *     static const cp_plugin_desc *const provides[] = {
 *         &cp_greeter__v1__greeter__plugin};
 *     cp_plugin_serve_options o;
 *     cp_plugin_serve_options_init(&o);
 *     o.self_id = "greeter";
 *     o.provides = provides;
 *     o.provides_count = 1;
 *     o.setup = setup;
 *     return cp_plugin_serve(&o) == 0 ? 0 : 1;
 *   }
 *
 * cp_plugin_serve, in order:
 *   1. blocks SIGINT and SIGTERM in the calling thread, so that every thread
 *      started after it inherits the mask (call it from main before starting
 *      threads of your own: a thread that does not block them would take
 *      the signal's default action, ending the process at once);
 *   2. creates a server (server_options) with setup's handlers, the
 *      handshake service announcing `provides` (cp_handshake_service), and
 *      grpc.health.v1.Health / connectplugin.health.v1.HealthService
 *      (cp_health, "" SERVING); listens on `listen` and starts;
 *   3. when a host is named (host_url, else CPLUGIN_HOST_URL, else
 *      HOST_URL), joins it with a cp_plugin_runtime: handshake as self_id,
 *      dependency watches, health reports. A host that cannot be reached
 *      yet (UNAVAILABLE or DEADLINE_EXCEEDED) is retried with backoff
 *      (100 ms doubling to 5 s) for up to host_wait_ms, and a signal
 *      meanwhile ends the wait cleanly (0). Without a host the plugin
 *      serves alone;
 *   4. calls on_started (with the runtime, or NULL without a host); then,
 *      with a host, registers every provided service with base_url. Only
 *      then: the host routes calls to the plugin from its registration on,
 *      and the handlers may need what on_started prepared (routes,
 *      capabilities). A registration the host cannot take yet is retried
 *      as in 3 (also UNAUTHENTICATED: the runtime is recovering its
 *      identity). Then it prints "LISTENING <address>" when print_address
 *      is set, and waits for SIGINT or SIGTERM;
 *   5. health turns NOT_SERVING, the server stops accepting calls and lets
 *      those in flight finish for up to grace_ms, the runtime leaves the
 *      host (its registrations are withdrawn), and everything is freed.
 *      It returns with SIGINT and SIGTERM still blocked in the calling
 *      thread, so that a signal still on its way cannot end the process
 *      before main returns (unblock them to go on handling them).
 *
 * Launched by a cplugin host (docs/launch.md), the library's launched mode
 * applies unchanged: the server binds CPLUGIN_LISTEN instead of `listen`,
 * the launcher's identity replaces the handshake, and PluginControl is
 * served behind the launch secret; its Shutdown ends cp_plugin_serve as
 * SIGTERM does. A plugin started by hand serves no PluginControl: nothing
 * would authenticate the callers of its Shutdown.
 *
 * Thread safety: one cp_plugin_serve per process. The callbacks run on the
 * calling thread.
 */
#ifndef CPLUGIN_PLUGIN_SERVE_H
#define CPLUGIN_PLUGIN_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/server.h"
#include "cplugin/service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_plugin_serve_options {
  /* This plugin's ID with the host. Required. */
  const char *self_id;
  /* Announced in the handshake; NULL = the first provided plugin's version
   * (the generated descriptor's), or "0.0.0" when it provides nothing. */
  const char *self_version;
  /* The services this plugin provides: the generated descriptors
   * (cp_P__plugin: type, version and path). Not copied. */
  const cp_plugin_desc *const *provides;
  size_t provides_count;
  /* The services it needs (see cp_plugin_runtime_options.requires). */
  const cp_service_dep *requires;
  size_t requires_count;
  /* Registers the plugin's handlers on `server` (before it starts), e.g.
   * with a generated cp_P__register. Returns 0 or an error, which ends
   * cp_plugin_serve with it. Required. */
  int (*setup)(cp_server *server, void *user);
  /* Called once serving (and joined, with a host; `rt` is NULL without
   * one), before the provided services are registered: keep `rt` to route
   * calls (cp_plugin_runtime_route) or to use the host's capabilities.
   * Returns 0, or an error that stops the plugin (cp_plugin_serve returns
   * it; nothing was registered). May be NULL. */
  int (*on_started)(cp_plugin_runtime *rt, void *user);
  /* Called after the server has drained and before the runtime leaves the
   * host: the place to release what on_started took. May be NULL. */
  void (*on_stopping)(void *user);
  void *user; /* for the three callbacks */
  /* Where to serve: "host:port" or "unix:/path"; NULL = "127.0.0.1:0" (a
   * free loopback port). */
  const char *listen;
  /* Registered with the host as base_url; NULL = the listen address with
   * the port actually bound (a wildcard 0.0.0.0 or [::] becomes 127.0.0.1
   * or [::1], reachable from this machine only: set it for other ones). */
  const char *base_url;
  /* NULL = CPLUGIN_HOST_URL, else HOST_URL; neither (or "") = no host. */
  const char *host_url;
  /* For the runtime's connection to the host, as in
   * cp_plugin_runtime_options (may be NULL). */
  const cp_tls_client_options *host_tls;
  const char *api_key;
  /* The server's settings; NULL = cp_server_options_init's. */
  const cp_server_options *server_options;
  /* How long calls in flight may finish at shutdown (default 5000 ms). */
  int64_t grace_ms;
  /* How long to retry a host that cannot be reached at start; default -1 =
   * until stopped by a signal; 0 = fail at once. */
  int64_t host_wait_ms;
  /* Print "LISTENING <address>" (the bound address) on stdout once
   * serving, for a parent process that waits for it. Not printed when
   * launched, whose own line announces the address. Default false. */
  bool print_address;
} cp_plugin_serve_options;

/* Fills `opts` with the defaults. */
CP_API void cp_plugin_serve_options_init(cp_plugin_serve_options *opts);

/* Serves the plugin until SIGINT or SIGTERM (see above). Returns 0 after a
 * clean shutdown (also when stopped while still waiting for the host);
 * CP_EINVAL for bad options; otherwise the error that stopped it (setup's
 * or on_started's, a failed listen, a host that refused the plugin:
 * CP_ERPC, or one still unreachable after host_wait_ms; launched, a
 * Shutdown before the launcher's identity came: CP_ECANCELLED). Each
 * failure is also logged (cp_log) with what to fix. */
CP_API int cp_plugin_serve(const cp_plugin_serve_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_PLUGIN_SERVE_H */
