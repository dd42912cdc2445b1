/* The shared completion thread of clients (cp_client_loop, cplugin/client.h),
 * as the client code sees it (internal). */
#ifndef CPLUGIN_TRANSPORT_CLIENT_LOOP_H
#define CPLUGIN_TRANSPORT_CLIENT_LOOP_H

#include <grpc/grpc.h>

#include "cplugin/client.h"

/* The queue the loop's thread drains; asynchronous calls of its clients are
 * created on it. */
grpc_completion_queue *cpi_client_loop_cq(cp_client_loop *loop);

/* A client created with the loop, and destroyed: cp_client_loop_destroy
 * refuses while any is attached. */
void cpi_client_loop_attach(cp_client_loop *loop);
void cpi_client_loop_detach(cp_client_loop *loop);

#endif /* CPLUGIN_TRANSPORT_CLIENT_LOOP_H */
