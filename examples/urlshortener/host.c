/* urlshortener-host: a cplugin host (handshake, auth, rate limits, registry,
 * lifecycle, health, router, metrics) for the URL-shortener demo.
 *
 *   urlshortener-host [--listen ADDRESS]
 *
 * Prints "LISTENING <address>" and "METRICS <port>" on stdout once serving,
 * logs to stderr (CPLUGIN_LOG_FORMAT=json for JSON lines), and stops
 * cleanly on SIGINT or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/cplugin.h"

int main(int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  if (argc == 3 && strcmp(argv[1], "--listen") == 0) {
    listen = argv[2];
  } else if (argc != 1) {
    fprintf(stderr, "usage: urlshortener-host [--listen ADDRESS]\n");
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
