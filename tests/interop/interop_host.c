/* interop-host: a small cplugin host for tests with clients the project did
 * not write (Python grpcio). It serves the handshake (issuing runtime
 * identities) and EchoService behind runtime-token authentication, prints
 * "LISTENING <address>" and serves until SIGTERM or SIGINT. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"

int main(int argc, char **argv) {
  const char *listen = argc > 1 ? argv[1] : "127.0.0.1:0";
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  echo_stats *stats = echo_stats_create();
  cp_token_store *tokens = NULL;
  cp_auth *auth = NULL;
  cp_handshake_service *hs = NULL;
  cp_server *server = NULL;
  cp_plugin_info echo;
  cp_plugin_info_from_desc(&echo, &cp_cplugintest__v1__echo_service__plugin);
  cp_handshake_service_options ho;
  cp_handshake_service_options_init(&ho);
  ho.plugins = &echo;
  ho.plugin_count = 1;
  int port = 0;
  int rc = stats == NULL ? CP_ENOMEM : cp_token_store_create(&tokens, NULL);
  if (rc == 0) {
    ho.tokens = tokens;
    rc = cp_handshake_service_create(&hs, &ho);
  }
  if (rc == 0) {
    rc = cp_auth_create(&auth);
  }
  if (rc == 0) {
    rc = cp_auth_add_runtime_tokens(auth, tokens);
  }
  if (rc == 0) {
    rc = cp_auth_open_host_methods(auth);
  }
  if (rc == 0) {
    rc = cp_server_create(&server, NULL);
  }
  if (rc == 0) {
    rc = cp_auth_register(auth, server);
  }
  if (rc == 0) {
    rc = cp_handshake_service_register(hs, server);
  }
  if (rc == 0) {
    rc = echo_service_register(server, stats);
  }
  if (rc == 0) {
    rc = cp_server_listen(server, listen, &port);
  }
  if (rc == 0) {
    rc = cp_server_start(server);
  }
  if (rc == 0) {
    printf("LISTENING 127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    cp_server_shutdown(server, 2000);
  } else {
    fprintf(stderr, "interop-host: %s\n", cp_strerror(rc));
  }
  cp_server_destroy(server);
  cp_handshake_service_destroy(hs);
  cp_auth_destroy(auth);
  cp_token_store_destroy(tokens);
  echo_stats_destroy(stats);
  return rc == 0 ? 0 : 1;
}
