/* kv-plugin: serves kv.v1.KVService until SIGINT or SIGTERM.
 *
 *   kv-plugin [--listen ADDRESS] [--threads N] [--grace-ms MS] [--host URL]
 *
 * ADDRESS is "host:port" (default 127.0.0.1:0, a free port) or "unix:/path".
 * Once serving it prints one line, "LISTENING <address>", on stdout, with
 * the real port, so that a parent process knows where to connect.
 *
 * With --host, the plugin also joins that cplugin host (self_id "kv"),
 * registers "kv" there (waiting for a host that is not up yet), asks it for
 * the logger capability and logs every Put and Delete through
 * it, into the host's log (docs/capabilities.md); a host without the
 * logger capability is a start error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "kv_store.h"

typedef struct plugin_args {
  const char *listen;
  unsigned threads;
  long grace_ms;
  const char *host; /* NULL: no host, no logger */
} plugin_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: kv-plugin [--listen ADDRESS] [--threads N] [--grace-ms MS]\n"
          "                 [--host URL]\n");
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

static int setup(cp_server *server, void *user) {
  cp_kv__v1__kvservice__handlers handlers;
  kv_store_handlers(&handlers);
  return cp_kv__v1__kvservice__register(server, &handlers, user);
}

/* Joined to a host: point the store's logging at its logger capability. */
static int on_started(cp_plugin_runtime *rt, void *user) {
  if (rt == NULL) {
    return 0;
  }
  cp_client *logger = NULL;
  cp_status st;
  int rc = cp_plugin_runtime_capability(rt, "logger", "1.0.0", &logger, &st);
  if (rc != 0) {
    fprintf(stderr, "kv-plugin: cannot use the host's logger: %s: %s\n",
            cp_status_code_name(st.code), st.message);
    return rc;
  }
  kv_store_set_logger(user, logger);
  return 0;
}

/* The logger client belongs to the runtime, which goes next. */
static void on_stopping(void *user) {
  kv_store_set_logger(user, NULL);
}

static int parse_args(int argc, char **argv, plugin_args *a) {
  a->listen = "127.0.0.1:0";
  a->threads = 0;
  a->grace_ms = 5000;
  a->host = NULL;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    long n = 0;
    if (strcmp(arg, "--listen") == 0 && val != NULL) {
      a->listen = val;
    } else if (strcmp(arg, "--threads") == 0 && val != NULL &&
               parse_long(val, 1, 64, &n) == 0) {
      a->threads = (unsigned)n;
    } else if (strcmp(arg, "--host") == 0 && val != NULL) {
      a->host = val;
    } else if (strcmp(arg, "--grace-ms") == 0 && val != NULL &&
               parse_long(val, 0, 600000, &n) == 0) {
      a->grace_ms = n;
    } else {
      return -1;
    }
    i++;
  }
  return 0;
}

int main(int argc, char **argv) {
  plugin_args args;
  if (argc == 2 && strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  if (parse_args(argc, argv, &args) != 0) {
    usage(stderr);
    return 2;
  }
  kv_store *store = kv_store_create(NULL);
  if (store == NULL) {
    fprintf(stderr, "kv-plugin: out of memory\n");
    return 1;
  }
  cp_server_options server_options;
  cp_server_options_init(&server_options);
  server_options.threads = args.threads;
  static const cp_plugin_desc *const provides[] = {
      &cp_kv__v1__kvservice__plugin};
  cp_plugin_serve_options o;
  cp_plugin_serve_options_init(&o);
  o.self_id = "kv";
  o.provides = provides;
  o.provides_count = 1;
  o.setup = setup;
  o.on_started = on_started;
  o.on_stopping = on_stopping;
  o.user = store;
  o.listen = args.listen;
  o.host_url = args.host != NULL ? args.host : ""; /* "": no host */
  o.server_options = &server_options;
  o.grace_ms = args.grace_ms;
  o.print_address = true;
  int rc = cp_plugin_serve(&o);
  kv_store_destroy(store);
  return rc == 0 ? 0 : 1;
}
