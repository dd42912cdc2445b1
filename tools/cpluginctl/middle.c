/* `cpluginctl middle`: the middle plugin of the fanout preset. A
 * self-registering plugin (cp_plugin_runtime) serving LoadService as type T
 * on a server of its own (2 completion-queue threads by default) whose
 * Echo makes one Echo call routed by the host to a provider of another type
 * (middle_echo.h for the three styles).
 *
 * stdout contract (`cpluginctl load` parses it): "LISTENING <port>" once it
 * serves, "REGISTERED" once the host accepted the registration; after
 * SIGINT/SIGTERM "SERVED ok=<n>". */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "cplugin/cplugin.h"
#include "echo_handler.h"
#include "middle_echo.h"
#include "signals.h"

enum { SHUTDOWN_GRACE_MS = 2000 };

static int serve(const ctl_middle_args *a, ctl_middle_echo *echo,
                 cp_server **server, int *port) {
  cp_server_options so;
  cp_server_options_init(&so);
  so.threads = a->threads;
  int rc = cp_server_create(server, &so);
  if (rc == 0) {
    rc = ctl_middle_echo_register(*server, echo, a->pool_threads);
  }
  if (rc == 0) {
    rc = cp_server_listen(*server, a->listen, port);
  }
  if (rc == 0) {
    rc = cp_server_start(*server);
  }
  return rc;
}

/* "127.0.0.1:0" with the bound port -> "127.0.0.1:40123". */
static void base_url(const char *listen, int port, char *out, size_t cap) {
  if (strncmp(listen, "unix:", 5) == 0) {
    snprintf(out, cap, "%s", listen);
    return;
  }
  const char *colon = strrchr(listen, ':');
  snprintf(out, cap, "%.*s:%d", (int)(colon - listen), listen, port);
}

static int join_host(const ctl_middle_args *a, const char *url,
                     cp_plugin_runtime **rt, cp_client **downstream) {
  const cp_service_decl provides[] = {
      {a->type, "1.0.0", CTL_LOAD_SERVICE_PATH}};
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.host_url = a->host;
  o.self_id = a->id;
  o.self_version = "1.0.0";
  o.base_url = url;
  o.provides = provides;
  o.provides_count = 1;
  cp_status st;
  cp_status_clear(&st);
  int rc = cp_plugin_runtime_start(rt, &o, &st);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl middle: cannot register with %s: %s%s%s\n",
            a->host,
            rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
            rc == CP_ERPC ? ": " : "", rc == CP_ERPC ? st.message : "");
    return rc;
  }
  rc = cp_plugin_runtime_route(*rt, a->calls, downstream);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl middle: no route to \"%s\": %s\n", a->calls,
            cp_strerror(rc));
  }
  return rc;
}

int ctl_cmd_middle(int argc, char **argv) {
  ctl_middle_args a;
  char err[256];
  int p = ctl_parse_middle(argc, argv, &a, err, sizeof err);
  if (p != CTL_PARSE_OK) {
    return ctl_usage_exit("middle", p, err);
  }

  ctl_middle_echo *echo = ctl_middle_echo_create(a.style);
  cp_server *server = NULL;
  int port = 0;
  int rc = echo == NULL ? CP_ENOMEM : serve(&a, echo, &server, &port);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl middle: cannot serve on %s: %s\n", a.listen,
            cp_strerror(rc));
    cp_server_destroy(server);
    ctl_middle_echo_destroy(echo);
    return CTL_EXIT_FAILED;
  }
  if (strncmp(a.listen, "unix:", 5) == 0) {
    printf("LISTENING %s\n", a.listen);
  } else {
    printf("LISTENING %d\n", port);
  }
  fflush(stdout);

  char url[512];
  base_url(a.listen, port, url, sizeof url);
  cp_plugin_runtime *rt = NULL;
  cp_client *downstream = NULL;
  rc = join_host(&a, url, &rt, &downstream);
  if (rc == 0) {
    ctl_middle_echo_set_downstream(echo, downstream);
    printf("REGISTERED\n");
    fflush(stdout);
    ctl_stop_wait_forever();
  }
  /* The server first: its handlers (pool threads, deferred replies) use the
   * routed client, which the runtime owns and closes at stop. Downstream
   * calls still in flight end within the provider's delay. */
  cp_server_shutdown(server, SHUTDOWN_GRACE_MS);
  cp_plugin_runtime_destroy(rt);
  cp_server_destroy(server);
  if (rc != 0) {
    ctl_middle_echo_destroy(echo);
    return CTL_EXIT_FAILED;
  }
  printf("SERVED ok=%llu\n", (unsigned long long)ctl_middle_echo_ok(echo));
  fflush(stdout);
  ctl_middle_echo_destroy(echo);
  return CTL_EXIT_OK;
}
