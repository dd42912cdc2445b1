/* Self-registering plugins: options, identity, routed clients, start/stop.
 * Joining the host and keeping it joined are in runtime_supervisor.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "core/arena.h"
#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/router.h"
#include "launch/identity.h"
#include "launch/launched.h"
#include "plugin/runtime_internal.h"
#include "plugin/v1/registry.cplugin.h"
#include "router/route_parse.h"

enum {
  DEFAULT_HEARTBEAT_MS = 2000,
  DEFAULT_BACKOFF_INITIAL_MS = 100,
  DEFAULT_BACKOFF_MAX_MS = 5000,
  /* gRPC's own reconnect backoff to the host, capped so that calls work
   * again soon after a host restart. */
  HOST_RECONNECT_BACKOFF_MS = 2000
};

/* Longest heartbeat or backoff accepted: a day (keeps ns arithmetic far
 * from overflow). */
#define MAX_INTERVAL_MS (24LL * 60 * 60 * 1000)

void cp_plugin_runtime_options_init(cp_plugin_runtime_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->heartbeat_interval_ms = DEFAULT_HEARTBEAT_MS;
  opts->backoff_initial_ms = DEFAULT_BACKOFF_INITIAL_MS;
  opts->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
}

static const char *dup(cp_plugin_runtime *rt, const char *s) {
  return s == NULL ? NULL : cpi_arena_strndup(&rt->mem, s, strlen(s));
}

/* --- credentials ---------------------------------------------------------- */

int cpi_rt_set_creds(cp_plugin_runtime *rt, const char *id, const char *token) {
  const char *shown = atomic_load(&rt->public_id);
  if (shown == NULL || strcmp(shown, id) != 0) {
    /* A new ID is interned: pointers handed out earlier stay valid. */
    pthread_mutex_lock(&rt->mu);
    shown = dup(rt, id);
    pthread_mutex_unlock(&rt->mu);
    if (shown == NULL) {
      return CP_ENOMEM;
    }
    atomic_store(&rt->public_id, shown);
  }
  pthread_mutex_lock(&rt->cred_mu);
  snprintf(rt->id, sizeof rt->id, "%s", id);
  snprintf(rt->bearer, sizeof rt->bearer, "Bearer %s", token);
  rt->has_creds = true;
  pthread_mutex_unlock(&rt->cred_mu);
  return 0;
}

void cpi_rt_clear_creds(cp_plugin_runtime *rt) {
  pthread_mutex_lock(&rt->cred_mu);
  rt->has_creds = false;
  memset(rt->bearer, 0, sizeof rt->bearer);
  pthread_mutex_unlock(&rt->cred_mu);
}

bool cpi_rt_current_id(cp_plugin_runtime *rt, char out[CP_RUNTIME_ID_MAX + 1]) {
  pthread_mutex_lock(&rt->cred_mu);
  bool has = rt->has_creds;
  if (has) {
    memcpy(out, rt->id, sizeof rt->id);
  }
  pthread_mutex_unlock(&rt->cred_mu);
  return has;
}

/* Adds the current identity (read at each call, so a renewal or recovery
 * takes effect without recreating the client). */
static int add_creds(cp_plugin_runtime *rt, cp_invocation *inv) {
  char id[CP_RUNTIME_ID_MAX + 1];
  char bearer[RT_BEARER_MAX];
  pthread_mutex_lock(&rt->cred_mu);
  bool has = rt->has_creds;
  if (has) {
    memcpy(id, rt->id, sizeof id);
    memcpy(bearer, rt->bearer, sizeof bearer);
  }
  pthread_mutex_unlock(&rt->cred_mu);
  int rc = 0;
  if (has) {
    rc = cp_invocation_add_metadata(inv, CP_MD_RUNTIME_ID, id);
    if (rc == 0) {
      rc = cp_invocation_add_metadata(inv, CP_MD_AUTHORIZATION, bearer);
    }
    memset(bearer, 0, sizeof bearer);
  }
  return rc;
}

/* The supervisor's channel: the identity only. Returns 0 or the failure
 * (CP_ERPC, status set). */
static int ctl_attach(cp_invocation *inv, void *user) {
  if (add_creds(user, inv) != 0) {
    return cp_invocation_fail(inv, CP_STATUS_INTERNAL,
                              "cannot attach the runtime identity");
  }
  return 0;
}

static int ctl_identity(cp_invocation *inv, void *user) {
  int rc = ctl_attach(inv, user);
  return rc != 0 ? rc : cp_invocation_proceed(inv);
}

static void ctl_identity_async(cp_invocation *inv, void *user) {
  int rc = ctl_attach(inv, user);
  if (rc != 0) {
    cp_invocation_complete(inv, rc);
  } else {
    cp_invocation_proceed_async(inv, NULL, NULL);
  }
}

/* The application's host channel: the identity, and a failure that may mean
 * the host no longer accepts it makes the supervisor check. */
static int app_identity(cp_invocation *inv, void *user) {
  cp_plugin_runtime *rt = user;
  int rc = ctl_attach(inv, rt);
  if (rc != 0) {
    return rc;
  }
  rc = cp_invocation_proceed(inv);
  cpi_rt_note_status(rt, cp_invocation_status(inv)->code, true);
  return rc;
}

static void app_identity_done(cp_invocation *inv, int rc, void *arg) {
  cpi_rt_note_status(arg, cp_invocation_status(inv)->code, true);
  cp_invocation_complete(inv, rc);
}

static void app_identity_async(cp_invocation *inv, void *user) {
  int rc = ctl_attach(inv, user);
  if (rc != 0) {
    cp_invocation_complete(inv, rc);
  } else {
    cp_invocation_proceed_async(inv, app_identity_done, user);
  }
}

/* Routed calls: the route and the identity. */
static int route_attach(cp_invocation *inv, const rt_route *r) {
  int rc = cp_invocation_add_metadata(inv, CP_MD_ROUTE_SERVICE_TYPE, r->type);
  if (rc == 0) {
    rc = add_creds(r->rt, inv);
  }
  if (rc != 0) {
    return cp_invocation_fail(inv, CP_STATUS_INTERNAL,
                              "cannot attach routing metadata");
  }
  return 0;
}

static int add_route(cp_invocation *inv, void *user) {
  const rt_route *r = user;
  int rc = route_attach(inv, r);
  if (rc != 0) {
    return rc;
  }
  rc = cp_invocation_proceed(inv);
  cpi_rt_note_status(r->rt, cp_invocation_status(inv)->code, false);
  return rc;
}

static void add_route_done(cp_invocation *inv, int rc, void *arg) {
  const rt_route *r = arg;
  cpi_rt_note_status(r->rt, cp_invocation_status(inv)->code, false);
  cp_invocation_complete(inv, rc);
}

static void add_route_async(cp_invocation *inv, void *user) {
  int rc = route_attach(inv, user);
  if (rc != 0) {
    cp_invocation_complete(inv, rc);
  } else {
    cp_invocation_proceed_async(inv, add_route_done, user);
  }
}

/* --- options -------------------------------------------------------------- */

/* Strips an http:// or grpc:// scheme: gRPC targets are host:port. */
static const char *host_target(cp_plugin_runtime *rt, const char *url) {
  char target[512];
  bool tls = false;
  if (!cpi_route_target_address(url, target, sizeof target, &tls)) {
    return NULL;
  }
  return dup(rt, target);
}

const char *cpi_rt_host_from_env(void) {
  const char *launched = getenv(CP_LAUNCH_HOST_URL_ENV);
  if (launched != NULL && launched[0] != '\0') {
    return launched;
  }
  return getenv(CP_HOST_URL_ENV);
}

/* Returns NULL when the options are usable, else what is wrong with them
 * (for the caller's INVALID_ARGUMENT status). */
static const char *check_options(const cp_plugin_runtime_options *o,
                                 const char **host) {
  *host = o->host_url != NULL ? o->host_url : cpi_rt_host_from_env();
  bool in_process = o->host_connect != NULL;
  /* Launched: the runtime registers the launched address itself. */
  bool has_base_url =
      o->base_url != NULL || (!in_process && cpi_launch_endpoint(NULL));
  /* Model A: the launcher may name the host with the identity instead. */
  bool has_host = in_process || (*host != NULL && (*host)[0] != '\0') ||
                  cpi_launch_identity_mode();
  if ((o->runtime_id == NULL) != (o->runtime_token == NULL) ||
      o->runtime_token_ttl_ms < 0) {
    return "runtime_id and runtime_token go together, and "
           "runtime_token_ttl_ms must be >= 0";
  }
  if (!has_host) {
    return "no host: set the " CP_HOST_URL_ENV
           " environment variable (or " CP_LAUNCH_HOST_URL_ENV
           ", or host_url in the options) to the "
           "host's address, e.g. " CP_HOST_URL_ENV "=127.0.0.1:50051";
  }
  if (o->self_id == NULL) {
    return "self_id is required";
  }
  if (o->provides_count > RT_MAX_PROVIDES ||
      o->requires_count > RT_MAX_REQUIRES ||
      (o->provides_count > 0 && o->provides == NULL) ||
      (o->requires_count > 0 && o->requires == NULL)) {
    return "provides and requires: a NULL array with a count, or too many "
           "entries";
  }
  if (o->provides_count > 0 && !has_base_url) {
    return "a plugin that provides services needs base_url (where the host "
           "reaches it)";
  }
  if (o->heartbeat_interval_ms < 0 ||
      o->heartbeat_interval_ms > MAX_INTERVAL_MS ||
      o->backoff_initial_ms <= 0 || o->backoff_max_ms > MAX_INTERVAL_MS ||
      o->backoff_max_ms < o->backoff_initial_ms) {
    return "intervals must be 0..1 day, backoff_initial_ms > 0 and "
           "<= backoff_max_ms";
  }
  for (size_t i = 0; i < o->provides_count; i++) {
    if (o->provides[i].type == NULL) {
      return "a provided service without a type";
    }
  }
  for (size_t i = 0; i < o->requires_count; i++) {
    if (o->requires[i].type == NULL) {
      return "a required service without a type";
    }
  }
  return NULL;
}

/* The supervisor registers and watches long after start returned: keep our
 * own copy of everything the options point to. */
static int copy_options(cp_plugin_runtime *rt,
                        const cp_plugin_runtime_options *o) {
  rt->opts = *o;
  rt->opts.host_url = NULL;
  rt->opts.self_id = dup(rt, o->self_id);
  rt->opts.self_version = dup(rt, o->self_version);
  /* The host process may itself have been launched: its launch
   * environment is not an in-process plugin's. */
  char launched[PROC_ADDRESS_MAX + 8];
  rt->opts.base_url = o->host_connect == NULL &&
                              cpi_launch_endpoint_url(launched, sizeof launched)
                          ? dup(rt, launched)
                          : dup(rt, o->base_url);
  /* Used by start only, and never kept. */
  rt->opts.runtime_id = NULL;
  rt->opts.runtime_token = NULL;
  rt->opts.magic_cookie_key = dup(rt, o->magic_cookie_key);
  rt->opts.magic_cookie_value = dup(rt, o->magic_cookie_value);
  rt->opts.api_key = dup(rt, o->api_key);
  cp_service_decl *p =
      o->provides_count == 0
          ? NULL
          : cpi_arena_alloc(&rt->mem, o->provides_count * sizeof *p);
  if (o->provides_count > 0 && p == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < o->provides_count; i++) {
    p[i].type = dup(rt, o->provides[i].type);
    p[i].version = dup(rt, o->provides[i].version);
    p[i].path = dup(rt, o->provides[i].path);
  }
  rt->opts.provides = p;
  rt->opts.requires = NULL; /* kept as rt->deps */
  for (size_t i = 0; i < o->requires_count; i++) {
    rt_dependency *d = &rt->deps[i];
    d->rt = rt;
    d->type = dup(rt, o->requires[i].type);
    d->required = o->requires[i].required_for_startup;
    atomic_init(&d->closing, false);
    if (d->type == NULL) {
      return CP_ENOMEM;
    }
  }
  rt->dep_count = o->requires_count;
  /* The host-side TLS options are read by cp_client_create only. */
  return rt->opts.self_id == NULL ? CP_ENOMEM : 0;
}

/* A new client to the host: the in-process connector, or a channel to
 * rt->host. */
static int connect_host(cp_plugin_runtime *rt, cp_client **out,
                        const cp_client_options *co) {
  if (rt->opts.host_connect != NULL) {
    *out = NULL;
    int rc = rt->opts.host_connect(out, rt->opts.host_connect_user);
    return rc == 0 && *out == NULL ? CP_EINVAL : rc;
  }
  return cp_client_create(out, rt->host, co);
}

int cpi_rt_host_client(cp_plugin_runtime *rt, cp_client **out,
                       cp_client_interceptor_fn fn,
                       cp_client_async_interceptor_fn async_fn, void *user) {
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = rt->opts.tls;
  co.max_reconnect_backoff_ms = HOST_RECONNECT_BACKOFF_MS;
  int rc = connect_host(rt, out, &co);
  if (rc == 0) {
    rc = cp_client_add_interceptor_async(*out, fn, async_fn, user);
  }
  return rc;
}

static cp_plugin_runtime *runtime_new(void) {
  cp_plugin_runtime *rt = calloc(1, sizeof *rt);
  if (rt == NULL) {
    return NULL;
  }
  cpi_arena_init(&rt->mem);
  pthread_mutex_init(&rt->mu, NULL);
  pthread_mutex_init(&rt->cap_mu, NULL);
  pthread_mutex_init(&rt->cred_mu, NULL);
  pthread_mutex_init(&rt->sup_mu, NULL);
  pthread_mutex_init(&rt->reg_mu, NULL);
  cpi_cond_init_monotonic(&rt->sup_cv);
  atomic_init(&rt->public_id, NULL);
  /* Jitter only spreads retries of many plugins apart: no secret. */
  rt->jitter_state =
      (uint64_t)cpi_clock_monotonic_ns() ^ (uint64_t)(uintptr_t)rt;
  return rt;
}

/* --- Model A: the launcher's identity (launch/identity.h) -------------------- */

static cp_plugin_health published_health(void *ctx) {
  return cp_plugin_runtime_health(ctx);
}

/* Publishes the declaration for GetPluginInfo, then waits for
 * SetRuntimeIdentity and takes its identity (and host, when it names one)
 * instead of handshaking. */
static int await_launcher(cp_plugin_runtime *rt,
                          const cp_plugin_runtime_options *o, rt_identity *out,
                          cp_status *st) {
  launch_plugin_info info = {o->self_id,  o->self_version,
                             o->provides, o->provides_count,
                             o->requires, o->requires_count};
  int rc = cpi_launch_info_publish(&info, published_health, rt);
  if (rc != 0) {
    return rc;
  }
  rt->launch_published = true;
  launch_identity li;
  rc = cpi_launch_identity_wait(LAUNCH_IDENTITY_WAIT_MS, &li);
  if (rc == CP_ETIMEDOUT) {
    cp_status_set(st, CP_STATUS_DEADLINE_EXCEEDED,
                  "no identity from the launcher");
    return rc;
  }
  if (rc != 0) {
    cp_status_set(st, CP_STATUS_CANCELLED,
                  "shut down before the launcher gave an identity");
    return rc;
  }
  bool bad_host = false;
  if (li.host_url[0] != '\0') {
    rt->host = host_target(rt, li.host_url);
    bad_host = rt->host == NULL;
  }
  memset(out, 0, sizeof *out);
  memcpy(out->id, li.id, sizeof out->id);
  memcpy(out->token, li.token, sizeof out->token);
  memset(li.token, 0, sizeof li.token);
  out->ttl_ms = li.ttl_ms;
  out->sent_ns = li.received_ns;
  if (rt->host == NULL) {
    memset(out->token, 0, sizeof out->token);
    cp_status_set(st, CP_STATUS_INVALID_ARGUMENT, "%s",
                  bad_host ? "bad host_url from the launcher"
                           : "no host URL (CPLUGIN_HOST_URL or the "
                             "identity's host_url)");
    return CP_EINVAL;
  }
  cp_log(CP_LOG_INFO, "joining with the launcher's identity", "runtime_id",
         out->id, CP_LOG_END);
  return 0;
}

/* The identity in the options (an in-process plugin's, from its host). */
static int given_identity(const cp_plugin_runtime_options *o, rt_identity *out,
                          cp_status *st) {
  memset(out, 0, sizeof *out);
  if (strlen(o->runtime_id) > CP_RUNTIME_ID_MAX ||
      strlen(o->runtime_token) > CP_TOKEN_LEN) {
    cp_status_set(st, CP_STATUS_INVALID_ARGUMENT,
                  "runtime_id or runtime_token too long");
    return CP_EINVAL;
  }
  snprintf(out->id, sizeof out->id, "%s", o->runtime_id);
  snprintf(out->token, sizeof out->token, "%s", o->runtime_token);
  out->ttl_ms = o->runtime_token_ttl_ms;
  /* Issued no later than now: a renewal at half its lifetime from here is
   * never late. */
  out->sent_ns = cpi_clock_monotonic_ns();
  return 0;
}

static int start_runtime(cp_plugin_runtime **out,
                         const cp_plugin_runtime_options *opts, bool held,
                         cp_status *status) {
  if (out == NULL || opts == NULL || status == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_status_clear(status);
  const char *host_url = NULL;
  const char *why = check_options(opts, &host_url);
  if (why != NULL) {
    cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "%s", why);
    return CP_EINVAL;
  }
  cp_plugin_runtime *rt = runtime_new();
  if (rt == NULL) {
    return CP_ENOMEM;
  }
  rt->registrations_held = held;
  int rc = copy_options(rt, opts);
  if (rc == 0 && opts->host_connect == NULL && host_url != NULL &&
      host_url[0] != '\0') {
    rt->host = host_target(rt, host_url);
    if (rt->host == NULL) {
      cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "bad host URL");
      rc = CP_EINVAL;
    }
  }
  rt_identity given;
  bool adopted = rc == 0 && opts->runtime_id != NULL;
  bool launched = rc == 0 && !adopted && opts->host_connect == NULL &&
                  cpi_launch_identity_mode();
  if (launched) {
    rc = await_launcher(rt, opts, &given, status);
  } else if (adopted) {
    rc = given_identity(opts, &given, status);
  }
  launched = launched || adopted;
  if (rc == 0) {
    rc = cpi_rt_host_client(rt, &rt->ctl, ctl_identity, ctl_identity_async, rt);
  }
  if (rc == 0) {
    rc = cpi_rt_host_client(rt, &rt->app, app_identity, app_identity_async, rt);
  }
  if (rc == 0) {
    rc = launched ? cpi_rt_join_adopted(rt, &given, status)
                  : cpi_rt_join(rt, status);
  }
  if (launched) {
    memset(given.token, 0, sizeof given.token);
  }
  if (rc == 0) {
    rc = cpi_rt_supervisor_start(rt);
    if (rc != 0) {
      cp_status_set(status, CP_STATUS_RESOURCE_EXHAUSTED,
                    "cannot start a thread");
    }
  }
  if (rc != 0) {
    if (status->code == CP_STATUS_OK) {
      cp_status_set(status, CP_STATUS_INTERNAL, "%s", cp_strerror(rc));
    }
    cp_plugin_runtime_destroy(rt);
    return rc;
  }
  *out = rt;
  return 0;
}

int cp_plugin_runtime_start(cp_plugin_runtime **out,
                            const cp_plugin_runtime_options *opts,
                            cp_status *status) {
  return start_runtime(out, opts, false, status);
}

int cpi_plugin_runtime_start_held(cp_plugin_runtime **out,
                                  const cp_plugin_runtime_options *opts,
                                  cp_status *status) {
  return start_runtime(out, opts, true, status);
}

/* --- accessors ------------------------------------------------------------ */

const char *cp_plugin_runtime_id(const cp_plugin_runtime *rt) {
  return rt != NULL ? atomic_load(&((cp_plugin_runtime *)rt)->public_id) : NULL;
}

cp_client *cp_plugin_runtime_host(cp_plugin_runtime *rt) {
  return rt != NULL ? rt->app : NULL;
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

cp_plugin_health cp_plugin_runtime_health(cp_plugin_runtime *rt) {
  if (rt == NULL) {
    return CP_PLUGIN_HEALTH_UNKNOWN;
  }
  pthread_mutex_lock(&rt->mu);
  bool ok = !rt->lost;
  for (size_t i = 0; ok && i < rt->dep_count; i++) {
    ok = !rt->deps[i].required || rt->deps[i].available;
  }
  pthread_mutex_unlock(&rt->mu);
  return ok ? CP_PLUGIN_HEALTH_HEALTHY : CP_PLUGIN_HEALTH_DEGRADED;
}

/* --- routes --------------------------------------------------------------- */

static int new_route(cp_plugin_runtime *rt, const char *type, rt_route *r) {
  r->rt = rt;
  r->type = dup(rt, type);
  if (r->type == NULL) {
    return CP_ENOMEM;
  }
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = rt->opts.tls;
  co.max_reconnect_backoff_ms = HOST_RECONNECT_BACKOFF_MS;
  /* A channel per route: gRPC shares the connection to the host between
   * channels with the same target, so this costs no extra connection. */
  int rc = connect_host(rt, &r->client, &co);
  if (rc == 0) {
    rc = cp_client_add_interceptor_async(r->client, add_route, add_route_async,
                                         r);
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
    if (rt->route_count == RT_MAX_ROUTES) {
      rc = CP_ELIMIT;
    } else {
      rt_route *r = &rt->routes[rt->route_count];
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

/* --- stop ----------------------------------------------------------------- */

static void unregister_all(cp_plugin_runtime *rt) {
  for (size_t i = 0; i < rt->registration_count; i++) {
    Connectplugin__V1__UnregisterServiceRequest req =
        CONNECTPLUGIN__V1__UNREGISTER_SERVICE_REQUEST__INIT;
    req.registration_id = rt->registrations[i];
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = RT_CALL_TIMEOUT_MS;
    Connectplugin__V1__UnregisterServiceResponse *resp = NULL;
    cp_status st;
    if (cp_connectplugin__v1__service_registry__unregister_service__call(
            rt->app, &req, &resp, &o, &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
  }
  rt->registration_count = 0;
}

void cp_plugin_runtime_destroy(cp_plugin_runtime *rt) {
  if (rt == NULL) {
    return;
  }
  if (rt->launch_published) {
    /* First: GetPluginInfo and GetHealth stop reading this runtime. */
    cpi_launch_info_withdraw();
  }
  cpi_rt_supervisor_stop(rt);
  pthread_mutex_lock(&rt->mu);
  bool lost = rt->lost;
  pthread_mutex_unlock(&rt->mu);
  if (rt->app != NULL && !lost) {
    unregister_all(rt);
  }
  for (size_t i = 0; i < rt->route_count; i++) {
    cp_client_destroy(rt->routes[i].client);
  }
  cpi_rt_capabilities_free(rt);
  cp_client_destroy(rt->app);
  cp_client_destroy(rt->ctl);
  cpi_rt_clear_creds(rt);
  pthread_mutex_destroy(&rt->mu);
  pthread_mutex_destroy(&rt->cap_mu);
  pthread_mutex_destroy(&rt->cred_mu);
  pthread_mutex_destroy(&rt->sup_mu);
  pthread_mutex_destroy(&rt->reg_mu);
  pthread_cond_destroy(&rt->sup_cv);
  if (rt->opts.api_key != NULL) {
    memset((char *)rt->opts.api_key, 0, strlen(rt->opts.api_key));
  }
  cpi_arena_release(&rt->mem);
  free(rt);
}
