/* api-plugin: provides the "api" service (api.v1.API): Shorten makes an
 * 8-hex-digit code and stores it through the host's router in the "storage"
 * service; Resolve reads it back. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/v1/api.cplugin.h"
#include "plugin_main.h"
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

static cp_status_code on_shorten(cp_call *call,
                                 const Api__V1__ShortenRequest *req,
                                 Api__V1__ShortenResponse *resp, void *user) {
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
  char *short_code = cp_call_alloc(call, 9);
  if (short_code == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  unsigned int r = (unsigned int)arc4random();
  snprintf(short_code, 9, "%08x", r);
  Storage__V1__StoreRequest sreq = STORAGE__V1__STORE_REQUEST__INIT;
  sreq.code = short_code;
  sreq.url = req->url;
  cp_call_options o = forward_deadline(call);
  Storage__V1__StoreResponse *sresp = NULL;
  cp_status st;
  if (cp_storage__v1__storage__store__call(storage, &sreq, &sresp, &o, &st) !=
      0) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE, "storage: %s",
                         st.message);
  }
  protobuf_c_message_free_unpacked(&sresp->base, NULL);
  resp->code = short_code;
  return CP_STATUS_OK;
}

static cp_status_code on_resolve(cp_call *call,
                                 const Api__V1__ResolveRequest *req,
                                 Api__V1__ResolveResponse *resp, void *user) {
  api *a = user;
  cp_status_code code = CP_STATUS_OK;
  cp_client *storage = storage_client(a, call, &code);
  if (storage == NULL) {
    return code;
  }
  Storage__V1__GetRequest greq = STORAGE__V1__GET_REQUEST__INIT;
  greq.code = req->code;
  cp_call_options o = forward_deadline(call);
  Storage__V1__GetResponse *gresp = NULL;
  cp_status st;
  if (cp_storage__v1__storage__get__call(storage, &greq, &gresp, &o, &st) !=
      0) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE, "storage: %s",
                         st.message);
  }
  if (!gresp->found) {
    protobuf_c_message_free_unpacked(&gresp->base, NULL);
    return cp_call_error(call, CP_STATUS_NOT_FOUND, "no URL for code %s",
                         req->code);
  }
  resp->url = cp_call_strdup(call, gresp->url);
  protobuf_c_message_free_unpacked(&gresp->base, NULL);
  return resp->url != NULL
             ? CP_STATUS_OK
             : cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
}

static int register_handlers(cp_server *server, void *user) {
  cp_api__v1__api__handlers h;
  memset(&h, 0, sizeof h);
  h.on_shorten = on_shorten;
  h.on_resolve = on_resolve;
  return cp_api__v1__api__register(server, &h, user);
}

static void on_started(cp_plugin_runtime *rt, void *user) {
  api *a = user;
  atomic_store(&a->rt, rt);
}

int main(void) {
  static api a;
  static const cp_service_decl provides[] = {{"api", "1.0.0", "/api.v1.API/"}};
  static const cp_service_dep requires[] = {{"storage", "1.0.0", true, true}};
  plugin_spec spec = {"api", register_handlers, provides, 1, requires,
                      1,     on_started,        &a};
  return plugin_main(&spec);
}
