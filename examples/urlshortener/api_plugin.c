/* api-plugin: provides the "api" service (api.v1.API): Shorten makes an
 * 8-hex-digit code and stores it through the host's router in the "storage"
 * service; Resolve reads it back. No handler blocks: each defers its reply
 * (cp_call_defer) and answers when its asynchronous routed call completes,
 * so the calls in flight are not bounded by the plugin's threads. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/v1/api.cplugin.h"
#include "cplugin/cplugin.h"
#include "storage/v1/storage.cplugin.h"

enum { MAX_URL = 2048 };

typedef struct api {
  _Atomic(cp_plugin_runtime *) rt;
} api;

static cp_client *storage_client(api *a, cp_call *call, cp_status_code *code) {
  cp_plugin_runtime *rt = atomic_load(&a->rt);
  cp_client *c = NULL;
  if (rt == NULL || cp_plugin_runtime_route(rt, "storage", &c) != 0) {
    *code = cp_call_error(call, CP_STATUS_UNAVAILABLE, "storage unavailable");
    return NULL;
  }
  return c;
}

/* Calls made for a request end no later than the request itself. */
static cp_call_options forward_deadline(cp_call *call) {
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 5000;
  int64_t deadline = cp_call_deadline_ns(call);
  if (deadline != CP_DEADLINE_NONE) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left_ms =
        (deadline - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec)) / 1000000;
    o.timeout_ms = left_ms > 0 ? left_ms : 1;
  }
  return o;
}

static bool url_valid(const char *url) {
  size_t n = strlen(url);
  return n > 0 && n <= MAX_URL &&
         (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

/* A Shorten waiting for storage: its reply and the code it made. */
typedef struct pending_shorten {
  cp_unary_reply *reply;
  char code[9];
} pending_shorten;

static void on_stored(const cp_status *st,
                      const Storage__V1__StoreResponse *stored, void *user) {
  (void)stored;
  pending_shorten *p = user;
  if (st->code != CP_STATUS_OK) {
    cp_unary_reply_fail(p->reply, CP_STATUS_UNAVAILABLE, "storage: %s",
                        st->message);
  } else {
    Api__V1__ShortenResponse resp = API__V1__SHORTEN_RESPONSE__INIT;
    resp.code = p->code;
    cp_api__v1__api__shorten__reply(p->reply, &resp);
  }
  free(p);
}

/* Neither handler waits: each defers its reply, asks storage through the
 * host's router without blocking, and answers from the callback. */
static cp_status_code on_shorten(cp_call *call,
                                 const Api__V1__ShortenRequest *req,
                                 Api__V1__ShortenResponse *resp, void *user) {
  (void)resp;
  api *a = user;
  if (!url_valid(req->url)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "url must be http(s) and at most %d bytes", MAX_URL);
  }
  cp_status_code code = CP_STATUS_OK;
  cp_client *storage = storage_client(a, call, &code);
  if (storage == NULL) {
    return code;
  }
  pending_shorten *p = malloc(sizeof *p);
  if (p == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  snprintf(p->code, sizeof p->code, "%08x", (unsigned int)arc4random());
  Storage__V1__StoreRequest sreq = STORAGE__V1__STORE_REQUEST__INIT;
  sreq.code = p->code;
  sreq.url = req->url;
  cp_call_options o = forward_deadline(call);
  p->reply = cp_call_defer(call);
  if (p->reply == NULL) {
    free(p);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  int rc = cp_storage__v1__storage__store__call_async(storage, &sreq, &o,
                                                      on_stored, p);
  if (rc != 0) {
    cp_unary_reply_fail(p->reply, CP_STATUS_UNAVAILABLE, "storage: %s",
                        cp_strerror(rc));
    free(p);
  }
  return CP_STATUS_OK; /* deferred: answered by on_stored */
}

/* A Resolve waiting for storage: its reply and the code asked for. */
typedef struct pending_resolve {
  cp_unary_reply *reply;
  char code[];
} pending_resolve;

static void on_got(const cp_status *st, const Storage__V1__GetResponse *got,
                   void *user) {
  pending_resolve *p = user;
  if (st->code != CP_STATUS_OK) {
    cp_unary_reply_fail(p->reply, CP_STATUS_UNAVAILABLE, "storage: %s",
                        st->message);
  } else if (!got->found) {
    cp_unary_reply_fail(p->reply, CP_STATUS_NOT_FOUND, "no URL for code %s",
                        p->code);
  } else {
    Api__V1__ResolveResponse resp = API__V1__RESOLVE_RESPONSE__INIT;
    resp.url = got->url; /* serialised by __reply before `got` is freed */
    cp_api__v1__api__resolve__reply(p->reply, &resp);
  }
  free(p);
}

static cp_status_code on_resolve(cp_call *call,
                                 const Api__V1__ResolveRequest *req,
                                 Api__V1__ResolveResponse *resp, void *user) {
  (void)resp;
  api *a = user;
  cp_status_code code = CP_STATUS_OK;
  cp_client *storage = storage_client(a, call, &code);
  if (storage == NULL) {
    return code;
  }
  size_t len = strlen(req->code);
  pending_resolve *p = malloc(sizeof *p + len + 1);
  if (p == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  memcpy(p->code, req->code, len + 1);
  Storage__V1__GetRequest greq = STORAGE__V1__GET_REQUEST__INIT;
  greq.code = p->code;
  cp_call_options o = forward_deadline(call);
  p->reply = cp_call_defer(call);
  if (p->reply == NULL) {
    free(p);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  int rc =
      cp_storage__v1__storage__get__call_async(storage, &greq, &o, on_got, p);
  if (rc != 0) {
    cp_unary_reply_fail(p->reply, CP_STATUS_UNAVAILABLE, "storage: %s",
                        cp_strerror(rc));
    free(p);
  }
  return CP_STATUS_OK; /* deferred: answered by on_got */
}

static int register_handlers(cp_server *server, void *user) {
  cp_api__v1__api__handlers h;
  memset(&h, 0, sizeof h);
  h.on_shorten = on_shorten;
  h.on_resolve = on_resolve;
  return cp_api__v1__api__register(server, &h, user);
}

static int on_started(cp_plugin_runtime *rt, void *user) {
  api *a = user;
  atomic_store(&a->rt, rt);
  return 0;
}

int main(void) {
  static api a;
  static const cp_plugin_desc *const provides[] = {&cp_api__v1__api__plugin};
  static const cp_service_dep requires[] = {{"storage", "1.0.0", true, true}};
  cp_plugin_serve_options o;
  cp_plugin_serve_options_init(&o);
  o.self_id = "api";
  o.provides = provides;
  o.provides_count = 1;
  o.requires = requires;
  o.requires_count = 1;
  o.setup = register_handlers;
  o.on_started = on_started;
  o.user = &a;
  o.grace_ms = 2000;
  o.print_address = true;
  return cp_plugin_serve(&o) == 0 ? 0 : 1;
}
