/* cp_server: listeners, method registration, completion-queue threads and
 * graceful shutdown on the gRPC C core. */
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "launch/identity_service.h"
#include "launch/launched.h"
#include "transport/blocking_dispatch.h"
#include "transport/plaintext_warning.h"
#include "transport/read_gate.h"
#include "transport/server_internal.h"
#include "transport/server_polling.h"
#include "transport/tls_internal.h"
#include "transport/unix_listener.h"

enum {
  DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024,
  DEFAULT_STREAM_QUEUE_MESSAGES = 256,
  DEFAULT_STREAM_QUEUE_BYTES = 8 * 1024 * 1024,
  /* Calls requested ahead per method and queue, so a burst finds a slot. */
  REQUESTS_PER_METHOD = 2,
  MAX_THREADS = 256,
  MAX_BUSY_POLL_US = 10000,
  DEFAULT_MAX_CONCURRENT_STREAMS = 1000,
  DEFAULT_MAX_METADATA_BYTES = 16 * 1024,
  DEFAULT_MAX_PING_STRIKES = 2
};

#define DEFAULT_MIN_PING_INTERVAL_MS (5LL * 60 * 1000)
#define DEFAULT_MAX_CONNECTION_IDLE_MS (30LL * 60 * 1000)

void cp_server_options_init(cp_server_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->threads = 0;
  opts->max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES;
  opts->stream_queue_messages = DEFAULT_STREAM_QUEUE_MESSAGES;
  opts->stream_queue_bytes = DEFAULT_STREAM_QUEUE_BYTES;
  opts->max_concurrent_streams = DEFAULT_MAX_CONCURRENT_STREAMS;
  opts->max_metadata_bytes = DEFAULT_MAX_METADATA_BYTES;
  opts->min_ping_interval_ms = DEFAULT_MIN_PING_INTERVAL_MS;
  opts->max_ping_strikes = DEFAULT_MAX_PING_STRIKES;
  opts->max_connection_idle_ms = DEFAULT_MAX_CONNECTION_IDLE_MS;
}

/* Half the CPUs: see cp_server_options.threads for why not one each. */
static unsigned default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
  return n > 1 ? (unsigned)n : 1;
}

static int validate_options(const cp_server_options *o) {
  if (o->threads > MAX_THREADS || o->busy_poll_us > MAX_BUSY_POLL_US) {
    return CP_EINVAL;
  }
  if (o->max_message_bytes == 0 || o->max_message_bytes > INT32_MAX) {
    return CP_EINVAL;
  }
  if (o->stream_queue_messages == 0 || o->stream_queue_bytes == 0) {
    return CP_EINVAL;
  }
  if (o->max_concurrent_streams == 0 || o->max_concurrent_streams > INT32_MAX ||
      o->max_metadata_bytes == 0 || o->max_metadata_bytes > INT32_MAX ||
      o->min_ping_interval_ms <= 0 || o->min_ping_interval_ms > INT32_MAX ||
      o->max_ping_strikes == 0 || o->max_ping_strikes > INT32_MAX ||
      o->max_connection_idle_ms < 0 || o->max_connection_idle_ms > INT32_MAX ||
      o->max_connection_age_ms < 0 || o->max_connection_age_ms > INT32_MAX ||
      o->max_connection_age_grace_ms < 0 ||
      o->max_connection_age_grace_ms > INT32_MAX ||
      (o->stream_window_bytes != 0 &&
       (o->stream_window_bytes < 1024 || o->stream_window_bytes > INT32_MAX))) {
    return CP_EINVAL;
  }
  return 0;
}

static void int_arg(grpc_arg *a, const char *key, int64_t value) {
  a->type = GRPC_ARG_INTEGER;
  a->key = (char *)key;
  a->value.integer = (int)value;
}

/* The server's channel arguments from its options; returns how many. gRPC
 * copies them. */
static size_t server_args(const cp_server_options *o, grpc_arg *args) {
  size_t n = 0;
  int_arg(&args[n++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          (int64_t)o->max_message_bytes);
  int_arg(&args[n++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
          (int64_t)o->max_message_bytes);
  int_arg(&args[n++], GRPC_ARG_MAX_CONCURRENT_STREAMS,
          (int64_t)o->max_concurrent_streams);
  int_arg(&args[n++], GRPC_ARG_MAX_METADATA_SIZE,
          (int64_t)o->max_metadata_bytes);
  int_arg(&args[n++], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
          o->min_ping_interval_ms);
  int_arg(&args[n++], GRPC_ARG_HTTP2_MAX_PING_STRIKES,
          (int64_t)o->max_ping_strikes);
  if (o->max_connection_idle_ms > 0) {
    int_arg(&args[n++], GRPC_ARG_MAX_CONNECTION_IDLE_MS,
            o->max_connection_idle_ms);
  }
  if (o->stream_window_bytes > 0) {
    /* A fixed window: the adaptive one (BDP probing) would grow it again. */
    int_arg(&args[n++], GRPC_ARG_HTTP2_BDP_PROBE, 0);
    int_arg(&args[n++], GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
            (int64_t)o->stream_window_bytes);
  }
  if (o->max_connection_age_ms > 0) {
    int_arg(&args[n++], GRPC_ARG_MAX_CONNECTION_AGE_MS,
            o->max_connection_age_ms);
    if (o->max_connection_age_grace_ms > 0) {
      int_arg(&args[n++], GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
              o->max_connection_age_grace_ms);
    }
  }
  return n;
}

int cp_server_create(cp_server **out, const cp_server_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_server_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_server_options_init(&o);
  }
  int rc = validate_options(&o);
  if (rc != 0) {
    return rc;
  }
  if (o.threads == 0) {
    o.threads = default_threads();
  }
  cp_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  s->opts = o;
  atomic_init(&s->queued_bytes, 0);
  grpc_init();
  grpc_arg args[12];
  grpc_channel_args chargs = {server_args(&o, args), args};
  s->grpc = grpc_server_create(&chargs, NULL);
  if (s->grpc == NULL) {
    free(s);
    grpc_shutdown();
    return CP_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->conn_mu, NULL);
  cpi_cond_init_monotonic(&s->cv);
  s->state = CP_SERVER_CREATED;
  *out = s;
  return 0;
}

/* Adds a listener with `creds` (released here in every case). */
static int add_listener(cp_server *server, const char *address,
                        grpc_server_credentials *creds, int *bound_port) {
  bool is_unix = strncmp(address, "unix:", 5) == 0 ||
                 strncmp(address, "unix-abstract:", 14) == 0;
  int port = grpc_server_add_http2_port(server->grpc, address, creds);
  grpc_server_credentials_release(creds);
  if (port <= 0) {
    return CP_EBIND;
  }
  server->listener_count++;
  if (bound_port != NULL) {
    *bound_port = is_unix ? 0 : port;
  }
  return 0;
}

static int listen_plaintext(cp_server *server, const char *address,
                            int *bound_port);

int cp_server_listen(cp_server *server, const char *address, int *bound_port) {
  if (server == NULL || address == NULL || address[0] == '\0') {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED) {
    return CP_ESTATE;
  }
  /* A launched plugin serves where its launcher says (launch/launched.h). */
  char launched[PROC_ADDRESS_MAX + 8];
  int claim = cpi_launch_listen_claim(launched, sizeof launched);
  if (claim < 0) {
    return claim;
  }
  if (claim == 1) {
    address = launched;
  }
  int port = 0;
  int rc = listen_plaintext(server, address, &port);
  if (claim == 1) {
    if (rc == 0) {
      rc = cpi_launch_listen_bound(address, port);
    }
    if (rc == 0) {
      server->launched = true;
    } else {
      cpi_launch_listen_unclaim();
    }
  }
  if (rc == 0 && bound_port != NULL) {
    *bound_port = port;
  }
  return rc;
}

static int listen_plaintext(cp_server *server, const char *address,
                            int *bound_port) {
  int rc;
  if (cpi_unix_listener_handles(address)) {
    /* Accepted by cplugin so that callers are told apart by user. */
    rc = cpi_unix_listener_open(address, server->grpc, &server->unix_listeners);
    if (rc == 0) {
      server->listener_count++;
      if (bound_port != NULL) {
        *bound_port = 0;
      }
    }
  } else {
    rc = add_listener(server, address,
                      grpc_insecure_server_credentials_create(), bound_port);
  }
  if (rc == 0) {
    cpi_plaintext_warn(CP_PLAINTEXT_SERVER, address);
  }
  return rc;
}

int cp_server_listen_tls(cp_server *server, const char *address,
                         const cp_tls_server_options *tls, int *bound_port) {
  if (server == NULL || address == NULL || address[0] == '\0' || tls == NULL) {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED) {
    return CP_ESTATE;
  }
  grpc_server_credentials *creds = NULL;
  int rc = cpi_tls_server_credentials(tls, &creds);
  if (rc != 0) {
    return rc;
  }
  return add_listener(server, address, creds, bound_port);
}

static int grow(void **items, size_t *cap, size_t count, size_t item_size) {
  if (count < *cap) {
    return 0;
  }
  size_t new_cap = *cap == 0 ? 8 : *cap * 2;
  void *p = realloc(*items, new_cap * item_size);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  *items = p;
  *cap = new_cap;
  return 0;
}

static bool method_desc_valid(const cp_method_desc *m) {
  if (m == NULL || m->path == NULL || m->path[0] != '/' ||
      m->request_type == NULL || m->response_type == NULL) {
    return false;
  }
  if (m->kind == CP_METHOD_UNARY) {
    return m->unary_invoke != NULL;
  }
  if (m->kind == CP_METHOD_SERVER_STREAMING) {
    return m->stream_invoke != NULL;
  }
  if (m->kind == CP_METHOD_CLIENT_STREAMING ||
      m->kind == CP_METHOD_BIDI_STREAMING) {
    return m->duplex_invoke != NULL && m->message_invoke != NULL;
  }
  return false;
}

static bool path_registered(const cp_server *server, const char *path) {
  for (size_t i = 0; i < server->method_count; i++) {
    if (strcmp(server->methods[i].desc->path, path) == 0) {
      return true;
    }
  }
  return false;
}

int cp_server_add_methods(cp_server *server, const cp_method_entry *entries,
                          size_t count) {
  if (server == NULL || (entries == NULL && count > 0)) {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED) {
    return CP_ESTATE;
  }
  /* Everything is checked, and room made, before the first entry is added:
   * a failure leaves the server as it was. */
  for (size_t i = 0; i < count; i++) {
    if (entries[i].handler == NULL || !method_desc_valid(entries[i].method)) {
      return CP_EINVAL;
    }
  }
  for (size_t i = 0; i < count; i++) {
    const char *path = entries[i].method->path;
    if (path_registered(server, path)) {
      return CP_EEXIST;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(entries[j].method->path, path) == 0) {
        return CP_EEXIST;
      }
    }
  }
  for (size_t i = 0; i < count; i++) {
    if (grow((void **)&server->methods, &server->method_cap,
             server->method_count + i, sizeof *server->methods) != 0) {
      return CP_ENOMEM;
    }
  }
  for (size_t i = 0; i < count; i++) {
    cp_registered_method *rm = &server->methods[server->method_count++];
    rm->desc = entries[i].method;
    rm->handler = entries[i].handler;
    rm->user = entries[i].user;
    rm->grpc_handle = NULL;
    rm->max_request_bytes = server->opts.max_message_bytes;
    rm->pool = NULL;
  }
  return 0;
}

int cp_server_add_method(cp_server *server, const cp_method_desc *method,
                         cp_generic_fn handler, void *user) {
  cp_method_entry one = {method, handler, user};
  return cp_server_add_methods(server, &one, 1);
}

int cp_server_limit_requests(cp_server *server, const char *path_prefix,
                             size_t max_bytes) {
  if (server == NULL || path_prefix == NULL || path_prefix[0] != '/' ||
      max_bytes == 0) {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED) {
    return CP_ESTATE;
  }
  size_t n = strlen(path_prefix);
  size_t matched = 0;
  for (size_t i = 0; i < server->method_count; i++) {
    cp_registered_method *rm = &server->methods[i];
    if (strncmp(rm->desc->path, path_prefix, n) == 0) {
      rm->max_request_bytes = max_bytes < server->opts.max_message_bytes
                                  ? max_bytes
                                  : server->opts.max_message_bytes;
      matched++;
    }
  }
  return matched > 0 ? 0 : CP_ENOTFOUND;
}

/* Configuration is allowed only before start. */
static int check_configurable(const cp_server *server, bool arg_ok) {
  if (server == NULL || !arg_ok) {
    return CP_EINVAL;
  }
  return server->state == CP_SERVER_CREATED ? 0 : CP_ESTATE;
}

int cp_server_limit_anonymous_reads(cp_server *server,
                                    const cp_anonymous_read_limits *limits) {
  bool ok = limits != NULL && limits->total > 0 && limits->per_peer > 0 &&
            limits->per_peer <= limits->total && limits->total <= 4096 &&
            limits->stall_ms > 0 && limits->stall_ms <= INT32_MAX;
  int rc = check_configurable(server, ok);
  if (rc == 0) {
    server->anonymous_reads = *limits;
  }
  return rc;
}

int cp_server_add_interceptor(cp_server *server, cp_intercept_phase phase,
                              cp_server_interceptor_fn fn, void *user) {
  bool phase_ok =
      phase >= CP_PHASE_AUTHENTICATION && phase <= CP_PHASE_APPLICATION;
  int rc = check_configurable(server, fn != NULL && phase_ok);
  if (rc == 0) {
    rc = grow((void **)&server->interceptors, &server->interceptor_cap,
              server->interceptor_count, sizeof *server->interceptors);
  }
  if (rc == 0) {
    /* Kept sorted by phase, stable within one: the chain then runs in
     * array order with no per-call sorting. */
    size_t at = server->interceptor_count;
    while (at > 0 && server->interceptors[at - 1].phase > phase) {
      server->interceptors[at] = server->interceptors[at - 1];
      at--;
    }
    server->interceptors[at] =
        (cp_interceptor_entry){.fn = fn, .user = user, .phase = phase};
    server->interceptor_count++;
  }
  return rc;
}

int cp_server_add_post_hook(cp_server *server, cp_server_post_hook_fn fn,
                            void *user) {
  int rc = check_configurable(server, fn != NULL);
  if (rc == 0) {
    rc = grow((void **)&server->post_hooks, &server->post_hook_cap,
              server->post_hook_count, sizeof *server->post_hooks);
  }
  if (rc == 0) {
    cp_post_hook_entry *e = &server->post_hooks[server->post_hook_count++];
    e->fn = fn;
    e->user = user;
  }
  return rc;
}

int cp_server_set_fallback(cp_server *server, cp_server_fallback_fn fn,
                           void *user) {
  int rc = check_configurable(server, fn != NULL);
  if (rc != 0) {
    return rc;
  }
  server->fallback = fn;
  server->fallback_user = user;
  return 0;
}

static void on_shutdown_done(cp_tag *tag, bool ok) {
  (void)ok;
  cp_server *s = (cp_server *)((char *)tag - offsetof(cp_server, shutdown_tag));
  pthread_mutex_lock(&s->mu);
  s->grpc_shutdown_done = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void refill_after_event(void *arg) {
  cpi_server_refill(arg);
}

static void *cq_thread_main(void *arg) {
  cp_server_cq *cq = arg;
  /* A non-polling queue has no network to poll: spinning on it would only
   * burn a core. */
  int64_t busy_ns = cq->server->non_polling
                        ? 0
                        : (int64_t)cq->server->opts.busy_poll_us * 1000;
  cp_tag_run_queue_busy(cq->cq, busy_ns, refill_after_event, cq);
  return NULL;
}

static void stop_cq_threads(cp_server *s) {
  for (size_t i = 0; i < s->cq_count; i++) {
    grpc_completion_queue_shutdown(s->cqs[i].cq);
  }
  for (size_t i = 0; i < s->cq_count; i++) {
    if (s->cqs[i].thread_started) {
      pthread_join(s->cqs[i].thread, NULL);
    }
    grpc_completion_queue_destroy(s->cqs[i].cq);
    free(s->cqs[i].lost);
  }
  free(s->cqs);
  s->cqs = NULL;
  s->cq_count = 0;
}

/* One lost-slot count per method and queue, plus one per queue for the
 * unregistered-method slot (see cpi_server_refill). */
static int alloc_lost_counts(cp_server_cq *cqs, size_t n, size_t methods) {
  for (size_t i = 0; i < n; i++) {
    cqs[i].lost = calloc(methods + 1, sizeof *cqs[i].lost);
    if (cqs[i].lost == NULL) {
      for (size_t j = 0; j < i; j++) {
        free(cqs[j].lost);
      }
      return CP_ENOMEM;
    }
  }
  return 0;
}

/* Model A (launch/identity_service.h): the launched server also serves
 * PluginIdentity (and PluginControl when the plugin has none), behind the
 * launch-secret check. That check runs before the plugin's own
 * interceptors, so that e.g. a token-checking one cannot turn the
 * launcher's calls away. */
static int serve_launch_identity(cp_server *server) {
  bool has_control = false;
  size_t n = strlen(LAUNCH_CONTROL_SERVICE_PREFIX);
  for (size_t i = 0; i < server->method_count; i++) {
    has_control = has_control || strncmp(server->methods[i].desc->path,
                                         LAUNCH_CONTROL_SERVICE_PREFIX, n) == 0;
  }
  size_t before = server->interceptor_count;
  int rc = cpi_launch_identity_serve(server, has_control);
  size_t added = server->interceptor_count - before;
  if (rc == 0 && added > 0 && before > 0) {
    cp_interceptor_entry mine[4];
    if (added > sizeof mine / sizeof mine[0]) {
      return CP_ELIMIT;
    }
    memcpy(mine, server->interceptors + before, added * sizeof *mine);
    memmove(server->interceptors + added, server->interceptors,
            before * sizeof *mine);
    memcpy(server->interceptors, mine, added * sizeof *mine);
  }
  return rc;
}

int cp_server_start(cp_server *server) {
  if (server == NULL) {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED ||
      (server->listener_count == 0 && !server->opts.allow_no_listener) ||
      (server->listener_count > 0 && server->opts.non_polling)) {
    return CP_ESTATE;
  }
  if (server->launched && !server->launch_served) {
    int lrc = serve_launch_identity(server);
    if (lrc != 0) {
      return lrc;
    }
    server->launch_served = true;
  }
  for (size_t i = 0; i < server->method_count; i++) {
    cp_registered_method *rm = &server->methods[i];
    rm->grpc_handle = grpc_server_register_method(
        server->grpc, rm->desc->path, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    if (rm->grpc_handle == NULL) {
      return CP_EEXIST;
    }
  }
  if (server->anonymous_reads.total > 0 && server->read_gate == NULL) {
    server->read_gate =
        cpi_read_gate_new(&server->anonymous_reads, &cpi_call_read_gate_ops);
    if (server->read_gate == NULL) {
      return CP_ENOMEM;
    }
  }
  size_t n = server->opts.threads;
  server->cqs = calloc(n, sizeof *server->cqs);
  if (server->cqs == NULL) {
    return CP_ENOMEM;
  }
  if (alloc_lost_counts(server->cqs, n, server->method_count) != 0) {
    free(server->cqs);
    server->cqs = NULL;
    return CP_ENOMEM;
  }
  if (cpi_blocking_pools_start(server) != 0) {
    for (size_t i = 0; i < n; i++) {
      free(server->cqs[i].lost);
    }
    free(server->cqs);
    server->cqs = NULL;
    return CP_ENOMEM;
  }
  server->cq_count = n;
  server->non_polling = server->opts.non_polling && cpi_polling_is_shared();
  for (size_t i = 0; i < n; i++) {
    server->cqs[i].server = server;
    server->cqs[i].cq = cpi_server_cq_create(server->non_polling);
    grpc_server_register_completion_queue(server->grpc, server->cqs[i].cq,
                                          NULL);
  }
  grpc_server_start(server->grpc);
  server->shutdown_tag.on_done = on_shutdown_done;
  atomic_store(&server->accepting, true);
  for (size_t i = 0; i < n; i++) {
    for (size_t m = 0; m < server->method_count; m++) {
      for (int r = 0; r < REQUESTS_PER_METHOD; r++) {
        cpi_server_request_next(&server->cqs[i], &server->methods[m]);
      }
    }
    cpi_server_request_next(&server->cqs[i], NULL);
  }
  cpi_unix_listeners_start(server->unix_listeners);
  for (size_t i = 0; i < n; i++) {
    if (pthread_create(&server->cqs[i].thread, NULL, cq_thread_main,
                       &server->cqs[i]) != 0) {
      break;
    }
    server->cqs[i].thread_started = true;
  }
  pthread_mutex_lock(&server->mu);
  server->state = CP_SERVER_RUNNING;
  pthread_mutex_unlock(&server->mu);
  if (server->launched) {
    /* Serving: now the launcher may connect. A lost line only delays the
     * launcher's timeout, so the server runs on. */
    int arc = cpi_launch_announce_once();
    if (arc != 0) {
      cp_log(CP_LOG_WARN, "cannot print the handshake line", "error",
             cp_strerror(arc), CP_LOG_END);
    }
  }
  if (cp_log_enabled(CP_LOG_DEBUG)) {
    char threads[24];
    char methods[24];
    snprintf(threads, sizeof threads, "%zu", n);
    snprintf(methods, sizeof methods, "%zu", server->method_count);
    cp_log(CP_LOG_DEBUG, "server started", "threads", threads, "methods",
           methods, CP_LOG_END);
  }
  return 0;
}

enum { SHUTDOWN_POLL_SLICE_MS = 10 };

/* Waits until the shutdown tag fired or `until` passed (ETIMEDOUT), with
 * s->mu held. A non-polling server's calls end only when their connection
 * is read (a peer's cancellation, the last flow-control update), and no
 * other thread may be polling by then: the waiting thread polls. */
static int wait_shutdown_tag(cp_server *s, const struct timespec *until) {
  while (!s->grpc_shutdown_done) {
    if (!s->non_polling) {
      int rc = until == NULL ? pthread_cond_wait(&s->cv, &s->mu)
                             : pthread_cond_timedwait(&s->cv, &s->mu, until);
      if (rc == ETIMEDOUT) {
        return rc;
      }
      continue;
    }
    if (until != NULL) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > until->tv_sec ||
          (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec)) {
        return ETIMEDOUT;
      }
    }
    pthread_mutex_unlock(&s->mu);
    cpi_poll_network_ms(SHUTDOWN_POLL_SLICE_MS);
    pthread_mutex_lock(&s->mu);
  }
  return 0;
}

/* Waits for the gRPC shutdown tag, cancelling every call once the grace
 * period has passed. Called with s->mu held. */
static void wait_grpc_shutdown(cp_server *s, int64_t grace_ms) {
  if (grace_ms > 0) {
    struct timespec until = cpi_monotonic_after_ms(grace_ms);
    (void)wait_shutdown_tag(s, &until);
  }
  if (!s->grpc_shutdown_done) {
    pthread_mutex_unlock(&s->mu);
    /* Calls still waiting for a pool thread are answered without their
     * handler; then every call is cancelled, and only then do running
     * handlers see it: a handler that answers as soon as it sees the
     * cancellation must not get its answer out first. */
    cpi_blocking_pools_close(s);
    grpc_server_cancel_all_calls(s->grpc);
    atomic_store(&s->cancelling, true);
    pthread_mutex_lock(&s->mu);
  }
  (void)wait_shutdown_tag(s, NULL);
}

int cp_server_shutdown(cp_server *server, int64_t grace_ms) {
  if (server == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&server->mu);
  if (server->state == CP_SERVER_CREATED) {
    pthread_mutex_unlock(&server->mu);
    return CP_ESTATE;
  }
  if (server->state != CP_SERVER_RUNNING) {
    /* Another thread is stopping it: wait for that to finish. */
    while (server->state != CP_SERVER_STOPPED) {
      pthread_cond_wait(&server->cv, &server->mu);
    }
    pthread_mutex_unlock(&server->mu);
    return 0;
  }
  server->state = CP_SERVER_STOPPING;
  atomic_store(&server->accepting, false);
  /* No connection may reach gRPC once its shutdown has begun. */
  cpi_unix_listeners_close(&server->unix_listeners);
  grpc_server_shutdown_and_notify(server->grpc, server->cqs[0].cq,
                                  &server->shutdown_tag);
  if (server->read_gate != NULL) {
    /* A call waiting to be read holds gRPC's shutdown back: read them all
     * now (cancel_all_calls ends those that do not finish in the grace). */
    pthread_mutex_unlock(&server->mu);
    cpi_read_gate_open(server->read_gate);
    pthread_mutex_lock(&server->mu);
  }
  wait_grpc_shutdown(server, grace_ms);
  pthread_mutex_unlock(&server->mu);

  /* While the completion-queue threads still run, so that a handler's last
   * batches (its reply, a client call it makes) can complete. */
  cpi_blocking_pools_stop(server);

  grpc_server_destroy(server->grpc);
  server->grpc = NULL;
  stop_cq_threads(server);

  pthread_mutex_lock(&server->mu);
  server->state = CP_SERVER_STOPPED;
  pthread_cond_broadcast(&server->cv);
  pthread_mutex_unlock(&server->mu);
  return 0;
}

int cp_server_wait(cp_server *server) {
  if (server == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&server->mu);
  if (server->state == CP_SERVER_CREATED) {
    pthread_mutex_unlock(&server->mu);
    return CP_ESTATE;
  }
  while (server->state != CP_SERVER_STOPPED) {
    pthread_cond_wait(&server->cv, &server->mu);
  }
  pthread_mutex_unlock(&server->mu);
  return 0;
}

/* gRPC aborts when a server with listeners is destroyed without a shutdown
 * (listen, then destroy without start), so shut it down first on a private
 * queue. */
static void destroy_unstarted(cp_server *s) {
  if (s->listener_count > 0) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_shutdown_and_notify(s->grpc, cq, &s->shutdown_tag);
    grpc_event ev;
    do {
      ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      NULL);
    } while (ev.type != GRPC_OP_COMPLETE);
    grpc_completion_queue_shutdown(cq);
    while (
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
            .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
  }
  grpc_server_destroy(s->grpc);
  s->grpc = NULL;
}

void cp_server_destroy(cp_server *server) {
  if (server == NULL) {
    return;
  }
  if (server->state == CP_SERVER_RUNNING ||
      server->state == CP_SERVER_STOPPING) {
    cp_server_shutdown(server, 0);
  }
  cpi_unix_listeners_close(&server->unix_listeners);
  if (server->grpc != NULL) {
    /* Never started: nothing is in flight. */
    destroy_unstarted(server);
  }
  cpi_read_gate_free(server->read_gate);
  cpi_blocking_pools_free(server);
  free(server->methods);
  free(server->interceptors);
  free(server->post_hooks);
  cpi_server_connections_free(server);
  pthread_mutex_destroy(&server->conn_mu);
  pthread_mutex_destroy(&server->mu);
  pthread_cond_destroy(&server->cv);
  free(server);
  grpc_shutdown();
}

size_t cp_server_queued_bytes(const cp_server *server) {
  return server != NULL
             ? atomic_load_explicit(&((cp_server *)server)->queued_bytes,
                                    memory_order_relaxed)
             : 0;
}
