/* The KV store's internals, shared by its unary handlers (kv_store.c) and
 * its streaming ones (kv_streams.c). */
#ifndef CPLUGIN_EXAMPLES_KV_STORE_INTERNAL_H
#define CPLUGIN_EXAMPLES_KV_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv_store.h"

typedef struct kv_entry {
  struct kv_entry *next;
  char *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
  uint64_t hash;
} kv_entry;

typedef struct kv_watcher {
  struct kv_watcher *next;
  cp_stream *stream;
  char *prefix; /* NULL: matches nothing yet (a session before its watch) */
  size_t prefix_len;
} kv_watcher;

struct kv_store {
  pthread_mutex_t mu;
  kv_store_limits limits;
  kv_entry **buckets;
  size_t bucket_count;
  size_t key_count;
  kv_watcher *watchers;
  size_t watcher_count;
  _Atomic(cp_client *) logger; /* kv_store_set_logger; NULL = none */
};

/* Stores req's value under its key and tells the watchers. Returns OK, or
 * the refusal with its message in `st`. Takes the lock. */
cp_status_code kv_apply_put(kv_store *s, const Kv__V1__PutRequest *req,
                            cp_status *st);
/* Removes `key`; *found says whether it was there. Takes the lock. */
cp_status_code kv_apply_delete(kv_store *s, const char *key, bool *found,
                               cp_status *st);

/* With the lock held: unlinks and returns the watcher of `stream`, or NULL
 * when it is not linked (never registered, or already ended). */
kv_watcher *kv_unlink_watcher(kv_store *s, const cp_stream *stream);
void kv_watcher_free(kv_watcher *w);

/* Links a watcher that matches nothing yet (a session). Returns OK, or
 * RESOURCE_EXHAUSTED at the store's watcher limit (then `w` is not linked).
 * Takes the lock. */
cp_status_code kv_link_watcher(kv_store *s, kv_watcher *w, cp_status *st);
/* Sets the prefix of the watcher of `stream` (copied) and sends it the
 * KV_WATCH_STARTED_KEY marker, under the lock so that no change overtakes
 * it. FAILED_PRECONDITION when it already has one; CANCELLED when the
 * watcher ended. Takes the lock. */
cp_status_code kv_watch_prefix(kv_store *s, const cp_stream *stream,
                               const char *prefix, cp_status *st);

/* The done callback of every kept stream of the store (user = the store):
 * whoever unlinks a watcher ends its stream, so it ends once. */
void kv_on_watcher_done(cp_stream *stream, void *user);

/* kv_streams.c: the BatchPut and Session handlers. */
void kv_stream_handlers(cp_kv__v1__kvservice__handlers *handlers);

#endif /* CPLUGIN_EXAMPLES_KV_STORE_INTERNAL_H */
