/* The KV example's store: a thread-safe map from string keys to byte values
 * with prefix watchers, served as kv.v1.KVService.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef CPLUGIN_EXAMPLES_KV_STORE_H
#define CPLUGIN_EXAMPLES_KV_STORE_H

#include <stddef.h>

#include "cplugin/client.h"
#include "kv/v1/kv.cplugin.h"

typedef struct kv_store kv_store;

typedef struct kv_store_limits {
  size_t max_keys;      /* Put of a new key beyond this: RESOURCE_EXHAUSTED */
  size_t max_key_bytes; /* longer keys: INVALID_ARGUMENT */
  size_t max_watchers;  /* Watch beyond this: RESOURCE_EXHAUSTED */
} kv_store_limits;

/* Defaults: 100 000 keys, 4 096-byte keys, 1 024 watchers. */
void kv_store_limits_init(kv_store_limits *limits);

/* Creates an empty store; `limits` may be NULL. Returns NULL when out of
 * memory. */
kv_store *kv_store_create(const kv_store_limits *limits);

/* Ends every open watch (UNAVAILABLE) and frees the store. Call after the
 * server has shut down. */
void kv_store_destroy(kv_store *store);

/* Fills `handlers` with the store's KVService handlers; register them with
 * cp_kv__v1__kvservice__register(server, handlers, store). */
void kv_store_handlers(cp_kv__v1__kvservice__handlers *handlers);

/* Logs each Put and Delete that changed the store ("kv put" / "kv
 * delete", with the key) through `logger`, a client of the host's logger
 * capability (cp_plugin_runtime_capability(rt, "logger", ...)). The calls
 * are asynchronous: a slow host never holds a Put up, and a log call that
 * fails is dropped. NULL stops logging; `logger` must stay valid until it
 * is replaced or the store is destroyed. */
void kv_store_set_logger(kv_store *store, cp_client *logger);

/* The key Watch sends first, with type UNSPECIFIED, once the watch is
 * registered: a client that sees it knows later changes will reach it. */
#define KV_WATCH_STARTED_KEY "_watch_started"

#endif /* CPLUGIN_EXAMPLES_KV_STORE_H */
