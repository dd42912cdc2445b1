/* Self-registering plugins: handshake, register, watch, report health. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_client.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/router.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "plugin/v1/registry.cplugin.h"
#include "router/route_parse.h"

enum {
  MAX_PROVIDES = 32,
  MAX_REQUIRES = 32,
  MAX_ROUTES = 32,
  CALL_TIMEOUT_MS = 10000,
  REGISTRATION_ID_MAX = 64
};

typedef struct dependency {
  cp_plugin_runtime *rt;
  const char *type;
  bool required;
  bool available;
  char provider_id[160];
  cp_client_stream *watch;
  pthread_t thread;
  bool thread_started;
} dependency;

typedef struct route {
  const char *type;
  const char *runtime_id;
  const char *bearer; /* "Bearer <token>" */
  cp_client *client;
} route;

struct cp_plugin_runtime {
  cp_arena mem;
  cp_plugin_runtime_options opts;
  const char *host;
  cp_plugin_client *pc;
  char registrations[MAX_PROVIDES][REGISTRATION_ID_MAX];
  size_t registration_count;
  dependency deps[MAX_REQUIRES];
  size_t dep_count;
  pthread_mutex_t mu; /* dependency states, reports and routes */
  route routes[MAX_ROUTES];
  size_t route_count;
  bool stopping;
};

void cp_plugin_runtime_options_init(cp_plugin_runtime_options *opts) {
  memset(opts, 0, sizeof *opts);
}

static const char *dup(cp_plugin_runtime *rt, const char *s) {
  return s == NULL ? NULL : cp_arena_strndup(&rt->mem, s, strlen(s));
}

static cp_call_options timeout_opts(void) {
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = CALL_TIMEOUT_MS;
  return o;
}

/* Strips an http:// or grpc:// scheme: gRPC targets are host:port. */
static const char *host_target(cp_plugin_runtime *rt, const char *url) {
  char target[512];
  bool tls = false;
  if (!cp_route_target_address(url, target, sizeof target, &tls)) {
    return NULL;
  }
  return dup(rt, target);
}

/* With rt->mu held: reports HEALTHY, or DEGRADED naming the missing required
 * dependencies. */
static void report_health_locked(cp_plugin_runtime *rt) {
  char *missing[MAX_REQUIRES];
  size_t n = 0;
  for (size_t i = 0; i < rt->dep_count; i++) {
    if (rt->deps[i].required && !rt->deps[i].available) {
      missing[n++] = (char *)rt->deps[i].type;
    }
  }
  Connectplugin__V1__ReportHealthRequest req =
      CONNECTPLUGIN__V1__REPORT_HEALTH_REQUEST__INIT;
  req.state = n == 0 ? CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_HEALTHY
                     : CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_DEGRADED;
  char reason[256] = "";
  if (n > 0) {
    snprintf(reason, sizeof reason, "%s dependency not available", missing[0]);
  }
  req.reason = reason;
  req.unavailable_dependencies = missing;
  req.n_unavailable_dependencies = n;
  cp_call_options o = timeout_opts();
  Connectplugin__V1__ReportHealthResponse *resp = NULL;
  cp_status st;
  int rc = cp_connectplugin__v1__plugin_lifecycle__report_health__call(
      cp_plugin_client_channel(rt->pc), &req, &resp, &o, &st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  if (rc != 0) {
    cp_log(CP_LOG_WARN, "health report failed", "code",
           cp_status_code_name(st.code), CP_LOG_END);
  }
}

static void *watch_main(void *arg) {
  dependency *d = arg;
  cp_plugin_runtime *rt = d->rt;
  for (;;) {
    Connectplugin__V1__WatchServiceEvent *ev = NULL;
    cp_status st;
    int rc = cp_connectplugin__v1__service_registry__watch_service__next(
        d->watch, &ev, &st);
    if (rc != 1) {
      break; /* cancelled by stop, or the host went away */
    }
    bool available =
        ev->state !=
            CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE &&
        ev->state !=
            CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNSPECIFIED;
    char provider[160] = "";
    if (ev->endpoint != NULL) {
      snprintf(provider, sizeof provider, "%s", ev->endpoint->provider_id);
    }
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    pthread_mutex_lock(&rt->mu);
    bool changed =
        available != d->available || strcmp(provider, d->provider_id) != 0;
    d->available = available;
    snprintf(d->provider_id, sizeof d->provider_id, "%s", provider);
    if (changed && !rt->stopping) {
      report_health_locked(rt);
    }
    pthread_mutex_unlock(&rt->mu);
    if (changed && rt->opts.on_dependency != NULL) {
      rt->opts.on_dependency(d->type, available, provider, rt->opts.user);
    }
  }
  return NULL;
}

static int register_services(cp_plugin_runtime *rt, cp_status *st) {
  for (size_t i = 0; i < rt->opts.provides_count; i++) {
    const cp_service_decl *p = &rt->opts.provides[i];
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = (char *)p->type;
    req.version = (char *)p->version;
    req.endpoint_path = (char *)p->path;
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry base =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__METADATA_ENTRY__INIT;
    base.key = "base_url";
    base.value = (char *)rt->opts.base_url;
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry *md[] = {&base};
    req.metadata = md;
    req.n_metadata = 1;
    cp_call_options o = timeout_opts();
    Connectplugin__V1__RegisterServiceResponse *resp = NULL;
    int rc = cp_connectplugin__v1__service_registry__register_service__call(
        cp_plugin_client_channel(rt->pc), &req, &resp, &o, st);
    if (rc != 0) {
      return rc;
    }
    snprintf(rt->registrations[rt->registration_count++], REGISTRATION_ID_MAX,
             "%s", resp->registration_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    cp_log(CP_LOG_INFO, "service registered", "type", p->type, "base_url",
           rt->opts.base_url, CP_LOG_END);
  }
  return 0;
}

static int start_watches(cp_plugin_runtime *rt, cp_status *st) {
  for (size_t i = 0; i < rt->opts.requires_count; i++) {
    dependency *d = &rt->deps[rt->dep_count];
    d->rt = rt;
    d->type = dup(rt, rt->opts.requires[i].type);
    d->required = rt->opts.requires[i].required_for_startup;
    Connectplugin__V1__WatchServiceRequest req =
        CONNECTPLUGIN__V1__WATCH_SERVICE_REQUEST__INIT;
    req.service_type = (char *)d->type;
    cp_call_options o;
    cp_call_options_init(&o);
    int rc = cp_connectplugin__v1__service_registry__watch_service__start(
        cp_plugin_client_channel(rt->pc), &req, &o, &d->watch, st);
    if (rc != 0) {
      return rc;
    }
    rt->dep_count++;
    d->thread_started = pthread_create(&d->thread, NULL, watch_main, d) == 0;
    if (!d->thread_started) {
      cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "cannot start a thread");
      return CP_ENOMEM;
    }
  }
  return 0;
}

static int check_options(const cp_plugin_runtime_options *o,
                         const char **host) {
  *host = o->host_url != NULL ? o->host_url : getenv(CP_HOST_URL_ENV);
  if (*host == NULL || (*host)[0] == '\0' || o->self_id == NULL ||
      o->provides_count > MAX_PROVIDES || o->requires_count > MAX_REQUIRES ||
      (o->provides_count > 0 && (o->provides == NULL || o->base_url == NULL)) ||
      (o->requires_count > 0 && o->requires == NULL)) {
    return CP_EINVAL;
  }
  return 0;
}

int cp_plugin_runtime_start(cp_plugin_runtime **out,
                            const cp_plugin_runtime_options *opts,
                            cp_status *status) {
  if (out == NULL || opts == NULL || status == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_status_clear(status);
  const char *host_url = NULL;
  if (check_options(opts, &host_url) != 0) {
    cp_status_set(status, CP_STATUS_INVALID_ARGUMENT,
                  "host URL, self_id and (with provides) base_url required");
    return CP_EINVAL;
  }
  cp_plugin_runtime *rt = calloc(1, sizeof *rt);
  if (rt == NULL) {
    return CP_ENOMEM;
  }
  cp_arena_init(&rt->mem);
  pthread_mutex_init(&rt->mu, NULL);
  rt->opts = *opts;
  rt->opts.base_url = dup(rt, opts->base_url);
  rt->host = host_target(rt, host_url);
  if (rt->host == NULL) {
    cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "bad host URL");
    cp_plugin_runtime_stop(rt);
    return CP_EINVAL;
  }
  cp_plugin_client_options po;
  cp_plugin_client_options_init(&po);
  po.endpoint = rt->host;
  po.self_id = opts->self_id;
  po.self_version = opts->self_version;
  po.magic_cookie_key = opts->magic_cookie_key;
  po.magic_cookie_value = opts->magic_cookie_value;
  po.app_version = opts->app_version;
  po.tls = opts->tls;
  po.api_key = opts->api_key;
  int rc = cp_plugin_client_create(&rt->pc, &po);
  if (rc == 0) {
    rc = cp_plugin_client_connect(rt->pc, status);
  }
  if (rc == 0 && cp_plugin_client_runtime_id(rt->pc) == NULL) {
    cp_status_set(status, CP_STATUS_FAILED_PRECONDITION,
                  "host issued no runtime identity");
    rc = CP_ERPC;
  }
  if (rc == 0) {
    rc = register_services(rt, status);
  }
  if (rc == 0) {
    rc = start_watches(rt, status);
  }
  if (rc == 0 && rt->dep_count == 0) {
    pthread_mutex_lock(&rt->mu);
    report_health_locked(rt);
    pthread_mutex_unlock(&rt->mu);
  }
  if (rc != 0) {
    cp_plugin_runtime_stop(rt);
    return rc;
  }
  *out = rt;
  return 0;
}

const char *cp_plugin_runtime_id(const cp_plugin_runtime *rt) {
  return rt != NULL ? cp_plugin_client_runtime_id(rt->pc) : NULL;
}

cp_client *cp_plugin_runtime_host(cp_plugin_runtime *rt) {
  return rt != NULL ? cp_plugin_client_channel(rt->pc) : NULL;
}

bool cp_plugin_runtime_dependency_available(cp_plugin_runtime *rt,
                                            const char *service_type) {
  bool available = false;
  pthread_mutex_lock(&rt->mu);
  for (size_t i = 0; i < rt->dep_count; i++) {
    if (strcmp(rt->deps[i].type, service_type) == 0) {
      available = rt->deps[i].available;
    }
  }
  pthread_mutex_unlock(&rt->mu);
  return available;
}

/* Adds the runtime identity and the routing metadata to every call. */
static int add_route(cp_invocation *inv, void *user) {
  const route *r = user;
  int rc = cp_invocation_add_metadata(inv, CP_MD_ROUTE_SERVICE_TYPE, r->type);
  if (rc == 0) {
    rc = cp_invocation_add_metadata(inv, CP_MD_RUNTIME_ID, r->runtime_id);
  }
  if (rc == 0) {
    rc = cp_invocation_add_metadata(inv, CP_MD_AUTHORIZATION, r->bearer);
  }
  if (rc != 0) {
    return cp_invocation_fail(inv, CP_STATUS_INTERNAL,
                              "cannot attach routing metadata");
  }
  return cp_invocation_proceed(inv);
}

static int new_route(cp_plugin_runtime *rt, const char *type, route *r) {
  char bearer[8 + CP_TOKEN_LEN + 1];
  snprintf(bearer, sizeof bearer, "Bearer %s",
           cp_plugin_client_runtime_token(rt->pc));
  r->type = dup(rt, type);
  r->runtime_id = cp_plugin_client_runtime_id(rt->pc);
  r->bearer = dup(rt, bearer);
  memset(bearer, 0, sizeof bearer);
  if (r->type == NULL || r->bearer == NULL) {
    return CP_ENOMEM;
  }
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = rt->opts.tls;
  /* A channel per route: gRPC shares the connection to the host between
   * channels with the same target, so this costs no extra connection. */
  int rc = cp_client_create(&r->client, rt->host, &co);
  if (rc == 0) {
    rc = cp_client_add_interceptor(r->client, add_route, r);
  }
  return rc;
}

int cp_plugin_runtime_route(cp_plugin_runtime *rt, const char *service_type,
                            cp_client **out) {
  if (rt == NULL || service_type == NULL || service_type[0] == '\0' ||
      out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  int rc = 0;
  pthread_mutex_lock(&rt->mu);
  for (size_t i = 0; i < rt->route_count; i++) {
    if (strcmp(rt->routes[i].type, service_type) == 0) {
      *out = rt->routes[i].client;
    }
  }
  if (*out == NULL) {
    if (rt->route_count == MAX_ROUTES) {
      rc = CP_ELIMIT;
    } else {
      route *r = &rt->routes[rt->route_count];
      rc = new_route(rt, service_type, r);
      if (rc == 0) {
        rt->route_count++;
        *out = r->client;
      } else {
        cp_client_destroy(r->client);
        memset(r, 0, sizeof *r);
      }
    }
  }
  pthread_mutex_unlock(&rt->mu);
  return rc;
}

static void unregister_all(cp_plugin_runtime *rt) {
  for (size_t i = 0; i < rt->registration_count; i++) {
    Connectplugin__V1__UnregisterServiceRequest req =
        CONNECTPLUGIN__V1__UNREGISTER_SERVICE_REQUEST__INIT;
    req.registration_id = rt->registrations[i];
    cp_call_options o = timeout_opts();
    Connectplugin__V1__UnregisterServiceResponse *resp = NULL;
    cp_status st;
    if (cp_connectplugin__v1__service_registry__unregister_service__call(
            cp_plugin_client_channel(rt->pc), &req, &resp, &o, &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
  }
  rt->registration_count = 0;
}

void cp_plugin_runtime_stop(cp_plugin_runtime *rt) {
  if (rt == NULL) {
    return;
  }
  pthread_mutex_lock(&rt->mu);
  rt->stopping = true;
  pthread_mutex_unlock(&rt->mu);
  for (size_t i = 0; i < rt->dep_count; i++) {
    cp_client_stream_cancel(rt->deps[i].watch);
  }
  for (size_t i = 0; i < rt->dep_count; i++) {
    if (rt->deps[i].thread_started) {
      pthread_join(rt->deps[i].thread, NULL);
    }
    cp_client_stream_destroy(rt->deps[i].watch);
  }
  if (rt->pc != NULL) {
    unregister_all(rt);
  }
  for (size_t i = 0; i < rt->route_count; i++) {
    cp_client_destroy(rt->routes[i].client);
  }
  cp_plugin_client_destroy(rt->pc);
  pthread_mutex_destroy(&rt->mu);
  cp_arena_release(&rt->mem);
  free(rt);
}
