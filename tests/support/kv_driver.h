/* KV client calls for C++ tests. protoc-c's kv.pb-c.h names a struct member
 * `delete`, which C++ cannot compile, so the tests reach KVService through
 * these C functions. */
#ifndef CPLUGIN_TESTS_KV_DRIVER_H
#define CPLUGIN_TESTS_KV_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

int kvd_put(cp_client *c, const char *key, const void *value, size_t len,
            int64_t timeout_ms, cp_status *st);

/* Copies the value (truncated to cap) and its full length. */
int kvd_get(cp_client *c, const char *key, char *value, size_t cap, size_t *len,
            bool *found, int64_t timeout_ms, cp_status *st);

int kvd_delete(cp_client *c, const char *key, bool *found, int64_t timeout_ms,
               cp_status *st);

int kvd_watch_start(cp_client *c, const char *prefix, int64_t timeout_ms,
                    cp_client_stream **out, cp_status *st);

/* Returns as cp_client_stream_next; on 0 fills type (0 unspecified, 1 put,
 * 2 delete) and key. */
int kvd_watch_next(cp_client_stream *s, int *type, char *key, size_t cap,
                   cp_status *st);

/* Calls /kv.v1.KVService/Get with bytes that do not decode as GetRequest. */
int kvd_get_undecodable(cp_client *c, cp_status *st);

/* Calls a method the KV plugin does not have. */
int kvd_call_unknown(cp_client *c, cp_status *st);

/* Serves a KV store on `server` (for in-process tests). Returns the store
 * handle to pass to kvd_store_destroy after the server shut down. */
void *kvd_store_register(cp_server *server);
void kvd_store_destroy(void *store);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_KV_DRIVER_H */
