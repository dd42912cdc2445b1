/* storage-plugin: provides the "storage" service (storage.v1.Storage), keeps
 * codes in memory, and logs each operation through the host's router to the
 * "logger" service without waiting for it (an asynchronous call), so no
 * handler blocks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"
#include "storage/v1/storage.cplugin.h"

enum { MAX_ENTRIES = 100000, MAX_URL = 2048, CODE_MAX = 32 };

typedef struct entry {
  char code[CODE_MAX + 1];
  char *url;
} entry;

typedef struct storage {
  pthread_mutex_t mu;
  entry *entries;
  size_t count;
  _Atomic(cp_plugin_runtime *) rt;
} storage;

static void log_done(const cp_status *st,
                     const Capability__Logger__V1__LogResponse *resp,
                     void *user) {
  (void)st;
  (void)resp;
  (void)user;
}

/* Logs through the router; a missing or failing logger is not the caller's
 * problem. */
static void log_via_host(storage *s, const char *message, const char *code) {
  cp_plugin_runtime *rt = atomic_load(&s->rt);
  cp_client *logger = NULL;
  if (rt == NULL || cp_plugin_runtime_route(rt, "logger", &logger) != 0) {
    return;
  }
  Capability__Logger__V1__LogRequest__FieldsEntry field =
      CAPABILITY__LOGGER__V1__LOG_REQUEST__FIELDS_ENTRY__INIT;
  field.key = "code";
  field.value = (char *)code;
  Capability__Logger__V1__LogRequest__FieldsEntry *fields[] = {&field};
  Capability__Logger__V1__LogRequest req =
      CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
  req.level = "info";
  req.message = (char *)message;
  req.fields = fields;
  req.n_fields = 1;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 2000;
  /* Fire and forget: the handler answers without waiting for the log. */
  cp_capability__logger__v1__logger__log__call_async(logger, &req, &o, log_done,
                                                     NULL);
}

static entry *find(storage *s, const char *code) {
  for (size_t i = 0; i < s->count; i++) {
    if (strcmp(s->entries[i].code, code) == 0) {
      return &s->entries[i];
    }
  }
  return NULL;
}

static cp_status_code on_store(cp_call *call,
                               const Storage__V1__StoreRequest *req,
                               Storage__V1__StoreResponse *resp, void *user) {
  (void)resp;
  storage *s = user;
  size_t code_len = strlen(req->code);
  size_t url_len = strlen(req->url);
  if (code_len == 0 || code_len > CODE_MAX || url_len == 0 ||
      url_len > MAX_URL) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "code (1-%d bytes) and url (1-%d bytes) required",
                         CODE_MAX, MAX_URL);
  }
  char *url = strdup(req->url);
  if (url == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  cp_status_code code = CP_STATUS_OK;
  pthread_mutex_lock(&s->mu);
  entry *e = find(s, req->code);
  if (e != NULL) {
    free(e->url);
    e->url = url;
  } else if (s->count == MAX_ENTRIES) {
    free(url);
    code = cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "storage full");
  } else {
    e = &s->entries[s->count++];
    memcpy(e->code, req->code, code_len + 1);
    e->url = url;
  }
  pthread_mutex_unlock(&s->mu);
  if (code == CP_STATUS_OK) {
    log_via_host(s, "stored", req->code);
  }
  return code;
}

static cp_status_code on_get(cp_call *call, const Storage__V1__GetRequest *req,
                             Storage__V1__GetResponse *resp, void *user) {
  storage *s = user;
  pthread_mutex_lock(&s->mu);
  entry *e = find(s, req->code);
  if (e != NULL) {
    resp->url = cp_call_strdup(call, e->url);
    resp->found = resp->url != NULL;
  }
  pthread_mutex_unlock(&s->mu);
  log_via_host(s, resp->found ? "looked up" : "looked up (missing)", req->code);
  return CP_STATUS_OK;
}

static int register_handlers(cp_server *server, void *user) {
  cp_storage__v1__storage__handlers h;
  memset(&h, 0, sizeof h);
  h.on_store = on_store;
  h.on_get = on_get;
  return cp_storage__v1__storage__register(server, &h, user);
}

static int on_started(cp_plugin_runtime *rt, void *user) {
  storage *s = user;
  atomic_store(&s->rt, rt);
  return 0;
}

int main(void) {
  static storage s;
  pthread_mutex_init(&s.mu, NULL);
  s.entries = calloc(MAX_ENTRIES, sizeof *s.entries);
  if (s.entries == NULL) {
    return 1;
  }
  static const cp_plugin_desc *const provides[] = {
      &cp_storage__v1__storage__plugin};
  static const cp_service_dep requires[] = {{"logger", "1.0.0", true, true}};
  cp_plugin_serve_options o;
  cp_plugin_serve_options_init(&o);
  o.self_id = "storage";
  o.provides = provides;
  o.provides_count = 1;
  o.requires = requires;
  o.requires_count = 1;
  o.setup = register_handlers;
  o.on_started = on_started;
  o.user = &s;
  o.grace_ms = 2000;
  o.print_address = true;
  int rc = cp_plugin_serve(&o) == 0 ? 0 : 1;
  for (size_t i = 0; i < s.count; i++) {
    free(s.entries[i].url);
  }
  free(s.entries);
  return rc;
}
