/* kv-plugin: serves kv.v1.KVService until SIGINT or SIGTERM.
 *
 *   kv-plugin [--listen ADDRESS] [--threads N] [--grace-ms MS] [--host URL]
 *
 * ADDRESS is "host:port" (default 127.0.0.1:0, a free port) or "unix:/path".
 * Once serving it prints one line, "LISTENING <address>", on stdout, with
 * the real port, so that a parent process knows where to connect.
 *
 * With --host, the plugin also joins that cplugin host (self_id "kv"),
 * asks it for the logger capability and logs every Put and Delete through
 * it, into the host's log (docs/capabilities.md); a host without the
 * logger capability is a start error. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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

/* Joins the host and points the store's logging at its logger
 * capability. */
static int join_host(const char *host, kv_store *store,
                     cp_plugin_runtime **rt) {
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.host_url = host;
  o.self_id = "kv";
  o.self_version = "1.0.0";
  cp_status st;
  int rc = cp_plugin_runtime_start(rt, &o, &st);
  cp_client *logger = NULL;
  if (rc == 0) {
    rc = cp_plugin_runtime_capability(*rt, "logger", "1.0.0", &logger, &st);
  }
  if (rc != 0) {
    fprintf(stderr, "kv-plugin: cannot use the host's logger at %s: %s: %s\n",
            host, cp_status_code_name(st.code), st.message);
    cp_plugin_runtime_destroy(*rt);
    *rt = NULL;
    return rc;
  }
  kv_store_set_logger(store, logger);
  return 0;
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
  /* Block the stop signals before any thread starts, so that every thread
   * inherits the mask and sigwait below is the one place they arrive. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  kv_store *store = kv_store_create(NULL);
  cp_server_options opts;
  cp_server_options_init(&opts);
  opts.threads = args.threads;
  cp_server *server = NULL;
  int rc = store == NULL ? CP_ENOMEM : cp_server_create(&server, &opts);
  cp_kv__v1__kvservice__handlers handlers;
  kv_store_handlers(&handlers);
  /* The plugin answers the handshake itself and announces "kv". */
  cp_plugin_info kv_info;
  cp_plugin_info_from_desc(&kv_info, &cp_kv__v1__kvservice__plugin);
  cp_handshake_service_options hs_opts;
  cp_handshake_service_options_init(&hs_opts);
  hs_opts.plugins = &kv_info;
  hs_opts.plugin_count = 1;
  cp_handshake_service *handshake = NULL;
  int port = 0;
  cp_plugin_runtime *rt = NULL;
  if (rc == 0 && args.host != NULL) {
    rc = join_host(args.host, store, &rt);
  }
  if (rc == 0) {
    rc = cp_handshake_service_create(&handshake, &hs_opts);
  }
  if (rc == 0) {
    rc = cp_handshake_service_register(handshake, server);
  }
  if (rc == 0) {
    rc = cp_kv__v1__kvservice__register(server, &handlers, store);
  }
  if (rc == 0) {
    rc = cp_server_listen(server, args.listen, &port);
  }
  if (rc == 0) {
    rc = cp_server_start(server);
  }
  if (rc != 0) {
    fprintf(stderr, "kv-plugin: cannot serve on %s: %s\n", args.listen,
            cp_strerror(rc));
    cp_server_destroy(server);
    cp_handshake_service_destroy(handshake);
    kv_store_set_logger(store, NULL);
    cp_plugin_runtime_destroy(rt);
    kv_store_destroy(store);
    return 1;
  }
  if (strncmp(args.listen, "unix", 4) == 0) {
    printf("LISTENING %s\n", args.listen);
  } else {
    /* Report the bound port with the requested host. */
    const char *colon = strrchr(args.listen, ':');
    int host_len = colon != NULL ? (int)(colon - args.listen) : 0;
    printf("LISTENING %.*s:%d\n", host_len, args.listen, port);
  }
  fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "kv-plugin: %s received, shutting down (grace %ld ms)\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM", args.grace_ms);
  cp_server_shutdown(server, args.grace_ms);
  cp_server_destroy(server);
  cp_handshake_service_destroy(handshake);
  /* The logger client belongs to the runtime. */
  kv_store_set_logger(store, NULL);
  cp_plugin_runtime_destroy(rt);
  kv_store_destroy(store);
  return 0;
}
