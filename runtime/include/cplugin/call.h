/* cplugin — the server side of one call, as seen by interceptors and handlers.
 *
 * A cp_call is created by the server for each incoming call and destroyed when
 * the call completes; pointers obtained from it (metadata, peer, memory from
 * cp_call_alloc) stay valid until then. A unary call ends when its handler
 * returns; a stream ends when it is finished or cancelled.
 *
 * Thread safety: a call is used by one thread at a time (the thread running
 * its interceptors and handler). cp_call_is_cancelled() may be read from any
 * thread. For streams use the cp_stream functions in server.h.
 */
#ifndef CPLUGIN_CALL_H
#define CPLUGIN_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/service.h"
#include "cplugin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A byte string that is not NUL-terminated (gRPC metadata values). */
typedef struct cp_str {
  const char *ptr;
  size_t len;
} cp_str;

/* Deadline value meaning "no deadline". */
#define CP_DEADLINE_NONE INT64_MAX

/* The method being called. Never NULL for a registered method; for a call to
 * an unknown method seen by an interceptor it is NULL (use cp_call_path). */
CP_API const cp_method_desc *cp_call_method(const cp_call *call);

/* The ":path" of the call, for example "/kv.v1.KVService/Get". */
CP_API const char *cp_call_path(const cp_call *call);

/* The peer's address as gRPC reports it ("ipv4:127.0.0.1:53412"; "fd:12"
 * for a caller of a plaintext Unix-socket listener, whose connection
 * cplugin accepted and handed to gRPC; "unix:" on a TLS one; "inproc:3"
 * on a connection handed over with cp_server_add_connection); for
 * logs and per-address limits, which key Unix-socket callers by their
 * user (docs/security.md). */
CP_API const char *cp_call_peer(const cp_call *call);

/* Absolute deadline on CLOCK_MONOTONIC in nanoseconds, or CP_DEADLINE_NONE. */
CP_API int64_t cp_call_deadline_ns(const cp_call *call);

/* True once the client cancelled, the deadline passed or the server began a
 * forced shutdown. Safe from any thread. */
CP_API bool cp_call_is_cancelled(const cp_call *call);

/* Finds request metadata `key` (lower-case). Returns true and sets *value to
 * the first value when present. The bytes belong to the call. */
CP_API bool cp_call_metadata(const cp_call *call, const char *key,
                             cp_str *value);

/* Number of request metadata entries, and entry `index` (0-based). */
CP_API size_t cp_call_metadata_count(const cp_call *call);
CP_API void cp_call_metadata_at(const cp_call *call, size_t index, cp_str *key,
                                cp_str *value);

/* Per-call memory that lives until the call completes: use it for strings and
 * sub-messages of a response. Returns zeroed memory, or NULL when out of
 * memory. */
CP_API void *cp_call_alloc(cp_call *call, size_t size);

/* Copies a NUL-terminated string into per-call memory. */
CP_API char *cp_call_strdup(cp_call *call, const char *s);

/* Sets the status message of the call and returns `code`, so a handler or
 * interceptor can `return cp_call_error(call, CP_STATUS_NOT_FOUND, "...")`. */
CP_API cp_status_code cp_call_error(cp_call *call, cp_status_code code,
                                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Adds trailing metadata to the response (sent with the final status). Key and
 * value are copied. Returns 0, CP_EINVAL for a key that is not lower-case
 * ASCII, or CP_ENOMEM. */
CP_API int cp_call_add_trailer(cp_call *call, const char *key,
                               const char *value);

/* The per-call authentication context. An authenticating interceptor records
 * who the caller is; later interceptors (rate limiting) and the handler read
 * it. `provider` names the mechanism ("token", "api-key", "mtls"). Strings are
 * copied into the call. Returns 0 or CP_ENOMEM. */
CP_API int cp_call_set_identity(cp_call *call, const char *provider,
                                const char *identity);

/* Returns the authenticated identity, or NULL when the call is not
 * authenticated; *provider (if not NULL) receives the mechanism. */
CP_API const char *cp_call_identity(const cp_call *call, const char **provider);

/* The verified certificate of the peer (mutual TLS). Strings live in
 * per-call memory. */
#define CP_PEER_CERT_MAX_SANS 16
typedef struct cp_peer_cert {
  const char *common_name;                 /* NULL when the subject has none */
  const char *sans[CP_PEER_CERT_MAX_SANS]; /* subject alternative names */
  size_t san_count;
} cp_peer_cert;

/* Fills `out` from the TLS handshake and returns true when the peer presented
 * a client certificate that the server verified against its client CA;
 * returns false on plaintext listeners, without a certificate, or when out of
 * memory. Never invents an identity. */
CP_API bool cp_call_peer_cert(cp_call *call, cp_peer_cert *out);

/* Attaches one claim (key/value, copied) to the authentication context;
 * cp_call_claim finds it. At most CP_CALL_MAX_CLAIMS claims. */
#define CP_CALL_MAX_CLAIMS 8
CP_API int cp_call_add_claim(cp_call *call, const char *key, const char *value);
CP_API const char *cp_call_claim(const cp_call *call, const char *key);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_CALL_H */
