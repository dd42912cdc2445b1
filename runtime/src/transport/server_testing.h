/* Test hooks of the server (internal; for tests only, never called by the
 * runtime). Free of gRPC headers so that tests may include it. */
#ifndef CPLUGIN_TRANSPORT_SERVER_TESTING_H
#define CPLUGIN_TRANSPORT_SERVER_TESTING_H

#include <stdbool.h>
#include <stddef.h>

#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the next `n` allocations of a server call fail as if out of memory
 * (0 ends it). Process-wide. */
void cpi_server_testing_fail_call_allocs(int n);

/* Request slots currently lost on `server` (all queues and methods), waiting
 * to be requested again. */
size_t cpi_server_testing_lost_slots(cp_server *server);

/* What the worker pool of the method at `path` holds: handlers running and
 * calls queued. False when the method runs on no started pool. */
bool cpi_server_testing_pool_counts(cp_server *server, const char *path,
                                    size_t *running, size_t *queued);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TRANSPORT_SERVER_TESTING_H */
