/* The KV example's store and its KVService handlers. */
#include "kv_store.h"

#include "kv_store_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/errors.h"

enum { INITIAL_BUCKETS = 64 };

void kv_store_limits_init(kv_store_limits *limits) {
  limits->max_keys = 100000;
  limits->max_key_bytes = 4096;
  limits->max_watchers = 1024;
}

static uint64_t hash_key(const char *key, size_t len) {
  /* FNV-1a: keys are short and untrusted lengths are bounded. */
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ULL;
  }
  return h;
}

kv_store *kv_store_create(const kv_store_limits *limits) {
  kv_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return NULL;
  }
  s->buckets = calloc(INITIAL_BUCKETS, sizeof(kv_entry *));
  if (s->buckets == NULL) {
    free(s);
    return NULL;
  }
  s->bucket_count = INITIAL_BUCKETS;
  if (limits != NULL) {
    s->limits = *limits;
  } else {
    kv_store_limits_init(&s->limits);
  }
  pthread_mutex_init(&s->mu, NULL);
  return s;
}

static void entry_free(kv_entry *e) {
  free(e->key);
  free(e->value);
  free(e);
}

void kv_store_destroy(kv_store *store) {
  if (store == NULL) {
    return;
  }
  pthread_mutex_lock(&store->mu);
  kv_watcher *w = store->watchers;
  store->watchers = NULL;
  pthread_mutex_unlock(&store->mu);
  while (w != NULL) {
    kv_watcher *next = w->next;
    cp_stream_finish(w->stream, CP_STATUS_UNAVAILABLE, "store closed");
    free(w->prefix);
    free(w);
    w = next;
  }
  for (size_t i = 0; i < store->bucket_count; i++) {
    kv_entry *e = store->buckets[i];
    while (e != NULL) {
      kv_entry *next = e->next;
      entry_free(e);
      e = next;
    }
  }
  free(store->buckets);
  pthread_mutex_destroy(&store->mu);
  free(store);
}

/* With the lock held. Returns the link that points at the entry for `key`
 * (or at the NULL that ends its bucket). */
static kv_entry **find_link(kv_store *s, const char *key, size_t len,
                            uint64_t h) {
  kv_entry **link = &s->buckets[h % s->bucket_count];
  while (*link != NULL) {
    kv_entry *e = *link;
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) {
      return link;
    }
    link = &e->next;
  }
  return link;
}

/* With the lock held: doubles the table when it is more than 3/4 full. */
static void maybe_grow(kv_store *s) {
  if (s->key_count * 4 < s->bucket_count * 3) {
    return;
  }
  size_t n = s->bucket_count * 2;
  kv_entry **b = calloc(n, sizeof(kv_entry *));
  if (b == NULL) {
    return; /* keep the longer chains; lookups stay correct */
  }
  for (size_t i = 0; i < s->bucket_count; i++) {
    kv_entry *e = s->buckets[i];
    while (e != NULL) {
      kv_entry *next = e->next;
      e->next = b[e->hash % n];
      b[e->hash % n] = e;
      e = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->bucket_count = n;
}

void kv_watcher_free(kv_watcher *w) {
  free(w->prefix);
  free(w);
}

kv_watcher *kv_unlink_watcher(kv_store *s, const cp_stream *stream) {
  for (kv_watcher **link = &s->watchers; *link != NULL; link = &(*link)->next) {
    kv_watcher *w = *link;
    if (w->stream == stream) {
      *link = w->next;
      s->watcher_count--;
      return w;
    }
  }
  return NULL;
}

/* With the lock held: sends one event to every watcher whose prefix matches.
 * A watcher that cannot keep up is ended with RESOURCE_EXHAUSTED rather than
 * silently missing events. */
static void notify_watchers(kv_store *s, Kv__V1__EventType type,
                            const char *key, size_t key_len,
                            const uint8_t *value, size_t value_len) {
  Kv__V1__WatchEvent ev = KV__V1__WATCH_EVENT__INIT;
  ev.type = type;
  ev.key = (char *)key;
  ev.value.data = (uint8_t *)value;
  ev.value.len = value_len;
  kv_watcher **link = &s->watchers;
  while (*link != NULL) {
    kv_watcher *w = *link;
    if (w->prefix == NULL || w->prefix_len > key_len ||
        memcmp(w->prefix, key, w->prefix_len) != 0) {
      link = &w->next;
      continue;
    }
    int rc = cp_stream_send(w->stream, &ev.base);
    if (rc == 0 || rc == CP_ECLOSED) {
      /* A closed stream is removed by its done callback. */
      link = &w->next;
      continue;
    }
    *link = w->next;
    s->watcher_count--;
    cp_stream_finish(w->stream, CP_STATUS_RESOURCE_EXHAUSTED,
                     "watcher fell behind: %s", cp_strerror(rc));
    kv_watcher_free(w);
  }
}

static bool key_valid(const kv_store *s, const char *key, cp_status *st) {
  if (key == NULL || key[0] == '\0') {
    cp_status_set(st, CP_STATUS_INVALID_ARGUMENT, "key must not be empty");
    return false;
  }
  if (strlen(key) > s->limits.max_key_bytes) {
    cp_status_set(st, CP_STATUS_INVALID_ARGUMENT, "key longer than %zu bytes",
                  s->limits.max_key_bytes);
    return false;
  }
  return true;
}

/* The status of a unary call from `st`. */
static cp_status_code answer(cp_call *call, const cp_status *st) {
  return st->code == CP_STATUS_OK
             ? CP_STATUS_OK
             : cp_call_error(call, st->code, "%s", st->message);
}

static cp_status_code on_get(cp_call *call, const Kv__V1__GetRequest *req,
                             Kv__V1__GetResponse *resp, void *user) {
  kv_store *s = user;
  cp_status st;
  if (!key_valid(s, req->key, &st)) {
    return answer(call, &st);
  }
  cp_status_code code = CP_STATUS_OK;
  size_t len = strlen(req->key);
  pthread_mutex_lock(&s->mu);
  kv_entry *e = *find_link(s, req->key, len, hash_key(req->key, len));
  if (e != NULL) {
    /* Copy under the lock: the entry may change once it is released. */
    uint8_t *copy = cp_call_alloc(call, e->value_len);
    if (copy == NULL && e->value_len > 0) {
      code = cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
      if (e->value_len > 0) {
        memcpy(copy, e->value, e->value_len);
      }
      resp->value.data = copy;
      resp->value.len = e->value_len;
      resp->found = true;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return code;
}

void kv_store_set_logger(kv_store *s, cp_client *logger) {
  atomic_store(&s->logger, logger);
}

static void log_done(const cp_status *st, ProtobufCMessage *resp, void *user) {
  (void)st; /* a lost log line is not the store's failure */
  (void)user;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
}

/* One line in the host's log, sent without waiting for it. */
static void log_change(kv_store *s, const char *what, const char *key) {
  cp_client *logger = atomic_load(&s->logger);
  if (logger == NULL) {
    return;
  }
  Capability__Logger__V1__LogRequest__FieldsEntry field =
      CAPABILITY__LOGGER__V1__LOG_REQUEST__FIELDS_ENTRY__INIT;
  field.key = (char *)"key";
  field.value = (char *)key;
  Capability__Logger__V1__LogRequest__FieldsEntry *fields[] = {&field};
  Capability__Logger__V1__LogRequest req =
      CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
  req.level = (char *)"info";
  req.message = (char *)what;
  req.fields = fields;
  req.n_fields = 1;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 5000;
  (void)cp_client_unary_async(logger,
                              &cp_capability__logger__v1__logger__log__method,
                              &req.base, &o, log_done, NULL);
}

cp_status_code kv_apply_put(kv_store *s, const Kv__V1__PutRequest *req,
                            cp_status *st) {
  cp_status_clear(st);
  if (!key_valid(s, req->key, st)) {
    return st->code;
  }
  size_t len = strlen(req->key);
  uint64_t h = hash_key(req->key, len);
  uint8_t *value = malloc(req->value.len > 0 ? req->value.len : 1);
  if (value == NULL) {
    return cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (req->value.len > 0) {
    memcpy(value, req->value.data, req->value.len);
  }
  pthread_mutex_lock(&s->mu);
  kv_entry **link = find_link(s, req->key, len, h);
  kv_entry *e = *link;
  if (e != NULL) {
    free(e->value);
  } else if (s->key_count >= s->limits.max_keys) {
    cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED,
                  "store holds the maximum of %zu keys", s->limits.max_keys);
  } else {
    e = calloc(1, sizeof *e);
    char *key = malloc(len + 1);
    if (e == NULL || key == NULL) {
      free(e);
      free(key);
      e = NULL;
      cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
      memcpy(key, req->key, len + 1);
      e->key = key;
      e->key_len = len;
      e->hash = h;
      *link = e;
      s->key_count++;
    }
  }
  if (e != NULL) {
    e->value = value;
    e->value_len = req->value.len;
    notify_watchers(s, KV__V1__EVENT_TYPE__EVENT_TYPE_PUT, e->key, len,
                    e->value, e->value_len);
    maybe_grow(s);
  } else {
    free(value);
  }
  pthread_mutex_unlock(&s->mu);
  if (st->code == CP_STATUS_OK) {
    log_change(s, "kv put", req->key);
  }
  return st->code;
}

static cp_status_code on_put(cp_call *call, const Kv__V1__PutRequest *req,
                             Kv__V1__PutResponse *resp, void *user) {
  (void)resp;
  cp_status st;
  kv_apply_put(user, req, &st);
  return answer(call, &st);
}

cp_status_code kv_apply_delete(kv_store *s, const char *key, bool *found,
                               cp_status *st) {
  cp_status_clear(st);
  *found = false;
  if (!key_valid(s, key, st)) {
    return st->code;
  }
  size_t len = strlen(key);
  pthread_mutex_lock(&s->mu);
  kv_entry **link = find_link(s, key, len, hash_key(key, len));
  kv_entry *e = *link;
  if (e != NULL) {
    *link = e->next;
    s->key_count--;
    *found = true;
    notify_watchers(s, KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE, e->key, len, NULL,
                    0);
    entry_free(e);
  }
  pthread_mutex_unlock(&s->mu);
  if (*found) {
    log_change(s, "kv delete", key);
  }
  return CP_STATUS_OK;
}

static cp_status_code on_delete(cp_call *call, const Kv__V1__DeleteRequest *req,
                                Kv__V1__DeleteResponse *resp, void *user) {
  cp_status st;
  bool found = false;
  kv_apply_delete(user, req->key, &found, &st);
  resp->found = found;
  return answer(call, &st);
}

/* Runs when the client cancels, the deadline passes or the server stops. It
 * looks the watcher up by stream, so it is safe whatever state the watch
 * reached. */
cp_status_code kv_link_watcher(kv_store *s, kv_watcher *w, cp_status *st) {
  cp_status_clear(st);
  pthread_mutex_lock(&s->mu);
  if (s->watcher_count >= s->limits.max_watchers) {
    cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "too many watchers (%zu)",
                  s->limits.max_watchers);
  } else {
    w->next = s->watchers;
    s->watchers = w;
    s->watcher_count++;
  }
  pthread_mutex_unlock(&s->mu);
  return st->code;
}

cp_status_code kv_watch_prefix(kv_store *s, const cp_stream *stream,
                               const char *prefix, cp_status *st) {
  cp_status_clear(st);
  size_t len = strlen(prefix);
  if (len > s->limits.max_key_bytes) {
    return cp_status_set(st, CP_STATUS_INVALID_ARGUMENT,
                         "prefix longer than %zu bytes",
                         s->limits.max_key_bytes);
  }
  char *copy = malloc(len + 1);
  if (copy == NULL) {
    return cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  memcpy(copy, prefix, len + 1);
  pthread_mutex_lock(&s->mu);
  kv_watcher *w = s->watchers;
  while (w != NULL && w->stream != stream) {
    w = w->next;
  }
  if (w == NULL) {
    cp_status_set(st, CP_STATUS_CANCELLED, "watch ended");
  } else if (w->prefix != NULL) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "the session already watches a prefix");
  } else {
    w->prefix = copy;
    w->prefix_len = len;
    copy = NULL;
    Kv__V1__WatchEvent started = KV__V1__WATCH_EVENT__INIT;
    started.key = KV_WATCH_STARTED_KEY;
    cp_stream_send(w->stream, &started.base);
  }
  pthread_mutex_unlock(&s->mu);
  free(copy);
  return st->code;
}

void kv_on_watcher_done(cp_stream *stream, void *user) {
  kv_store *s = user;
  pthread_mutex_lock(&s->mu);
  kv_watcher *w = kv_unlink_watcher(s, stream);
  pthread_mutex_unlock(&s->mu);
  if (w != NULL) {
    cp_stream_finish(stream, CP_STATUS_CANCELLED, "watch ended");
    kv_watcher_free(w);
  }
}

static cp_status_code on_watch(cp_call *call, const Kv__V1__WatchRequest *req,
                               cp_stream *stream, void *user) {
  kv_store *s = user;
  const char *prefix = req->prefix != NULL ? req->prefix : "";
  size_t prefix_len = strlen(prefix);
  if (prefix_len > s->limits.max_key_bytes) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "prefix longer than %zu bytes",
                         s->limits.max_key_bytes);
  }
  kv_watcher *w = calloc(1, sizeof *w);
  char *p = malloc(prefix_len + 1);
  if (w == NULL || p == NULL) {
    free(w);
    free(p);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  memcpy(p, prefix, prefix_len + 1);
  w->prefix = p;
  w->prefix_len = prefix_len;
  w->stream = stream;

  Kv__V1__WatchEvent started = KV__V1__WATCH_EVENT__INIT;
  started.type = KV__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED;
  started.key = KV_WATCH_STARTED_KEY;

  /* Registered before the watcher is visible. If the stream dies before the
   * watcher is linked, the callback finds nothing and the send below fails,
   * which ends the call with an error instead. */
  cp_stream_on_done(stream, kv_on_watcher_done, s);
  pthread_mutex_lock(&s->mu);
  if (s->watcher_count >= s->limits.max_watchers) {
    pthread_mutex_unlock(&s->mu);
    kv_watcher_free(w);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                         "too many watchers (%zu)", s->limits.max_watchers);
  }
  /* Sent under the lock so that no change can overtake it. */
  int rc = cp_stream_send(stream, &started.base);
  if (rc != 0) {
    pthread_mutex_unlock(&s->mu);
    kv_watcher_free(w);
    return cp_call_error(call, CP_STATUS_UNAVAILABLE, "cannot start watch: %s",
                         cp_strerror(rc));
  }
  /* Kept before it is visible: changes on other threads send to it and
   * the done callback finishes it. */
  cp_stream_keep(stream);
  w->next = s->watchers;
  s->watchers = w;
  s->watcher_count++;
  pthread_mutex_unlock(&s->mu);
  return CP_STATUS_OK; /* kept: ended by kv_on_watcher_done */
}

void kv_store_handlers(cp_kv__v1__kvservice__handlers *handlers) {
  memset(handlers, 0, sizeof *handlers);
  handlers->on_get = on_get;
  handlers->on_put = on_put;
  handlers->on_delete = on_delete;
  handlers->on_watch = on_watch;
  kv_stream_handlers(handlers);
}
