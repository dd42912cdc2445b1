/* cplugin — method, service and plugin descriptors.
 *
 * protoc-gen-cplugin emits these as constant data next to protoc-c's message
 * descriptors; the runtime reads them to register handlers and issue calls.
 * They are immutable and safe to share between threads.
 */
#ifndef CPLUGIN_SERVICE_H
#define CPLUGIN_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "cplugin/export.h"
#include "cplugin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_call cp_call;
typedef struct cp_stream cp_stream;

/* One metadata entry: lower-case key, NUL-terminated value. */
typedef struct cp_metadata {
  const char *key;
  const char *value;
} cp_metadata;

typedef enum cp_method_kind {
  CP_METHOD_UNARY = 0,
  CP_METHOD_SERVER_STREAMING = 1,
  CP_METHOD_CLIENT_STREAMING = 2,
  CP_METHOD_BIDI_STREAMING = 3
} cp_method_kind;

/* A function of any signature, stored type-erased: a typed handler on a
 * server, a typed callback of a generated client stub. It is converted back
 * to its real type by the invoker that goes with it (the method descriptor's
 * for a handler, the stub's `invoke` for a callback); converting between
 * function pointer types and back is defined C. */
typedef void (*cp_generic_fn)(void);

/* Calls a typed unary handler: `resp` is an initialised response message whose
 * storage the runtime owns. */
typedef cp_status_code (*cp_unary_handler_invoke_fn)(
    cp_generic_fn handler, cp_call *call, const ProtobufCMessage *req,
    ProtobufCMessage *resp, void *user);

/* Calls a typed server-streaming handler. */
typedef cp_status_code (*cp_stream_handler_invoke_fn)(
    cp_generic_fn handler, cp_call *call, const ProtobufCMessage *req,
    cp_stream *stream, void *user);

/* Calls a typed client-streaming or bidirectional handler: there is no
 * request message at the start; the handler reads the client's messages
 * with cp_stream_read. */
typedef cp_status_code (*cp_duplex_handler_invoke_fn)(cp_generic_fn handler,
                                                      cp_call *call,
                                                      cp_stream *stream,
                                                      void *user);

/* Calls a typed per-message callback of cp_stream_read_typed with one
 * request message, or NULL after the client's last one. */
typedef void (*cp_message_handler_invoke_fn)(cp_generic_fn fn,
                                             cp_stream *stream,
                                             const ProtobufCMessage *msg,
                                             void *user);

typedef struct cp_method_desc {
  const char *path; /* "/pkg.Service/Method" */
  const char *name; /* "Method" */
  cp_method_kind kind;
  const ProtobufCMessageDescriptor *request_type;
  const ProtobufCMessageDescriptor *response_type;
  /* Set for CP_METHOD_UNARY. */
  cp_unary_handler_invoke_fn unary_invoke;
  /* Set for CP_METHOD_SERVER_STREAMING. */
  cp_stream_handler_invoke_fn stream_invoke;
  /* Both set for CP_METHOD_CLIENT_STREAMING and CP_METHOD_BIDI_STREAMING. */
  cp_duplex_handler_invoke_fn duplex_invoke;
  cp_message_handler_invoke_fn message_invoke;
} cp_method_desc;

typedef struct cp_service_desc {
  const char *full_name; /* "pkg.Service" */
  const char *path;      /* "/pkg.Service/" */
  size_t method_count;
  const cp_method_desc *const *methods;
} cp_service_desc;

/* What a plugin offers, as announced in the handshake. */
typedef struct cp_plugin_desc {
  const char *name;    /* "kv" for kv.v1.KVService */
  const char *version; /* "1.0.0" unless the generator was told otherwise */
  const char *service_path; /* "/kv.v1.KVService/" */
  const cp_service_desc *service;
} cp_plugin_desc;

/* A service a plugin provides (type "logger", version "1.0.0", path
 * "/capability.logger.v1.Logger/"). */
typedef struct cp_service_decl {
  const char *type;
  const char *version;
  const char *path;
} cp_service_decl;

/* A service a plugin needs. */
typedef struct cp_service_dep {
  const char *type;
  const char *min_version;
  bool required_for_startup;
  bool watch_for_changes;
} cp_service_dep;

/* Returns the method of `service` whose path is `path`, or NULL. */
CP_API const cp_method_desc *cp_service_find_method(
    const cp_service_desc *service, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_SERVICE_H */
