/* Which completion queues wait on the network (internal): gRPC's epoll
 * poller is one set for the whole process, and every thread waiting on a
 * polling queue takes turns at it, so a server of opts.non_polling gets
 * queues that never poll (see cp_server_options.non_polling). */
#ifndef CPLUGIN_TRANSPORT_SERVER_POLLING_H
#define CPLUGIN_TRANSPORT_SERVER_POLLING_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether a non-polling queue can be served: true when gRPC polls every
 * descriptor of the process from one epoll set (its default on Linux), so
 * that any polling thread reads a non-polling server's connections. */
bool cpi_polling_is_shared(void);

/* A new completion queue for grpc_completion_queue_next; one that never
 * waits on the network when `non_polling`. */
grpc_completion_queue *cpi_server_cq_create(bool non_polling);

/* Waits on the network for up to `ms` milliseconds from the calling thread,
 * so that connections progress while no other thread polls. */
void cpi_poll_network_ms(int64_t ms);

#endif /* CPLUGIN_TRANSPORT_SERVER_POLLING_H */
