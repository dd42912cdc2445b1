/* urlshortener-host: a cplugin host (handshake, auth, rate limits, registry,
 * lifecycle, health, router, metrics) for the URL-shortener demo.
 *
 *   urlshortener-host [--listen ADDRESS] [--token-ttl-ms MS]
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

int main(int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  int64_t token_ttl_ms = 0;
  bool ok = argc % 2 == 1;
  for (int i = 1; ok && i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen") == 0) {
      listen = argv[i + 1];
    } else if (strcmp(argv[i], "--token-ttl-ms") == 0) {
      ok = parse_ms(argv[i + 1], &token_ttl_ms);
    } else {
      ok = false;
    }
  }
  if (!ok) {
    fprintf(
        stderr,
        "usage: urlshortener-host [--listen ADDRESS] [--token-ttl-ms MS]\n");
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
  int rc = cp_host_create(&host, &o);
  if (rc == 0) {
    rc = cp_host_start(host, &port, &metrics_port);
  }
  if (rc != 0) {
    fprintf(stderr, "urlshortener-host: %s\n", cp_strerror(rc));
    cp_host_destroy(host);
    return 1;
  }
  const char *colon = strrchr(listen, ':');
  printf("LISTENING %.*s:%d\nMETRICS %d\n",
         colon != NULL ? (int)(colon - listen) : 0, listen, port, metrics_port);
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  cp_host_shutdown(host, 3000);
  cp_host_destroy(host);
  return 0;
}
