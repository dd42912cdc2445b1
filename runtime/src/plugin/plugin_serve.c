/* cp_plugin_serve: a plugin's main loop (see cplugin/plugin_serve.h). */
#include "cplugin/plugin_serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/handshake.h"
#include "cplugin/health.h"
#include "cplugin/log.h"
#include "launch/launched.h"
#include "plugin/serve_address.h"
#include "plugin/runtime_internal.h"
#include "plugin/serve_join.h"

enum { DEFAULT_GRACE_MS = 5000 };

typedef struct serve_state {
  const cp_plugin_serve_options *o;
  sigset_t stop;
  cp_plugin_info *infos;  /* the handshake's announcement */
  cp_service_decl *decls; /* the registrations */
  cp_server *server;
  cp_health *health;
  cp_handshake_service *handshake;
  cp_plugin_runtime *rt;
  char address[SERVE_ADDRESS_MAX];  /* where it serves */
  char base_url[SERVE_ADDRESS_MAX]; /* what the host is told */
} serve_state;

void cp_plugin_serve_options_init(cp_plugin_serve_options *opts) {
  if (opts == NULL) {
    return;
  }
  memset(opts, 0, sizeof *opts);
  opts->grace_ms = DEFAULT_GRACE_MS;
  opts->host_wait_ms = -1;
}

static const char *check_options(const cp_plugin_serve_options *o) {
  if (o->self_id == NULL || o->self_id[0] == '\0') {
    return "self_id: required";
  }
  if (o->setup == NULL) {
    return "setup: required (it registers the plugin's handlers)";
  }
  if (o->provides_count > 0 && o->provides == NULL) {
    return "provides: NULL with a count";
  }
  for (size_t i = 0; i < o->provides_count; i++) {
    if (o->provides[i] == NULL || o->provides[i]->name == NULL ||
        o->provides[i]->service_path == NULL) {
      return "provides: an empty descriptor";
    }
  }
  if (o->requires_count > 0 && o->requires == NULL) {
    return "requires: NULL with a count";
  }
  if (o->grace_ms < 0) {
    return "grace_ms: must not be negative";
  }
  if (o->host_wait_ms < -1) {
    return "host_wait_ms: -1 (until stopped) or a duration";
  }
  return NULL;
}

/* The generated descriptors, as the handshake and the registry want them. */
static int describe(serve_state *s) {
  size_t n = s->o->provides_count;
  if (n == 0) {
    return 0;
  }
  s->infos = calloc(n, sizeof *s->infos);
  s->decls = calloc(n, sizeof *s->decls);
  if (s->infos == NULL || s->decls == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const cp_plugin_desc *d = s->o->provides[i];
    cp_plugin_info_from_desc(&s->infos[i], d);
    s->decls[i] = (cp_service_decl){d->name, d->version, d->service_path};
  }
  return 0;
}

static int build_server(serve_state *s) {
  const cp_plugin_serve_options *o = s->o;
  cp_handshake_service_options hs;
  cp_handshake_service_options_init(&hs);
  hs.plugins = s->infos;
  hs.plugin_count = o->provides_count;
  const char *listen = o->listen != NULL ? o->listen : "127.0.0.1:0";
  int port = 0;
  char launched[SERVE_ADDRESS_MAX];
  bool claimed_before = cpi_launch_endpoint_url(launched, sizeof launched);
  int rc = cp_server_create(&s->server, o->server_options);
  if (rc == 0) {
    rc = cp_server_listen(s->server, listen, &port);
    if (rc != 0) {
      cp_log(CP_LOG_ERROR, "cannot listen", "address", listen, "error",
             cp_strerror(rc), CP_LOG_END);
    }
  }
  /* Launched, this first listener bound CPLUGIN_LISTEN, not `listen`. */
  if (rc == 0 && !claimed_before &&
      cpi_launch_endpoint_url(launched, sizeof launched)) {
    listen = launched;
  }
  if (rc == 0) {
    rc = cp_health_create(&s->health, NULL);
  }
  if (rc == 0) {
    rc = cp_health_register(s->health, s->server);
  }
  if (rc == 0) {
    rc = cp_handshake_service_create(&s->handshake, &hs);
  }
  if (rc == 0) {
    rc = cp_handshake_service_register(s->handshake, s->server);
  }
  if (rc == 0) {
    rc = o->setup(s->server, o->user);
    if (rc != 0) {
      cp_log(CP_LOG_ERROR, "setup failed", "error", cp_strerror(rc),
             CP_LOG_END);
    }
  }
  if (rc == 0) {
    rc = cp_server_start(s->server);
  }
  if (rc == 0) {
    rc = cpi_serve_address_resolve(listen, port, o->base_url, s->address,
                                   s->base_url);
  }
  return rc;
}

/* The runtime's own rule for where the host is, so that the two agree. */
static bool host_named(const cp_plugin_serve_options *o) {
  const char *url = o->host_url != NULL ? o->host_url : cpi_rt_host_from_env();
  return url != NULL && url[0] != '\0';
}

static void runtime_options(const serve_state *s,
                            cp_plugin_runtime_options *ro) {
  const cp_plugin_serve_options *o = s->o;
  cp_plugin_runtime_options_init(ro);
  ro->host_url = o->host_url;
  ro->self_id = o->self_id;
  ro->self_version = o->self_version;
  if (ro->self_version == NULL) {
    ro->self_version =
        o->provides_count > 0 ? o->provides[0]->version : "0.0.0";
  }
  ro->base_url = s->base_url;
  ro->provides = s->decls;
  ro->provides_count = o->provides_count;
  ro->requires = o->requires;
  ro->requires_count = o->requires_count;
  ro->tls = o->host_tls;
  ro->api_key = o->api_key;
}

/* Health NOT_SERVING, the server drained, the plugin's own clean-up, and
 * only then the runtime: handlers that deferred their replies may still use
 * its clients until the drain is over. */
static void stop_and_free(serve_state *s) {
  if (s->health != NULL) {
    cp_health_shutdown(s->health);
  }
  if (s->server != NULL) {
    cp_server_shutdown(s->server, s->o->grace_ms);
  }
  if (s->o->on_stopping != NULL) {
    s->o->on_stopping(s->o->user);
  }
  cp_plugin_runtime_destroy(s->rt);
  cp_server_destroy(s->server);
  cp_handshake_service_destroy(s->handshake);
  cp_health_destroy(s->health);
  free(s->infos);
  free(s->decls);
}

static int serve(serve_state *s) {
  const cp_plugin_serve_options *o = s->o;
  int rc = describe(s);
  if (rc == 0) {
    rc = build_server(s);
  }
  if (rc != 0) {
    return rc;
  }
  if (host_named(o)) {
    cp_plugin_runtime_options ro;
    runtime_options(s, &ro);
    rc = cpi_serve_join(&s->rt, &ro, o->host_wait_ms, &s->stop);
    if (rc == SERVE_JOIN_STOPPED) {
      return 0;
    }
    if (rc != 0) {
      return rc;
    }
  }
  if (o->on_started != NULL) {
    rc = o->on_started(s->rt, o->user);
    if (rc != 0) {
      cp_log(CP_LOG_ERROR, "on_started failed", "error", cp_strerror(rc),
             CP_LOG_END);
      return rc;
    }
  }
  /* Only now: the host routes calls to the plugin once it is registered,
   * and its handlers may need what on_started prepared. */
  if (s->rt != NULL) {
    rc = cpi_serve_register(s->rt, o->host_wait_ms, &s->stop);
    if (rc == SERVE_JOIN_STOPPED) {
      return 0;
    }
    if (rc != 0) {
      return rc;
    }
  }
  cp_log(CP_LOG_INFO, "plugin serving", "self_id", o->self_id, "address",
         s->address, "host", s->rt != NULL ? "joined" : "none", CP_LOG_END);
  if (o->print_address && getenv(CP_LAUNCH_LISTEN_ENV) == NULL) {
    printf("LISTENING %s\n", s->address);
    fflush(stdout);
  }
  int sig = 0;
  while (sigwait(&s->stop, &sig) != 0) {
  }
  cp_log(CP_LOG_INFO, "plugin stopping", "signal",
         sig == SIGINT ? "SIGINT" : "SIGTERM", CP_LOG_END);
  return 0;
}

int cp_plugin_serve(const cp_plugin_serve_options *opts) {
  if (opts == NULL) {
    return CP_EINVAL;
  }
  const char *bad = check_options(opts);
  if (bad != NULL) {
    cp_log(CP_LOG_ERROR, "cp_plugin_serve: bad options", "reason", bad,
           CP_LOG_END);
    return CP_EINVAL;
  }
  serve_state s;
  memset(&s, 0, sizeof s);
  s.o = opts;
  sigemptyset(&s.stop);
  sigaddset(&s.stop, SIGINT);
  sigaddset(&s.stop, SIGTERM);
  /* Left blocked on return: a stop signal still on its way (the launcher's
   * Shutdown sends SIGTERM after it cancelled the identity wait) must not
   * end the process with its default action instead of main's return. */
  pthread_sigmask(SIG_BLOCK, &s.stop, NULL);
  cp_log_configure_from_env();
  int rc = serve(&s);
  stop_and_free(&s);
  return rc;
}
