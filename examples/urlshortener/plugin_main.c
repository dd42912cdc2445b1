/* The common life of the URL-shortener plugins. */
#include "plugin_main.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int plugin_main(const plugin_spec *spec) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  cp_log_configure_from_env();

  cp_server *server = NULL;
  int port = 0;
  int rc = cp_server_create(&server, NULL);
  if (rc == 0) {
    rc = spec->register_handlers(server, spec->user);
  }
  if (rc == 0) {
    rc = cp_server_listen(server, "127.0.0.1:0", &port);
  }
  if (rc == 0) {
    rc = cp_server_start(server);
  }
  if (rc != 0) {
    fprintf(stderr, "%s: cannot serve: %s\n", spec->self_id, cp_strerror(rc));
    cp_server_destroy(server);
    return 1;
  }
  char base_url[64];
  snprintf(base_url, sizeof base_url, "127.0.0.1:%d", port);
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.self_id = spec->self_id;
  o.self_version = "1.0.0";
  o.base_url = base_url;
  o.provides = spec->provides;
  o.provides_count = spec->provides_count;
  o.requires = spec->requires;
  o.requires_count = spec->requires_count;
  cp_plugin_runtime *rt = NULL;
  cp_status st;
  rc = cp_plugin_runtime_start(&rt, &o, &st);
  if (rc != 0) {
    fprintf(stderr, "%s: cannot join the host: %s: %s\n", spec->self_id,
            cp_status_code_name(st.code), st.message);
    cp_server_shutdown(server, 0);
    cp_server_destroy(server);
    return 1;
  }
  if (spec->on_started != NULL) {
    spec->on_started(rt, spec->user);
  }
  /* Launched by a host, the library already announced where it serves
   * (its handshake line); base_url above is not that address. */
  if (getenv(CP_LAUNCH_LISTEN_ENV) == NULL) {
    printf("LISTENING %s\n", base_url);
    fflush(stdout);
  }
  int sig = 0;
  sigwait(&stop, &sig);
  /* Drain first: handlers that deferred their replies finish them from the
   * runtime's clients, which must outlive the calls in flight. */
  cp_server_shutdown(server, 2000);
  cp_plugin_runtime_destroy(rt);
  cp_server_destroy(server);
  return 0;
}
