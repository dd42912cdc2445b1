/* Calls that no socket carried (internal, for fuzzing): runs a registered
 * unary or server-streaming method the way the server would — interceptors
 * on the metadata, the bounded decode of the request bytes, the handler,
 * the encoding of its responses — without gRPC's network side. */
#ifndef CPLUGIN_TRANSPORT_DETACHED_CALL_H
#define CPLUGIN_TRANSPORT_DETACHED_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Invokes the unary method `path` of `server` (configured; it need not be
 * started) from `peer` with `md` and the request bytes. Returns the call's
 * status code; CP_STATUS_UNIMPLEMENTED for a path that is not a registered
 * unary method. *response_bytes (if not NULL) receives the encoded
 * response's length. Thread-safe as the handlers are. */
cp_status_code cpi_server_invoke_detached(cp_server *server, const char *path,
                                          const char *peer,
                                          const cp_metadata *md,
                                          size_t md_count,
                                          const uint8_t *request, size_t len,
                                          size_t *response_bytes);

/* A detached server stream, seen from its client. Its writes complete at
 * once (counted, then dropped); the handler may keep it open and write
 * from other threads, as it would on a socket. */
typedef struct cp_detached_stream cp_detached_stream;

/* Opens the server-streaming method `path` as cpi_server_invoke_detached
 * calls a unary one. Returns the refusing code with *out NULL
 * (UNIMPLEMENTED for a path that is not a registered streaming method), or
 * sets *out and returns the status the handler ended the stream with, or
 * CP_STATUS_OK when it kept the stream open. The caller closes *out.
 * Detached unary calls cannot be deferred (cp_call_defer returns NULL). */
cp_status_code cpi_server_open_detached_stream(
    cp_server *server, const char *path, const char *peer,
    const cp_metadata *md, size_t md_count, const uint8_t *request, size_t len,
    cp_detached_stream **out);

/* Messages the stream wrote so far; *ended whether it sent its final
 * status, *code which. Any thread. */
size_t cpi_detached_stream_written(cp_detached_stream *stream, bool *ended,
                                   cp_status_code *code);

/* The client goes away: a stream still open is cancelled (its handler's
 * done callback runs, on this thread). Frees the handle. NULL allowed. */
void cpi_detached_stream_close(cp_detached_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TRANSPORT_DETACHED_CALL_H */
