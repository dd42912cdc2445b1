/* Check and Watch of connectplugin.health.v1.HealthService and of the
 * standard grpc.health.v1.Health, over one cp_health. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "grpc/health/v1/health.cplugin.h"
#include "health/health_internal.h"
#include "plugin/v1/health.cplugin.h"
#include "ratelimit/peer_key.h"

/* Both protocols number their statuses alike, so one value serves both. */
_Static_assert(
    (int)CONNECTPLUGIN__HEALTH__V1__SERVING_STATUS__SERVING_STATUS_SERVING ==
            (int)
                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING &&
        (int)CONNECTPLUGIN__HEALTH__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING ==
            (int)
                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING &&
        (int)CONNECTPLUGIN__HEALTH__V1__SERVING_STATUS__SERVING_STATUS_SERVICE_UNKNOWN ==
            (int)
                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN,
    "health enums match");

/* Names echoed in error messages are cut to this many bytes. */
#define ECHO_MAX 64

typedef struct health_msg {
  cp_shared_msg shared; /* first: free(msg) frees the block */
  union {
    Connectplugin__Health__V1__HealthCheckResponse connect;
    Grpc__Health__V1__HealthCheckResponse grpc;
  } u;
} health_msg;

static cp_shared_msg *make_msg(health_proto proto, cp_serving_status status) {
  health_msg *m = malloc(sizeof *m);
  if (m == NULL) {
    return NULL;
  }
  const ProtobufCMessage *base;
  if (proto == HEALTH_PROTO_CONNECT) {
    connectplugin__health__v1__health_check_response__init(&m->u.connect);
    m->u.connect.status = (Connectplugin__Health__V1__ServingStatus)status;
    base = &m->u.connect.base;
  } else {
    grpc__health__v1__health_check_response__init(&m->u.grpc);
    m->u.grpc.status =
        (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    base = &m->u.grpc.base;
  }
  /* Equal statuses are not sent twice in a row. */
  if (cpi_shared_msg_init(&m->shared, base, (uint64_t)status + 1) != 0) {
    free(m);
    return NULL;
  }
  return &m->shared;
}

void cpi_health_notify_locked(cp_health *h, const char *name,
                              cp_serving_status status) {
  cp_shared_msg *msgs[2] = {NULL, NULL};
  for (health_watcher *w = h->watchers; w != NULL; w = w->next) {
    if (strcmp(w->name, name) != 0) {
      continue;
    }
    if (msgs[w->proto] == NULL) {
      msgs[w->proto] = make_msg(w->proto, status);
    }
    if (msgs[w->proto] != NULL) {
      cpi_push_offer(w->push, msgs[w->proto]);
    }
  }
  cpi_shared_msg_unref(msgs[0]);
  cpi_shared_msg_unref(msgs[1]);
}

static void watcher_end(health_watcher *w, cp_status_code code,
                        const char *message) {
  cpi_push_close(w->push, code, message);
  cpi_push_unref(w->push);
  free(w->name);
  free(w->anonymous_from);
  free(w);
}

/* The address an anonymous caller is counted under (NULL for a caller with
 * an identity, or out of memory: then it is not counted, only capped by the
 * global limit). */
static char *anonymous_address(const cp_call *call) {
  if (cp_call_identity(call, NULL) != NULL) {
    return NULL;
  }
  char address[CP_PEER_KEY_MAX];
  cpi_peer_key(cp_call_peer(call), address);
  return strdup(address);
}

/* With h->mu held: watchers open from `address`. */
static size_t watchers_from(const cp_health *h, const char *address) {
  size_t n = 0;
  for (const health_watcher *w = h->watchers; w != NULL; w = w->next) {
    n += w->anonymous_from != NULL && strcmp(w->anonymous_from, address) == 0;
  }
  return n;
}

void cpi_health_end_watchers(cp_health *h) {
  pthread_mutex_lock(&h->mu);
  health_watcher *w = h->watchers;
  h->watchers = NULL;
  h->watcher_count = 0;
  pthread_mutex_unlock(&h->mu);
  while (w != NULL) {
    health_watcher *next = w->next;
    watcher_end(w, CP_STATUS_UNAVAILABLE, "health service closed");
    w = next;
  }
}

/* The client went away or a send failed: unlink the watcher if it is
 * still linked (looked up by stream, so a stale call finds nothing). */
static void on_stream_done(cp_stream *stream, void *user) {
  cp_health *h = user;
  health_watcher *found = NULL;
  pthread_mutex_lock(&h->mu);
  for (health_watcher **link = &h->watchers; *link != NULL;
       link = &(*link)->next) {
    if (cpi_push_stream((*link)->push) == stream) {
      found = *link;
      *link = found->next;
      h->watcher_count--;
      break;
    }
  }
  pthread_mutex_unlock(&h->mu);
  if (found != NULL) {
    watcher_end(found, CP_STATUS_CANCELLED, "watch ended");
  }
}

static void on_push_closed(cp_push *push, cp_stream *stream, void *user) {
  (void)push;
  on_stream_done(stream, user);
}

static cp_status_code check(cp_health *h, cp_call *call, const char *name,
                            cp_serving_status *out) {
  pthread_mutex_lock(&h->mu);
  health_service *s = cpi_health_find(h, name);
  if (s != NULL) {
    *out = s->status;
  }
  pthread_mutex_unlock(&h->mu);
  if (s == NULL) {
    return cp_call_error(call, CP_STATUS_NOT_FOUND, "unknown service: %.*s",
                         ECHO_MAX, name);
  }
  return CP_STATUS_OK;
}

static cp_status_code watch(cp_health *h, cp_call *call, const char *name,
                            cp_stream *stream, health_proto proto) {
  if (strnlen(name, CP_HEALTH_SERVICE_NAME_MAX + 1) >
      CP_HEALTH_SERVICE_NAME_MAX) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "service: too long (max %d bytes)",
                         CP_HEALTH_SERVICE_NAME_MAX);
  }
  health_watcher *w = calloc(1, sizeof *w);
  char *copy = strdup(name);
  if (w == NULL || copy == NULL) {
    free(w);
    free(copy);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  w->name = copy;
  w->proto = proto;
  w->anonymous_from = anonymous_address(call);
  /* Set before the watcher is visible: see registry/watch.c. */
  cp_stream_on_done(stream, on_stream_done, h);
  pthread_mutex_lock(&h->mu);
  bool full = h->watcher_count >= h->max_watchers;
  bool address_full =
      !full && w->anonymous_from != NULL &&
      watchers_from(h, w->anonymous_from) >= h->max_anonymous_per_address;
  cp_shared_msg *first = NULL;
  if (!full && !address_full) {
    health_service *s = cpi_health_find(h, name);
    first = make_msg(proto,
                     s != NULL ? s->status : CP_SERVING_STATUS_SERVICE_UNKNOWN);
    w->push = first != NULL ? cpi_push_create(h->hub, stream, on_push_closed, h)
                            : NULL;
  }
  if (w->push != NULL) {
    cpi_push_offer(w->push, first);
    w->next = h->watchers;
    h->watchers = w;
    h->watcher_count++;
  }
  pthread_mutex_unlock(&h->mu);
  cpi_shared_msg_unref(first);
  if (w->push == NULL) {
    free(w->name);
    free(w->anonymous_from);
    free(w);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "%s",
                         full           ? "too many health watchers"
                         : address_full ? "too many anonymous health "
                                          "watchers from this address"
                                        : "out of memory");
  }
  cpi_push_hub_flush(h->hub);
  return CP_STATUS_OK; /* the push keeps the stream */
}

/* --- connectplugin.health.v1.HealthService ------------------------------- */

static cp_status_code on_connect_check(
    cp_call *call, const Connectplugin__Health__V1__HealthCheckRequest *req,
    Connectplugin__Health__V1__HealthCheckResponse *resp, void *user) {
  cp_serving_status st = CP_SERVING_STATUS_UNKNOWN;
  cp_status_code code = check(user, call, req->service, &st);
  resp->status = (Connectplugin__Health__V1__ServingStatus)st;
  return code;
}

static cp_status_code on_connect_watch(
    cp_call *call, const Connectplugin__Health__V1__HealthCheckRequest *req,
    cp_stream *stream, void *user) {
  return watch(user, call, req->service, stream, HEALTH_PROTO_CONNECT);
}

/* --- grpc.health.v1.Health ----------------------------------------------- */

static cp_status_code on_grpc_check(
    cp_call *call, const Grpc__Health__V1__HealthCheckRequest *req,
    Grpc__Health__V1__HealthCheckResponse *resp, void *user) {
  cp_serving_status st = CP_SERVING_STATUS_UNKNOWN;
  cp_status_code code = check(user, call, req->service, &st);
  resp->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
  return code;
}

static cp_status_code on_grpc_watch(
    cp_call *call, const Grpc__Health__V1__HealthCheckRequest *req,
    cp_stream *stream, void *user) {
  return watch(user, call, req->service, stream, HEALTH_PROTO_GRPC);
}

int cp_health_register(cp_health *h, cp_server *server) {
  if (h == NULL || server == NULL) {
    return CP_EINVAL;
  }
  static const cp_connectplugin__health__v1__health_service__handlers connect =
      {.on_check = on_connect_check, .on_watch = on_connect_watch};
  static const cp_grpc__health__v1__health__handlers grpc = {
      .on_check = on_grpc_check, .on_watch = on_grpc_watch};
  int rc = cp_connectplugin__health__v1__health_service__register(server,
                                                                  &connect, h);
  if (rc == 0) {
    rc = cp_grpc__health__v1__health__register(server, &grpc, h);
  }
  return rc;
}
