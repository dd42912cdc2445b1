/* health-host: a cplugin server with a cp_health, for probes the project
 * did not write (Python grpcio's grpc.health.v1 client). Prints
 * "LISTENING <address>", then reads commands from stdin, one per line:
 *   set <service> SERVING|NOT_SERVING     (prints "OK" or "ERR <code>")
 *   shutdown                              (cp_health_shutdown, prints "OK")
 * and exits at end of input. */
#include <stdio.h>
#include <string.h>

#include "cplugin/cplugin.h"

static void run_commands(cp_health *h) {
  char line[512];
  while (fgets(line, sizeof line, stdin) != NULL) {
    char service[300] = "";
    char status[32] = "";
    int rc = CP_EINVAL;
    if (strncmp(line, "shutdown", 8) == 0) {
      cp_health_shutdown(h);
      rc = 0;
    } else if (sscanf(line, "set %299s %31s", service, status) == 2) {
      if (strcmp(service, "-") == 0) {
        service[0] = '\0'; /* "-" names the whole server */
      }
      rc = cp_health_set(h, service,
                         strcmp(status, "SERVING") == 0
                             ? CP_SERVING_STATUS_SERVING
                             : CP_SERVING_STATUS_NOT_SERVING);
    }
    if (rc == 0) {
      printf("OK\n");
    } else {
      printf("ERR %s\n", cp_err_name(rc));
    }
    fflush(stdout);
  }
}

int main(int argc, char **argv) {
  const char *listen = argc > 1 ? argv[1] : "127.0.0.1:0";
  cp_health *h = NULL;
  cp_server *server = NULL;
  int port = 0;
  int rc = cp_health_create(&h, NULL);
  if (rc == 0) {
    rc = cp_server_create(&server, NULL);
  }
  if (rc == 0) {
    rc = cp_health_register(h, server);
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
    run_commands(h);
    cp_server_shutdown(server, 1000);
  } else {
    fprintf(stderr, "health-host: %s\n", cp_strerror(rc));
  }
  cp_server_destroy(server);
  cp_health_destroy(h);
  return rc == 0 ? 0 : 1;
}
