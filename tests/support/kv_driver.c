/* KV client calls for C++ tests. */
#include "kv_driver.h"

#include <stdio.h>
#include <string.h>

#include "cplugintest/v1/echo.pb-c.h"
#include "kv/v1/kv.cplugin.h"
#include "kv_store.h"

static void options(cp_call_options *o, int64_t timeout_ms) {
  cp_call_options_init(o);
  o->timeout_ms = timeout_ms;
}

int kvd_put(cp_client *c, const char *key, const void *value, size_t len,
            int64_t timeout_ms, cp_status *st) {
  Kv__V1__PutRequest req = KV__V1__PUT_REQUEST__INIT;
  req.key = (char *)key;
  req.value.data = (uint8_t *)value;
  req.value.len = len;
  Kv__V1__PutResponse *resp = NULL;
  cp_call_options o;
  options(&o, timeout_ms);
  int rc = cp_kv__v1__kvservice__put__call(c, &req, &resp, &o, st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return rc;
}

int kvd_get(cp_client *c, const char *key, char *value, size_t cap, size_t *len,
            bool *found, int64_t timeout_ms, cp_status *st) {
  Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
  req.key = (char *)key;
  Kv__V1__GetResponse *resp = NULL;
  cp_call_options o;
  options(&o, timeout_ms);
  int rc = cp_kv__v1__kvservice__get__call(c, &req, &resp, &o, st);
  if (rc != 0) {
    return rc;
  }
  *found = resp->found;
  *len = resp->value.len;
  size_t n = resp->value.len < cap ? resp->value.len : cap;
  if (n > 0) {
    memcpy(value, resp->value.data, n);
  }
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return 0;
}

int kvd_delete(cp_client *c, const char *key, bool *found, int64_t timeout_ms,
               cp_status *st) {
  Kv__V1__DeleteRequest req = KV__V1__DELETE_REQUEST__INIT;
  req.key = (char *)key;
  Kv__V1__DeleteResponse *resp = NULL;
  cp_call_options o;
  options(&o, timeout_ms);
  int rc = cp_kv__v1__kvservice__delete__call(c, &req, &resp, &o, st);
  if (rc == 0) {
    *found = resp->found;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return rc;
}

int kvd_watch_start(cp_client *c, const char *prefix, int64_t timeout_ms,
                    cp_client_stream **out, cp_status *st) {
  Kv__V1__WatchRequest req = KV__V1__WATCH_REQUEST__INIT;
  req.prefix = (char *)prefix;
  cp_call_options o;
  options(&o, timeout_ms);
  return cp_kv__v1__kvservice__watch__start(c, &req, &o, out, st);
}

int kvd_watch_next(cp_client_stream *s, int *type, char *key, size_t cap,
                   cp_status *st) {
  Kv__V1__WatchEvent *ev = NULL;
  int rc = cp_kv__v1__kvservice__watch__next(s, &ev, st);
  if (rc == 0) {
    *type = (int)ev->type;
    snprintf(key, cap, "%s", ev->key);
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  }
  return rc;
}

int kvd_get_undecodable(cp_client *c, cp_status *st) {
  /* CountRequest carries field 1 as a varint; GetRequest's field 1 is a
   * string, so the server cannot decode it. */
  cp_method_desc bad = cp_kv__v1__kvservice__get__method;
  bad.request_type = &cplugintest__v1__count_request__descriptor;
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  req.count = 7;
  ProtobufCMessage *resp = NULL;
  int rc = cp_client_unary(c, &bad, &req.base, &resp, NULL, st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  return rc;
}

int kvd_call_unknown(cp_client *c, cp_status *st) {
  cp_method_desc unknown = cp_kv__v1__kvservice__get__method;
  unknown.path = "/kv.v1.KVService/DoesNotExist";
  Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
  req.key = "k";
  ProtobufCMessage *resp = NULL;
  int rc = cp_client_unary(c, &unknown, &req.base, &resp, NULL, st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  return rc;
}

void *kvd_store_register(cp_server *server) {
  kv_store *store = kv_store_create(NULL);
  if (store == NULL) {
    return NULL;
  }
  cp_kv__v1__kvservice__handlers h;
  kv_store_handlers(&h);
  if (cp_kv__v1__kvservice__register(server, &h, store) != 0) {
    kv_store_destroy(store);
    return NULL;
  }
  return store;
}

void kvd_store_destroy(void *store) {
  kv_store_destroy(store);
}
