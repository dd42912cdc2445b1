/* The admin commands (admin_cli.h): one call to the host's admin service
 * (cplugin.admin.v1.Admin) with the API key in x-api-key, its answer on
 * stdout, its error status on stderr. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "cli.h"
#include "commands.h"
#include "cplugin/admin/v1/admin.cplugin.h"
#include "cplugin/cplugin.h"
#include "signals.h"

static void print_rpc_error(const char *what, int rc, const cp_status *st) {
  if (rc == CP_ERPC) {
    fprintf(stderr, "cpluginctl %s: %s: %s\n", what,
            cp_status_code_name(st->code), st->message);
  } else {
    fprintf(stderr, "cpluginctl %s: %s\n", what, cp_strerror(rc));
  }
}

static const char *state_name(Cplugin__Admin__V1__PluginState s) {
  switch (s) {
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_PENDING:
      return "PENDING";
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_STARTING:
      return "STARTING";
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_RUNNING:
      return "RUNNING";
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_BACKOFF:
      return "BACKOFF";
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_FAILED:
      return "FAILED";
    case CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_STOPPED:
      return "STOPPED";
    default:
      return "UNSPECIFIED";
  }
}

static const char *health_name(Cplugin__Admin__V1__Health h) {
  switch (h) {
    case CPLUGIN__ADMIN__V1__HEALTH__HEALTH_HEALTHY:
      return "HEALTHY";
    case CPLUGIN__ADMIN__V1__HEALTH__HEALTH_DEGRADED:
      return "DEGRADED";
    case CPLUGIN__ADMIN__V1__HEALTH__HEALTH_UNHEALTHY:
      return "UNHEALTHY";
    default:
      return "UNKNOWN";
  }
}

static const char *service_state_name(Connectplugin__V1__ServiceState s) {
  switch (s) {
    case CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE:
      return "AVAILABLE";
    case CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE:
      return "UNAVAILABLE";
    case CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_DEGRADED:
      return "DEGRADED";
    default:
      return "UNSPECIFIED";
  }
}

/* "-" for an empty column, so that every row splits into its columns. */
static const char *col(const char *s) {
  return s != NULL && s[0] != '\0' ? s : "-";
}

static int run_status(cp_client *c, const cp_call_options *o) {
  Cplugin__Admin__V1__StatusRequest req =
      CPLUGIN__ADMIN__V1__STATUS_REQUEST__INIT;
  Cplugin__Admin__V1__StatusResponse *resp = NULL;
  cp_status st;
  cp_status_clear(&st);
  int rc = cp_cplugin__admin__v1__admin__status__call(c, &req, &resp, o, &st);
  if (rc != 0) {
    print_rpc_error("status", rc, &st);
    return CTL_EXIT_FAILED;
  }
  if (resp->host != NULL) {
    printf("host %s, up %" PRIu64 ".%03" PRIu64 " s\n",
           col(resp->host->version), resp->host->uptime_ms / 1000,
           resp->host->uptime_ms % 1000);
  }
  printf("%-16s %-9s %-8s %-8s %-9s %-32s %s\n", "NAME", "STATE", "PID",
         "RESTARTS", "HEALTH", "RUNTIME_ID", "REASON");
  for (size_t i = 0; i < resp->n_plugins; i++) {
    const Cplugin__Admin__V1__PluginStatus *p = resp->plugins[i];
    printf("%-16s %-9s %-8" PRId32 " %-8" PRIu32 " %-9s %-32s %s\n",
           col(p->name), state_name(p->state), p->pid, p->restarts,
           health_name(p->health), col(p->runtime_id), col(p->reason));
  }
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return CTL_EXIT_OK;
}

/* The entry file of plugins add, at most 64 KiB (the host's request cap):
 * a NUL-terminated copy to free, or NULL with the reason printed. */
static char *read_entry(const char *path) {
  enum { ENTRY_MAX = 64 * 1024 };
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cpluginctl: --entry %s: %s\n", path, strerror(errno));
    return NULL;
  }
  char *text = malloc(ENTRY_MAX + 1);
  size_t n = text != NULL ? fread(text, 1, ENTRY_MAX + 1, f) : 0;
  bool failed = text == NULL || ferror(f) != 0;
  fclose(f);
  if (failed || n > ENTRY_MAX) {
    fprintf(stderr, "cpluginctl: --entry %s: %s\n", path,
            failed ? "cannot read it" : "larger than 64 KiB");
    free(text);
    return NULL;
  }
  text[n] = '\0';
  return text;
}

static int run_add(cp_client *c, const cp_call_options *o,
                   const ctl_admin_args *a) {
  char *entry = read_entry(a->entry);
  if (entry == NULL) {
    return CTL_EXIT_FAILED;
  }
  Cplugin__Admin__V1__AddPluginRequest req =
      CPLUGIN__ADMIN__V1__ADD_PLUGIN_REQUEST__INIT;
  req.name = (char *)a->name;
  req.entry = entry;
  Cplugin__Admin__V1__AddPluginResponse *resp = NULL;
  cp_status st;
  cp_status_clear(&st);
  int rc =
      cp_cplugin__admin__v1__admin__add_plugin__call(c, &req, &resp, o, &st);
  free(entry);
  if (rc != 0) {
    print_rpc_error("plugins add", rc, &st);
    return CTL_EXIT_FAILED;
  }
  const Cplugin__Admin__V1__PluginStatus *p = resp->plugin;
  printf("plugins add %s: ok (%s, pid %d, %s)\n", a->name,
         p != NULL ? col(p->runtime_id) : "-", p != NULL ? (int)p->pid : 0,
         p != NULL ? col(p->endpoint) : "-");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return CTL_EXIT_OK;
}

static int run_change(cp_client *c, const cp_call_options *o,
                      const ctl_admin_args *a) {
  if (a->cmd == CTL_ADMIN_PLUGIN_ADD && a->entry != NULL) {
    return run_add(c, o, a);
  }
  cp_status st;
  cp_status_clear(&st);
  int rc;
  ProtobufCMessage *resp = NULL;
  const char *what;
  switch (a->cmd) {
    case CTL_ADMIN_PLUGIN_REMOVE: {
      what = "plugins remove";
      Cplugin__Admin__V1__RemovePluginRequest req =
          CPLUGIN__ADMIN__V1__REMOVE_PLUGIN_REQUEST__INIT;
      req.name = (char *)a->name;
      rc = cp_cplugin__admin__v1__admin__remove_plugin__call(
          c, &req, (Cplugin__Admin__V1__RemovePluginResponse **)&resp, o, &st);
      break;
    }
    case CTL_ADMIN_PLUGIN_RESTART: {
      what = "plugins restart";
      Cplugin__Admin__V1__RestartPluginRequest req =
          CPLUGIN__ADMIN__V1__RESTART_PLUGIN_REQUEST__INIT;
      req.name = (char *)a->name;
      rc = cp_cplugin__admin__v1__admin__restart_plugin__call(
          c, &req, (Cplugin__Admin__V1__RestartPluginResponse **)&resp, o, &st);
      break;
    }
    default: {
      /* add is a replace: the launcher starts a removed plugin again. */
      what = a->cmd == CTL_ADMIN_PLUGIN_ADD ? "plugins add" : "plugins replace";
      Cplugin__Admin__V1__ReplacePluginRequest req =
          CPLUGIN__ADMIN__V1__REPLACE_PLUGIN_REQUEST__INIT;
      req.name = (char *)a->name;
      req.path = a->path != NULL ? (char *)a->path : "";
      rc = cp_cplugin__admin__v1__admin__replace_plugin__call(
          c, &req, (Cplugin__Admin__V1__ReplacePluginResponse **)&resp, o, &st);
      break;
    }
  }
  if (rc != 0) {
    print_rpc_error(what, rc, &st);
    return CTL_EXIT_FAILED;
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  printf("%s %s: ok\n", what, a->name);
  return CTL_EXIT_OK;
}

static int run_registry_list(cp_client *c, const cp_call_options *o,
                             const ctl_admin_args *a) {
  Cplugin__Admin__V1__ListRegistryRequest req =
      CPLUGIN__ADMIN__V1__LIST_REGISTRY_REQUEST__INIT;
  req.service_type = a->type != NULL ? (char *)a->type : "";
  Cplugin__Admin__V1__ListRegistryResponse *resp = NULL;
  cp_status st;
  cp_status_clear(&st);
  int rc =
      cp_cplugin__admin__v1__admin__list_registry__call(c, &req, &resp, o, &st);
  if (rc != 0) {
    print_rpc_error("registry list", rc, &st);
    return CTL_EXIT_FAILED;
  }
  printf("%-16s %-10s %-32s %-9s %-8s %-24s %s\n", "TYPE", "VERSION",
         "PROVIDER", "HEALTH", "ROUTABLE", "ENDPOINT_PATH", "BASE_URL");
  for (size_t i = 0; i < resp->n_registrations; i++) {
    const Cplugin__Admin__V1__Registration *r = resp->registrations[i];
    printf("%-16s %-10s %-32s %-9s %-8s %-24s %s\n", col(r->service_type),
           col(r->version), col(r->provider_id), health_name(r->health),
           r->routable ? "yes" : "no", col(r->endpoint_path), col(r->base_url));
  }
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return CTL_EXIT_OK;
}

static int run_limits(cp_client *c, const cp_call_options *o) {
  Cplugin__Admin__V1__ListRateLimitsRequest req =
      CPLUGIN__ADMIN__V1__LIST_RATE_LIMITS_REQUEST__INIT;
  Cplugin__Admin__V1__ListRateLimitsResponse *resp = NULL;
  cp_status st;
  cp_status_clear(&st);
  int rc = cp_cplugin__admin__v1__admin__list_rate_limits__call(c, &req, &resp,
                                                                o, &st);
  if (rc != 0) {
    print_rpc_error("limits", rc, &st);
    return CTL_EXIT_FAILED;
  }
  printf("rate limits: %s; buckets per %s, in %s\n",
         resp->enabled ? "on" : "OFF (every call passes)", col(resp->keyed_by),
         col(resp->store));
  printf("%-56s %-8s %8s %8s %10s\n", "PATH", "KIND", "RATE/S", "BURST",
         "DENIALS");
  for (size_t i = 0; i < resp->n_rules; i++) {
    const Cplugin__Admin__V1__RateLimitRule *r = resp->rules[i];
    const char *kind = r->exempt                   ? "exempt"
                       : strcmp(r->path, "*") == 0 ? "default"
                       : r->prefix                 ? "service"
                                                   : "method";
    if (r->exempt) {
      printf("%-56s %-8s %8s %8s %10" PRIu64 "\n", col(r->path), kind, "-", "-",
             r->denials);
    } else {
      printf("%-56s %-8s %8" PRIu32 " %8" PRIu32 " %10" PRIu64 "\n",
             col(r->path), kind, r->rate_per_second, r->burst, r->denials);
    }
  }
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return CTL_EXIT_OK;
}

/* Ctrl-C (or SIGTERM) during a watch cancels its stream; the main thread
 * then sees the stream end. The waiter looks for a stop request in slices
 * (sigtimedwait), so that it also notices when the stream ended on its own
 * and the main thread no longer needs it. */
typedef struct watch_stop {
  cp_client_stream *stream;
  atomic_bool done;        /* set by the main thread */
  atomic_bool interrupted; /* set by the waiter */
} watch_stop;

#define WATCH_STOP_SLICE_NS (100 * INT64_C(1000000))

static void *watch_signals(void *arg) {
  watch_stop *w = arg;
  while (!atomic_load(&w->done)) {
    if (ctl_stop_wait(WATCH_STOP_SLICE_NS)) {
      atomic_store(&w->interrupted, true);
      cp_client_stream_cancel(w->stream);
      break;
    }
  }
  return NULL;
}

static int run_watch(cp_client *c, const cp_call_options *o,
                     const ctl_admin_args *a) {
  Cplugin__Admin__V1__WatchRequest req =
      CPLUGIN__ADMIN__V1__WATCH_REQUEST__INIT;
  req.service_type = (char *)a->type;
  cp_status st;
  cp_status_clear(&st);
  watch_stop w = {.stream = NULL};
  int rc =
      cp_cplugin__admin__v1__admin__watch__start(c, &req, o, &w.stream, &st);
  if (rc != 0) {
    print_rpc_error("watch", rc, &st);
    return CTL_EXIT_FAILED;
  }
  pthread_t waiter;
  bool have_waiter = pthread_create(&waiter, NULL, watch_signals, &w) == 0;
  uint64_t seen = 0;
  Connectplugin__V1__WatchServiceEvent *ev = NULL;
  while ((rc = cp_cplugin__admin__v1__admin__watch__next(w.stream, &ev, &st)) ==
         0) {
    const Connectplugin__V1__ServiceEndpoint *ep = ev->endpoint;
    printf("EVENT %s %s %s %s\n", col(ev->service_type),
           service_state_name(ev->state),
           col(ep != NULL ? ep->provider_id : NULL),
           col(ep != NULL ? ep->endpoint_url : NULL));
    fflush(stdout);
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    if (a->count != 0 && ++seen >= a->count) {
      break;
    }
  }
  atomic_store(&w.done, true);
  if (have_waiter) {
    pthread_join(waiter, NULL);
  }
  cp_client_stream_destroy(w.stream);
  if (rc == 0 || atomic_load(&w.interrupted)) {
    return CTL_EXIT_OK; /* --count reached, or stopped by the operator */
  }
  if (rc == CP_EEND && st.code == CP_STATUS_OK) {
    return CTL_EXIT_OK;
  }
  print_rpc_error("watch", rc == CP_EEND ? CP_ERPC : rc, &st);
  return CTL_EXIT_FAILED;
}

int ctl_cmd_admin(int argc, char **argv) {
  ctl_admin_args a;
  char err[256];
  int p = ctl_parse_admin(argc, argv, getenv("CPLUGIN_ADMIN_KEY"), &a, err,
                          sizeof err);
  if (p != CTL_PARSE_OK) {
    if (p == CTL_PARSE_HELP) {
      fputs(ctl_admin_usage(argv[0]), stdout);
      return CTL_EXIT_OK;
    }
    fprintf(stderr, "cpluginctl %s: %s\n%s", argv[0], err,
            ctl_admin_usage(argv[0]));
    return CTL_EXIT_USAGE;
  }
  cp_client *c = NULL;
  int rc = cp_client_create(&c, a.host, NULL);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl %s: %s: %s\n", argv[0], a.host,
            cp_strerror(rc));
    return CTL_EXIT_FAILED;
  }
  const cp_metadata md[] = {{CP_MD_API_KEY, a.api_key}};
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = a.timeout_ms;
  o.metadata = md;
  o.metadata_count = 1;
  int exit_code;
  switch (a.cmd) {
    case CTL_ADMIN_STATUS:
      exit_code = run_status(c, &o);
      break;
    case CTL_ADMIN_REGISTRY_LIST:
      exit_code = run_registry_list(c, &o, &a);
      break;
    case CTL_ADMIN_WATCH:
      exit_code = run_watch(c, &o, &a);
      break;
    case CTL_ADMIN_LIMITS:
      exit_code = run_limits(c, &o);
      break;
    default:
      exit_code = run_change(c, &o, &a);
      break;
  }
  cp_client_destroy(c);
  return exit_code;
}
