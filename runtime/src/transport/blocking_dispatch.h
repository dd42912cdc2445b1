/* Running the handlers of methods marked with cp_server_run_blocking on
 * worker pools instead of completion-queue threads (internal). */
#ifndef CPLUGIN_TRANSPORT_BLOCKING_DISPATCH_H
#define CPLUGIN_TRANSPORT_BLOCKING_DISPATCH_H

#include "transport/server_internal.h"

/* One cp_server_run_blocking call: its options and, from start, its
 * threads. Methods marked by it point here (cp_registered_method.pool). */
typedef struct cp_blocking_pool {
  struct cp_blocking_pool *next;
  cp_worker_pool_options opts;
  struct cp_worker_pool *workers; /* from start; NULL if no method uses it */
} cp_blocking_pool;

/* Starts the pools that some method uses. Returns 0 or CP_ENOMEM (then none
 * is running). */
int cpi_blocking_pools_start(cp_server *server);

/* Forced shutdown: takes no more jobs and answers the queued calls
 * UNAVAILABLE without running their handlers. Running handlers go on (they
 * see cp_call_is_cancelled). Idempotent. */
void cpi_blocking_pools_close(cp_server *server);

/* Closes the pools, waits for their running handlers and joins their
 * threads. The pools stay allocated, so a call whose request is read later
 * is still answered (UNAVAILABLE). Not from a pool thread. Idempotent. */
void cpi_blocking_pools_stop(cp_server *server);

/* Stops and frees the pools and their configuration, once no call can reach
 * them any more (cp_server_destroy). */
void cpi_blocking_pools_free(cp_server *server);

/* Queues a call of a marked method whose request was read (undecoded in
 * call->payload). A pool thread decodes it and runs the handler; a full
 * queue answers RESOURCE_EXHAUSTED at once. Takes ownership of `call`. */
void cpi_serve_blocking(cp_call *call);

#endif /* CPLUGIN_TRANSPORT_BLOCKING_DISPATCH_H */
