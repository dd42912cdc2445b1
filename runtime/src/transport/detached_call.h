/* Calls that no socket carried (internal, for fuzzing): runs a registered
 * unary method the way the server would — interceptors on the metadata,
 * the bounded decode of the request bytes, the handler, the encoding of
 * its response — without gRPC's network side. */
#ifndef CPLUGIN_TRANSPORT_DETACHED_CALL_H
#define CPLUGIN_TRANSPORT_DETACHED_CALL_H

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
cp_status_code cp_server_invoke_detached(cp_server *server, const char *path,
                                         const char *peer,
                                         const cp_metadata *md, size_t md_count,
                                         const uint8_t *request, size_t len,
                                         size_t *response_bytes);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TRANSPORT_DETACHED_CALL_H */
