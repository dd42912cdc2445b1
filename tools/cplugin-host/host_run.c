/* A generic cplugin host: start, launch the manifest, serve, stop. */
#include "host_run.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* The admin service for callers presenting `key` (principal
 * "api-key:operator"), on the host's server before it starts. */
static int add_admin(cp_host *host, const char *key, const char *prog,
                     cp_admin **out) {
  int rc = cp_auth_add_api_key(cp_host_auth(host), key, "operator");
  if (rc != 0) {
    fprintf(stderr, "%s: --admin-key: 16..256 bytes\n", prog);
    return rc;
  }
  static const char *const admins[] = {"api-key:operator"};
  cp_admin_options ao;
  cp_admin_options_init(&ao);
  ao.registry = cp_host_registry(host);
  ao.rate = cp_host_rate_policy(host);
  ao.principals = admins;
  ao.principal_count = 1;
  rc = cp_admin_create(out, &ao);
  if (rc == 0) {
    rc = cp_admin_register(*out, cp_host_server(host));
  }
  return rc;
}

/* Starts the manifest's plugins; true on failure (reported on stderr). */
static bool launch_plugins(cp_host *host, const char *manifest,
                           const char *host_url, const char *prog,
                           cp_launcher **out) {
  cp_launcher_options lo;
  cp_launcher_options_init(&lo);
  lo.manifest_path = manifest;
  lo.host_url = host_url;
  char err[2048];
  int rc = cp_launcher_create(out, host, &lo, err, sizeof err);
  if (rc == 0) {
    rc = cp_launcher_start(*out, err, sizeof err);
  }
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return true;
  }
  cp_plugin_status st[16];
  size_t n = cp_launcher_status(*out, st, 16);
  for (size_t i = 0; i < n && i < 16; i++) {
    printf("PLUGIN %s %s %d\n", st[i].name, st[i].endpoint, (int)st[i].pid);
  }
  return false;
}

static void host_options(const host_config *c, cp_host_options *o,
                         cp_etcd_options *etcd) {
  cp_host_options_init(o);
  o->listen = c->listen;
  o->tls = c->tls ? &c->tls_options : NULL;
  o->metrics_address = c->metrics_address;
  o->metrics_port = c->metrics_port;
  o->rate_limits = c->rate_limits;
  if (c->use_redis) {
    o->rate.redis = &c->redis;
  }
  if (c->etcd.endpoints != NULL) {
    *etcd = c->etcd;
    etcd->secret = c->replica_secret;
    etcd->secret_len = strlen(c->replica_secret);
    o->etcd = etcd;
  }
  /* Launched plugins serve on Unix sockets in a private directory, and a
   * manifest may name in-process plugins ("inproc:<name>"); a host of
   * self-registering plugins keeps the default policy (loopback and the
   * caller's own address only). */
  if (c->manifest != NULL) {
    o->registry.base_url_allow |= CP_BASE_URL_UNIX | CP_BASE_URL_INPROC;
  }
  if (c->token_ttl_ms > 0) {
    o->tokens.ttl_ms = c->token_ttl_ms;
    /* Expired identities are dropped within a lifetime, not a minute. */
    if (o->tokens.sweep_interval_ms > c->token_ttl_ms) {
      o->tokens.sweep_interval_ms = c->token_ttl_ms;
    }
  }
}

int host_run(const host_config *c, const char *prog) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  cp_log_configure_from_env();

  cp_host_options o;
  cp_etcd_options etcd;
  host_options(c, &o, &etcd);
  cp_host *host = NULL;
  int port = 0;
  int metrics_port = 0;
  cp_admin *admin = NULL;
  int rc = cp_host_create(&host, &o);
  if (rc == 0 && c->admin_key != NULL && c->admin_key[0] != '\0') {
    rc = add_admin(host, c->admin_key, prog, &admin);
  }
  if (rc == 0) {
    rc = cp_host_start(host, &port, &metrics_port);
  }
  if (rc != 0) {
    fprintf(stderr, "%s: cannot start the host on %s: %s\n", prog, c->listen,
            cp_strerror(rc));
    cp_host_destroy(host);
    cp_admin_destroy(admin);
    return 1;
  }
  char address[300];
  if (strncmp(c->listen, "unix", 4) == 0) {
    snprintf(address, sizeof address, "%s", c->listen);
  } else {
    const char *colon = strrchr(c->listen, ':');
    snprintf(address, sizeof address, "%.*s:%d",
             colon != NULL ? (int)(colon - c->listen) : 0, c->listen, port);
  }
  cp_launcher *launcher = NULL;
  if (c->manifest != NULL &&
      launch_plugins(host, c->manifest, address, prog, &launcher)) {
    cp_launcher_destroy(launcher);
    cp_host_shutdown(host, 0);
    cp_host_destroy(host);
    cp_admin_destroy(admin);
    return 1;
  }
  cp_admin_set_launcher(admin, launcher);
  printf("LISTENING %s\n", address);
  if (c->metrics_address != NULL) {
    printf("METRICS %d\n", metrics_port);
  }
  fflush(stdout);
  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  /* Plugins first: they unregister from a host that still serves. The
   * admin service lets go of the launcher first (waiting out a change in
   * progress). */
  cp_admin_set_launcher(admin, NULL);
  cp_launcher_destroy(launcher);
  cp_host_shutdown(host, 3000);
  cp_host_destroy(host);
  cp_admin_destroy(admin);
  return 0;
}

int cplugin_host_main(const char *prog, int argc, char **argv) {
  host_config c;
  int rc = host_flags_parse(&c, prog, argc, argv);
  if (rc != 0) {
    return rc == 1 ? 0 : rc;
  }
  return host_run(&c, prog);
}
