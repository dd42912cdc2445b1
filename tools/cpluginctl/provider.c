/* `cpluginctl provider`: a self-registering plugin (cp_plugin_runtime) that
 * serves LoadService on its own loopback listener and registers it with the
 * host under a service type, so the host's router forwards Echo calls that
 * carry `x-cplugin-service-type: <type>` to it. With --delay-ms it answers
 * each call that long after it arrived (delayed_echo.h).
 *
 * stdout contract (`cpluginctl load` parses it): "LISTENING <port>" once it
 * serves, "REGISTERED" once the host accepted the registration; after
 * SIGINT/SIGTERM (unregister, shut down) "SERVED ok=<n>". */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "cplugin/cplugin.h"
#include "delayed_echo.h"
#include "echo_handler.h"
#include "signals.h"

enum { SHUTDOWN_GRACE_MS = 2000 };

/* The address the host should forward to: the listen address with the
 * bound port ("127.0.0.1:0" -> "127.0.0.1:40123"). */
static void base_url(const char *listen, int port, char *out, size_t cap) {
  if (strncmp(listen, "unix:", 5) == 0) {
    snprintf(out, cap, "%s", listen);
    return;
  }
  const char *colon = strrchr(listen, ':');
  int host_len = (int)(colon - listen); /* cli.c checked there is one */
  snprintf(out, cap, "%.*s:%d", host_len, listen, port);
}

/* The Echo it serves: at once (counter) or after the delay (delayed). */
typedef struct echo_impl {
  ctl_echo_counter *counter;
  ctl_delayed_echo *delayed;
} echo_impl;

static int echo_create(const ctl_provider_args *a, echo_impl *e) {
  if (a->delay_ms > 0) {
    return ctl_delayed_echo_create(&e->delayed, a->delay_ms);
  }
  e->counter = ctl_echo_counter_create();
  return e->counter == NULL ? CP_ENOMEM : 0;
}

static uint64_t echo_ok(const echo_impl *e) {
  return e->delayed != NULL ? ctl_delayed_echo_ok(e->delayed)
                            : ctl_echo_ok(e->counter);
}

static void echo_destroy(echo_impl *e) {
  ctl_delayed_echo_destroy(e->delayed);
  ctl_echo_counter_destroy(e->counter);
}

static int serve(const ctl_provider_args *a, echo_impl *echo,
                 cp_server **server, int *port) {
  cp_server_options so;
  cp_server_options_init(&so);
  so.threads = a->threads;
  int rc = cp_server_create(server, &so);
  if (rc == 0) {
    rc = echo->delayed != NULL
             ? ctl_delayed_echo_register(*server, echo->delayed)
             : ctl_echo_register(*server, echo->counter);
  }
  if (rc == 0) {
    rc = cp_server_listen(*server, a->listen, port);
  }
  if (rc == 0) {
    rc = cp_server_start(*server);
  }
  return rc;
}

/* The delayed replies still queued are answered after the grace period
 * (shutdown does not wait for them) and before destroy (which needs them
 * answered). */
static void stop_server(cp_server *server, echo_impl *echo) {
  if (server != NULL) {
    cp_server_shutdown(server, SHUTDOWN_GRACE_MS);
  }
  ctl_delayed_echo_stop(echo->delayed);
  cp_server_destroy(server);
}

int ctl_cmd_provider(int argc, char **argv) {
  ctl_provider_args a;
  char err[256];
  int p = ctl_parse_provider(argc, argv, &a, err, sizeof err);
  if (p != CTL_PARSE_OK) {
    return ctl_usage_exit("provider", p, err);
  }

  echo_impl echo = {NULL, NULL};
  cp_server *server = NULL;
  int port = 0;
  int rc = echo_create(&a, &echo);
  if (rc == 0) {
    rc = serve(&a, &echo, &server, &port);
  }
  if (rc != 0) {
    fprintf(stderr, "cpluginctl provider: cannot serve on %s: %s\n", a.listen,
            cp_strerror(rc));
    stop_server(server, &echo);
    echo_destroy(&echo);
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
  const cp_service_decl provides[] = {{a.type, "1.0.0", CTL_LOAD_SERVICE_PATH}};
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.host_url = a.host;
  o.self_id = a.id;
  o.self_version = "1.0.0";
  o.base_url = url;
  o.provides = provides;
  o.provides_count = 1;
  cp_plugin_runtime *rt = NULL;
  cp_status st;
  cp_status_clear(&st);
  rc = cp_plugin_runtime_start(&rt, &o, &st);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl provider: cannot register with %s: %s%s%s\n",
            a.host,
            rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
            rc == CP_ERPC ? ": " : "", rc == CP_ERPC ? st.message : "");
    stop_server(server, &echo);
    echo_destroy(&echo);
    return CTL_EXIT_FAILED;
  }
  printf("REGISTERED\n");
  fflush(stdout);

  ctl_stop_wait_forever();
  cp_plugin_runtime_destroy(rt);
  stop_server(server, &echo);
  printf("SERVED ok=%llu\n", (unsigned long long)echo_ok(&echo));
  fflush(stdout);
  echo_destroy(&echo);
  return CTL_EXIT_OK;
}
