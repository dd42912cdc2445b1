/* `cpluginctl serve`: a cp_host with the Echo benchmark method, until
 * SIGINT or SIGTERM.
 *
 * stdout contract (tools/compare and `cpluginctl load` parse it; keep it
 * exactly): "LISTENING <port>" ("LISTENING unix:<path>" for a Unix socket),
 * then "METRICS <port>" when the metrics listener is on, each line flushed as
 * soon as the host serves; after the stop request and a clean shutdown,
 * "SERVED ok=<n>": the Echo calls the handler completed with OK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "cplugin/cplugin.h"
#include "echo_handler.h"
#include "signals.h"

/* Grace for calls in flight at the stop request. */
enum { SHUTDOWN_GRACE_MS = 2000 };

/* The Echo limit per identity and the handshake limit per peer address. */
static int set_limits(cp_host *host, const ctl_serve_args *a) {
  cp_rate_policy *policy = cp_host_rate_policy(host);
  cp_rate_limit echo = {a->rate, a->burst};
  int rc = cp_rate_policy_set(policy, CTL_ECHO_PATH, echo);
  if (rc == 0) {
    /* Many simulated plugins handshake from one loopback address; the host
     * default (10/s, burst 20) would make a 100-plugin run wait ~8 s. */
    cp_rate_limit hs = {a->handshake_rate, a->handshake_burst};
    rc = cp_rate_policy_set(policy, CP_RATE_HANDSHAKE_PATH, hs);
  }
  return rc;
}

static int create_host(const ctl_serve_args *a, ctl_echo_counter *counter,
                       cp_host **out) {
  cp_host_options o;
  cp_host_options_init(&o);
  o.listen = a->listen;
  o.call_chain = a->chain;
  o.server.threads = a->threads;
  o.server.busy_poll_us = a->busy_poll_us;
  o.metrics_address = a->metrics_port < 0 ? NULL : "127.0.0.1";
  o.metrics_port = a->metrics_port < 0 ? 0 : a->metrics_port;
  /* Every simulated plugin (and provider) is an identity from the one
   * loopback address: room for the largest run (the host default is 256). */
  o.handshake.max_identities_per_address = CTL_MAX_PLUGINS + 64;
  if (a->max_watchers > 0) {
    o.registry.max_watchers = a->max_watchers;
  }
  cp_rate_redis_options redis;
  cp_rate_redis_options_init(&redis);
  if (a->redis != NULL) {
    redis.address = a->redis;
    o.rate.redis = &redis;
  }
  cp_etcd_options etcd;
  cp_etcd_options_init(&etcd);
  if (a->etcd != NULL) {
    etcd.endpoints = a->etcd;
    etcd.secret = getenv("CPLUGIN_REPLICA_SECRET");
    etcd.secret_len = etcd.secret != NULL ? strlen(etcd.secret) : 0;
    o.etcd = &etcd; /* a missing or short secret: CP_EINVAL */
  }
  /* Static: the host keeps the pointer and reads it in cp_host_start,
   * after this returns (one serve per process). */
  static cp_tls_server_options tls;
  cp_tls_server_options_init(&tls);
  if (a->tls_cert != NULL) {
    tls.cert_chain.path = a->tls_cert;
    tls.private_key.path = a->tls_key;
    o.tls = &tls;
  }
  int rc = cp_host_create(out, &o);
  if (rc == 0 && a->provider_type == NULL) {
    rc = ctl_echo_register(cp_host_server(*out), counter);
  }
  if (rc == 0) {
    rc = set_limits(*out, a);
  }
  return rc;
}

int ctl_cmd_serve(int argc, char **argv) {
  ctl_serve_args a;
  char err[256];
  int p = ctl_parse_serve(argc, argv, &a, err, sizeof err);
  if (p != CTL_PARSE_OK) {
    return ctl_usage_exit("serve", p, err);
  }

  ctl_echo_counter *counter = ctl_echo_counter_create();
  cp_host *host = NULL;
  int rc = counter == NULL ? CP_ENOMEM : create_host(&a, counter, &host);
  int port = 0;
  int metrics_port = 0;
  if (rc == 0) {
    rc = cp_host_start(host, &port, &metrics_port);
  }
  if (rc != 0) {
    fprintf(stderr, "cpluginctl serve: cannot serve on %s: %s\n", a.listen,
            cp_strerror(rc));
    cp_host_destroy(host);
    ctl_echo_counter_destroy(counter);
    return CTL_EXIT_FAILED;
  }
  if (strncmp(a.listen, "unix:", 5) == 0) {
    printf("LISTENING %s\n", a.listen);
  } else {
    printf("LISTENING %d\n", port);
  }
  if (a.metrics_port >= 0) {
    printf("METRICS %d\n", metrics_port);
  }
  fflush(stdout);
  if (a.provider_type != NULL) {
    fprintf(stderr,
            "cpluginctl serve: Echo is answered by providers of type \"%s\" "
            "(x-cplugin-service-type: %s), not by this host\n",
            a.provider_type, a.provider_type);
  }

  ctl_stop_wait_forever();
  cp_host_shutdown(host, SHUTDOWN_GRACE_MS);
  cp_host_destroy(host);
  printf("SERVED ok=%llu\n", (unsigned long long)ctl_echo_ok(counter));
  fflush(stdout);
  ctl_echo_counter_destroy(counter);
  return CTL_EXIT_OK;
}
