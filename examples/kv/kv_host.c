/* kv-host: connects to a running kv-plugin with the plugin client (handshake,
 * then dispense "kv") and drives it through the generated client stubs: put,
 * get, watch a prefix, delete, and show an error status.
 *
 *   kv-host --target ADDRESS [--timeout-ms MS]
 *   kv-host --host HOST_URL [--timeout-ms MS]
 *
 * With --host it reaches whichever plugin provides "kv" at that cplugin host
 * (the C kv-plugin, or the Node one of examples/node-plugin) through the
 * host's router instead: it joins the host as runtime "kv-host" and makes
 * the same calls, of every kind, routed.
 *
 * Exits 0 when every step behaved as expected, 1 otherwise. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "kv/v1/kv.cplugin.h"

static cp_call_options call_opts;

static bool put(cp_client *c, const char *key, const char *value) {
  Kv__V1__PutRequest req = KV__V1__PUT_REQUEST__INIT;
  req.key = (char *)key;
  req.value.data = (uint8_t *)value;
  req.value.len = strlen(value);
  Kv__V1__PutResponse *resp = NULL;
  cp_status st;
  int rc = cp_kv__v1__kvservice__put__call(c, &req, &resp, &call_opts, &st);
  printf("host: Put(%s = %s) -> %s\n", key, value,
         cp_status_code_name(st.code));
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return rc == 0;
}

static bool get(cp_client *c, const char *key, bool want_found) {
  Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
  req.key = (char *)key;
  Kv__V1__GetResponse *resp = NULL;
  cp_status st;
  int rc = cp_kv__v1__kvservice__get__call(c, &req, &resp, &call_opts, &st);
  if (rc != 0) {
    printf("host: Get(%s) -> %s: %s\n", key, cp_status_code_name(st.code),
           st.message);
    return false;
  }
  if (resp->found) {
    printf("host: Get(%s) -> found \"%.*s\"\n", key, (int)resp->value.len,
           (const char *)resp->value.data);
  } else {
    printf("host: Get(%s) -> not found\n", key);
  }
  bool ok = resp->found == want_found;
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return ok;
}

static bool del(cp_client *c, const char *key) {
  Kv__V1__DeleteRequest req = KV__V1__DELETE_REQUEST__INIT;
  req.key = (char *)key;
  Kv__V1__DeleteResponse *resp = NULL;
  cp_status st;
  int rc = cp_kv__v1__kvservice__delete__call(c, &req, &resp, &call_opts, &st);
  if (rc != 0) {
    printf("host: Delete(%s) -> %s\n", key, cp_status_code_name(st.code));
    return false;
  }
  printf("host: Delete(%s) -> found=%s\n", key, resp->found ? "true" : "false");
  bool ok = resp->found;
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return ok;
}

static const char *event_name(Kv__V1__EventType t) {
  switch (t) {
    case KV__V1__EVENT_TYPE__EVENT_TYPE_PUT:
      return "PUT";
    case KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE:
      return "DELETE";
    default:
      return "UNSPECIFIED";
  }
}

/* Reads one event of a Watch or a Session (both stream WatchEvents, which
 * __next checks) and checks its type and key. */
static bool expect_event(cp_client_stream *w, Kv__V1__EventType type,
                         const char *key) {
  Kv__V1__WatchEvent *ev = NULL;
  cp_status st;
  int rc = cp_kv__v1__kvservice__watch__next(w, &ev, &st);
  if (rc != 0) {
    printf("host: watch ended early: %s %s\n", cp_status_code_name(st.code),
           st.message);
    return false;
  }
  printf("host: watch event %s %s\n", event_name(ev->type), ev->key);
  bool ok = ev->type == type && strcmp(ev->key, key) == 0;
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  return ok;
}

static bool run_watch(cp_client *c) {
  Kv__V1__WatchRequest req = KV__V1__WATCH_REQUEST__INIT;
  req.prefix = "user/";
  cp_client_stream *w = NULL;
  cp_status st;
  cp_call_options watch_opts;
  cp_call_options_init(&watch_opts);
  if (cp_kv__v1__kvservice__watch__start(c, &req, &watch_opts, &w, &st) != 0) {
    printf("host: Watch(user/) -> %s\n", cp_status_code_name(st.code));
    return false;
  }
  printf("host: Watch(user/) started\n");
  bool ok = expect_event(w, KV__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED,
                         "_watch_started");
  ok = ok && put(c, "user/alice", "admin");
  ok = ok && put(c, "config/theme", "dark"); /* outside the prefix */
  ok = ok && del(c, "user/alice");
  ok = ok && expect_event(w, KV__V1__EVENT_TYPE__EVENT_TYPE_PUT, "user/alice");
  ok = ok &&
       expect_event(w, KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE, "user/alice");
  cp_client_stream_cancel(w);
  ProtobufCMessage *extra = NULL;
  int rc = cp_client_stream_next(w, &extra, &st);
  printf("host: Watch cancelled -> %s\n", cp_status_code_name(st.code));
  ok = ok && rc == CP_ERPC && st.code == CP_STATUS_CANCELLED;
  cp_client_stream_destroy(w);
  return ok;
}

/* BatchPut: three pairs streamed in one call, one answer with the count. */
static bool run_batch(cp_client *c) {
  cp_client_stream *b = NULL;
  cp_status st;
  if (cp_kv__v1__kvservice__batch_put__open(c, &call_opts, &b, &st) != 0) {
    printf("host: BatchPut -> %s\n", cp_status_code_name(st.code));
    return false;
  }
  const char *keys[] = {"fruit/apple", "fruit/pear", "fruit/plum"};
  bool ok = true;
  for (size_t i = 0; ok && i < 3; i++) {
    Kv__V1__PutRequest pair = KV__V1__PUT_REQUEST__INIT;
    pair.key = (char *)keys[i];
    pair.value.data = (uint8_t *)"ripe";
    pair.value.len = 4;
    ok = cp_kv__v1__kvservice__batch_put__send(b, &pair) == 0;
  }
  Kv__V1__BatchPutResponse *resp = NULL;
  ok = ok && cp_kv__v1__kvservice__batch_put__finish(b, &resp, &st) == 0;
  printf("host: BatchPut(3 pairs) -> %s, stored %lld\n",
         cp_status_code_name(st.code),
         resp != NULL ? (long long)resp->stored : -1LL);
  ok = ok && resp != NULL && resp->stored == 3;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  cp_client_stream_destroy(b);
  return ok;
}

/* Session: watches "fruit/", then puts and removes on the same stream and
 * sees its own changes come back. */
static bool session_send(cp_client_stream *s, Kv__V1__SessionRequest *op) {
  return cp_kv__v1__kvservice__session__send(s, op) == 0;
}

static bool run_session(cp_client *c) {
  cp_client_stream *s = NULL;
  cp_status st;
  if (cp_kv__v1__kvservice__session__open(c, &call_opts, &s, &st) != 0) {
    printf("host: Session -> %s\n", cp_status_code_name(st.code));
    return false;
  }
  Kv__V1__SessionRequest watch = KV__V1__SESSION_REQUEST__INIT;
  watch.op_case = KV__V1__SESSION_REQUEST__OP_WATCH;
  watch.watch = "fruit/";
  Kv__V1__PutRequest fig = KV__V1__PUT_REQUEST__INIT;
  fig.key = "fruit/fig";
  fig.value.data = (uint8_t *)"fresh";
  fig.value.len = 5;
  Kv__V1__SessionRequest put = KV__V1__SESSION_REQUEST__INIT;
  put.op_case = KV__V1__SESSION_REQUEST__OP_PUT;
  put.put = &fig;
  Kv__V1__DeleteRequest plum = KV__V1__DELETE_REQUEST__INIT;
  plum.key = "fruit/plum";
  Kv__V1__SessionRequest remove = KV__V1__SESSION_REQUEST__INIT;
  remove.op_case = KV__V1__SESSION_REQUEST__OP_REMOVE;
  remove.remove = &plum;
  printf("host: Session(watch fruit/, put fruit/fig, remove fruit/plum)\n");
  bool ok =
      session_send(s, &watch) &&
      expect_event(s, KV__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED,
                   "_watch_started") &&
      session_send(s, &put) &&
      expect_event(s, KV__V1__EVENT_TYPE__EVENT_TYPE_PUT, "fruit/fig") &&
      session_send(s, &remove) &&
      expect_event(s, KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE, "fruit/plum");
  ok = ok && cp_client_stream_close_send(s) == 0;
  ProtobufCMessage *extra = NULL;
  int rc = cp_client_stream_next(s, &extra, &st);
  printf("host: Session closed -> %s\n", cp_status_code_name(st.code));
  ok = ok && rc == CP_EEND && st.code == CP_STATUS_OK;
  cp_client_stream_destroy(s);
  return ok;
}

static bool show_error(cp_client *c) {
  Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
  req.key = "";
  Kv__V1__GetResponse *resp = NULL;
  cp_status st;
  int rc = cp_kv__v1__kvservice__get__call(c, &req, &resp, &call_opts, &st);
  printf("host: Get(\"\") -> %s: %s\n", cp_status_code_name(st.code),
         st.message);
  return rc == CP_ERPC && st.code == CP_STATUS_INVALID_ARGUMENT;
}

/* The "kv" client of a plugin found through --target (handshake, then
 * dispense). */
static cp_plugin_client *connect_plugin(const char *target, cp_client **c) {
  cp_plugin_client_options popts;
  cp_plugin_client_options_init(&popts);
  popts.endpoint = target;
  const char *wanted[] = {"kv"};
  popts.requested_plugins = wanted;
  popts.requested_plugin_count = 1;
  cp_plugin_client *pc = NULL;
  int rc = cp_plugin_client_create(&pc, &popts);
  if (rc != 0) {
    fprintf(stderr, "kv-host: cannot create client for %s: %s\n", target,
            cp_strerror(rc));
    return NULL;
  }
  cp_status st;
  rc = cp_plugin_client_connect(pc, &st);
  if (rc != 0) {
    fprintf(stderr, "kv-host: handshake with %s failed: %s: %s\n", target,
            cp_status_code_name(st.code), st.message);
    cp_plugin_client_destroy(pc);
    return NULL;
  }
  rc = cp_plugin_client_dispense(pc, &cp_kv__v1__kvservice__plugin, c);
  if (rc != 0) {
    fprintf(stderr, "kv-host: cannot dispense kv: %s\n", cp_strerror(rc));
    cp_plugin_client_destroy(pc);
    return NULL;
  }
  printf("host: handshake with %s ok: plugin kv %s (app protocol %d)\n", target,
         cp_plugin_client_plugin_version(pc, "kv"),
         (int)cp_plugin_client_app_version(pc));
  return pc;
}

/* The routed "kv" client of a runtime joined to the cplugin host at
 * `host_url` (--host). */
static cp_plugin_runtime *join_host(const char *host_url, cp_client **c) {
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.host_url = host_url;
  o.self_id = "kv-host";
  o.self_version = "1.0.0";
  cp_plugin_runtime *rt = NULL;
  cp_status st;
  if (cp_plugin_runtime_start(&rt, &o, &st) != 0) {
    fprintf(stderr, "kv-host: cannot join the host at %s: %s: %s\n", host_url,
            cp_status_code_name(st.code), st.message);
    return NULL;
  }
  int rc = cp_plugin_runtime_route(rt, "kv", c);
  if (rc != 0) {
    fprintf(stderr, "kv-host: cannot route to kv: %s\n", cp_strerror(rc));
    cp_plugin_runtime_destroy(rt);
    return NULL;
  }
  printf("host: joined the host at %s as %s; kv is routed\n", host_url,
         cp_plugin_runtime_id(rt));
  return rt;
}

int main(int argc, char **argv) {
  const char *target = NULL;
  const char *host_url = NULL;
  long timeout_ms = 5000;
  bool bad = argc % 2 == 0;
  for (int i = 1; !bad && i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--target") == 0) {
      target = argv[i + 1];
    } else if (strcmp(argv[i], "--host") == 0) {
      host_url = argv[i + 1];
    } else if (strcmp(argv[i], "--timeout-ms") == 0) {
      char *end = NULL;
      errno = 0;
      timeout_ms = strtol(argv[i + 1], &end, 10);
      bad = errno != 0 || *end != '\0' || timeout_ms <= 0;
    } else {
      bad = true;
    }
  }
  if (bad || (target == NULL) == (host_url == NULL)) {
    fprintf(stderr,
            "usage: kv-host (--target ADDRESS | --host HOST_URL) "
            "[--timeout-ms MS]\n");
    return 2;
  }
  cp_call_options_init(&call_opts);
  call_opts.timeout_ms = timeout_ms;

  cp_client *c = NULL;
  cp_plugin_client *pc = NULL;
  cp_plugin_runtime *rt = NULL;
  if (target != NULL) {
    pc = connect_plugin(target, &c);
  } else {
    rt = join_host(host_url, &c);
  }
  if (c == NULL) {
    return 1;
  }
  bool ok = put(c, "greeting", "hello") && get(c, "greeting", true) &&
            run_watch(c) && get(c, "user/alice", false) && run_batch(c) &&
            run_session(c) && get(c, "fruit/fig", true) &&
            get(c, "fruit/plum", false) && show_error(c);
  cp_plugin_client_destroy(pc);
  cp_plugin_runtime_destroy(rt);
  printf("host: %s\n", ok ? "all steps behaved as expected" : "FAILED");
  return ok ? 0 : 1;
}
