/* urlshortener-host: a cplugin host (handshake, auth, rate limits, registry,
 * lifecycle, health, router, metrics) for the URL-shortener demo.
 *
 *   urlshortener-host [--listen ADDRESS] [--token-ttl-ms MS]
 *                     [--manifest FILE] [--admin-key KEY]
 *                     [--redis ADDRESS] [--redis-outage local|deny]
 *                     [--etcd ENDPOINTS] [--etcd-prefix PREFIX]
 *                     [--etcd-ca FILE] [--etcd-cert FILE --etcd-key FILE]
 *
 * --manifest launches and supervises the plugins the manifest lists (the
 * managed mode, examples/urlshortener/manifest.json); without it the host
 * waits for plugins started by hand with HOST_URL (the self-registering
 * mode). In the managed mode it prints "PLUGIN <name> <endpoint> <pid>" for
 * each plugin once all run, and stops them before it exits.
 *
 * --admin-key KEY (or the environment variable CPLUGIN_ADMIN_KEY; the option
 * wins) serves the admin service (cplugin/admin.h) to callers presenting
 * KEY in x-api-key (16..256 bytes), as principal "api-key:operator":
 * `cpluginctl status --host ADDRESS --api-key KEY`. Plugins' runtime
 * tokens never pass it.
 *
 * --redis ADDRESS ("HOST:PORT" or "unix:PATH") shares the rate limits with
 * every other host replica given the same Redis (cplugin/ratelimit_redis.h),
 * authenticating with CPLUGIN_REDIS_PASSWORD (and CPLUGIN_REDIS_USERNAME)
 * from the environment when set, so no secret shows in `ps`.
 * --redis-outage says what limited calls get while Redis is unreachable:
 * "local" (default) each replica's own limits, "deny" UNAVAILABLE.
 *
 * --etcd ENDPOINTS ("HOST:PORT", or "A:PORT,B:PORT" for IPv4 addresses)
 * shares runtime identities and the service registry with every other
 * host replica given the same etcd, prefix (--etcd-prefix, default
 * "/cplugin/") and secret, which comes from CPLUGIN_REPLICA_SECRET in the
 * environment (at least 16 bytes; no secret in `ps`): a plugin registered
 * at one replica is discovered and routed to at all, and a plugin whose
 * replica died continues at another with its token and registrations
 * (cplugin/replicas.h). --etcd-ca, --etcd-cert and --etcd-key
 * reach etcd over TLS (the last two: etcd's client-certificate auth).
 *
 * --token-ttl-ms sets the lifetime of the runtime tokens it issues (default
 * 24 h); plugins renew theirs at half of it, so a short one shows renewal
 * under load.
 *
 * Prints "LISTENING <address>" and "METRICS <port>" on stdout once serving,
 * logs to stderr (CPLUGIN_LOG_FORMAT=json for JSON lines), and stops
 * cleanly on SIGINT or SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/cplugin.h"

static bool parse_ms(const char *s, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 ||
      v > INT64_MAX / 1000000) {
    return false;
  }
  *out = (int64_t)v;
  return true;
}

static bool parse_outage(const char *s, cp_rate_outage *out) {
  if (strcmp(s, "local") == 0) {
    *out = CP_RATE_OUTAGE_LOCAL;
  } else if (strcmp(s, "deny") == 0) {
    *out = CP_RATE_OUTAGE_DENY;
  } else {
    return false;
  }
  return true;
}

/* The admin service for callers presenting `key` (principal
 * "api-key:operator"), on the host's server before it starts. */
static int add_admin(cp_host *host, const char *key, cp_admin **out) {
  int rc = cp_auth_add_api_key(cp_host_auth(host), key, "operator");
  if (rc != 0) {
    fprintf(stderr, "urlshortener-host: --admin-key: 16..256 bytes\n");
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
                           const char *host_url, cp_launcher **out) {
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
    fprintf(stderr, "urlshortener-host: %s\n", err);
    return true;
  }
  cp_plugin_status st[16];
  size_t n = cp_launcher_status(*out, st, 16);
  for (size_t i = 0; i < n && i < 16; i++) {
    printf("PLUGIN %s %s %d\n", st[i].name, st[i].endpoint, (int)st[i].pid);
  }
  return false;
}

int main(int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  const char *manifest = NULL;
  const char *admin_key = getenv("CPLUGIN_ADMIN_KEY");
  int64_t token_ttl_ms = 0;
  cp_rate_redis_options redis;
  cp_rate_redis_options_init(&redis);
  redis.username = getenv("CPLUGIN_REDIS_USERNAME");
  redis.password = getenv("CPLUGIN_REDIS_PASSWORD");
  cp_etcd_options etcd;
  cp_etcd_options_init(&etcd);
  cp_tls_client_options etcd_tls;
  cp_tls_client_options_init(&etcd_tls);
  bool ok = argc % 2 == 1;
  for (int i = 1; ok && i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen") == 0) {
      listen = argv[i + 1];
    } else if (strcmp(argv[i], "--token-ttl-ms") == 0) {
      ok = parse_ms(argv[i + 1], &token_ttl_ms);
    } else if (strcmp(argv[i], "--manifest") == 0) {
      manifest = argv[i + 1];
    } else if (strcmp(argv[i], "--admin-key") == 0) {
      admin_key = argv[i + 1];
    } else if (strcmp(argv[i], "--redis") == 0) {
      redis.address = argv[i + 1];
    } else if (strcmp(argv[i], "--redis-outage") == 0) {
      ok = parse_outage(argv[i + 1], &redis.outage);
    } else if (strcmp(argv[i], "--etcd") == 0) {
      etcd.endpoints = argv[i + 1];
    } else if (strcmp(argv[i], "--etcd-prefix") == 0) {
      etcd.prefix = argv[i + 1];
    } else if (strcmp(argv[i], "--etcd-ca") == 0) {
      etcd_tls.root_ca.path = argv[i + 1];
      etcd.tls = &etcd_tls;
    } else if (strcmp(argv[i], "--etcd-cert") == 0) {
      etcd_tls.cert_chain.path = argv[i + 1];
      etcd.tls = &etcd_tls;
    } else if (strcmp(argv[i], "--etcd-key") == 0) {
      etcd_tls.private_key.path = argv[i + 1];
      etcd.tls = &etcd_tls;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    fprintf(stderr,
            "usage: urlshortener-host [--listen ADDRESS] [--token-ttl-ms MS] "
            "[--manifest FILE] [--admin-key KEY] [--redis ADDRESS] "
            "[--redis-outage local|deny] [--etcd ENDPOINTS] "
            "[--etcd-prefix PREFIX] [--etcd-ca FILE] [--etcd-cert FILE "
            "--etcd-key FILE]\n");
    return 2;
  }
  const char *secret = getenv("CPLUGIN_REPLICA_SECRET");
  if (etcd.endpoints != NULL &&
      (secret == NULL || strlen(secret) < CP_REPLICA_SECRET_MIN)) {
    fprintf(stderr,
            "urlshortener-host: --etcd needs the replicas' shared secret in "
            "CPLUGIN_REPLICA_SECRET (at least %d bytes)\n",
            CP_REPLICA_SECRET_MIN);
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  cp_log_configure_from_env();

  cp_host_options o;
  cp_host_options_init(&o);
  o.listen = listen;
  if (redis.address != NULL) {
    o.rate.redis = &redis;
  }
  if (etcd.endpoints != NULL) {
    etcd.secret = secret;
    etcd.secret_len = strlen(secret);
    o.etcd = &etcd;
  }
  /* Launched plugins serve on Unix sockets in a private directory, and a
   * manifest may name in-process plugins ("inproc:<name>"); a host of
   * self-registering plugins keeps the default policy (loopback and the
   * caller's own address only). */
  if (manifest != NULL) {
    o.registry.base_url_allow |= CP_BASE_URL_UNIX | CP_BASE_URL_INPROC;
  }
  if (token_ttl_ms > 0) {
    o.tokens.ttl_ms = token_ttl_ms;
    /* Expired identities are dropped within a lifetime, not a minute. */
    if (o.tokens.sweep_interval_ms > token_ttl_ms) {
      o.tokens.sweep_interval_ms = token_ttl_ms;
    }
  }
  cp_host *host = NULL;
  int port = 0;
  int metrics_port = 0;
  cp_admin *admin = NULL;
  int rc = cp_host_create(&host, &o);
  if (rc == 0 && admin_key != NULL && admin_key[0] != '\0') {
    rc = add_admin(host, admin_key, &admin);
  }
  if (rc == 0) {
    rc = cp_host_start(host, &port, &metrics_port);
  }
  if (rc != 0) {
    fprintf(stderr, "urlshortener-host: %s\n", cp_strerror(rc));
    cp_host_destroy(host);
    cp_admin_destroy(admin);
    return 1;
  }
  const char *colon = strrchr(listen, ':');
  char address[300];
  snprintf(address, sizeof address, "%.*s:%d",
           colon != NULL ? (int)(colon - listen) : 0, listen, port);
  cp_launcher *launcher = NULL;
  if (manifest != NULL && launch_plugins(host, manifest, address, &launcher)) {
    cp_launcher_destroy(launcher);
    cp_host_shutdown(host, 0);
    cp_host_destroy(host);
    cp_admin_destroy(admin);
    return 1;
  }
  cp_admin_set_launcher(admin, launcher);
  printf("LISTENING %s\nMETRICS %d\n", address, metrics_port);
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
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
