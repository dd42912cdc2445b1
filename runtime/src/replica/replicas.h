/* A host's link to the state its replicas share in etcd (internal): the
 * etcd client, the identity sync and the registration sync, made from
 * cp_etcd_options.
 *
 * The client leaves the network to the host's server threads
 * (cp_client_options.non_polling), so the syncs run only while the server
 * does: cpi_replicas_run after cp_server_start, cpi_replicas_halt before
 * cp_server_shutdown. One thread calls these. */
#ifndef CPLUGIN_REPLICA_REPLICAS_H
#define CPLUGIN_REPLICA_REPLICAS_H

#include "cplugin/registry.h"
#include "cplugin/replicas.h"
#include "cplugin/tokens.h"

typedef struct cpi_replicas cpi_replicas;

/* Checks the options and makes the client (lazily connected: an
 * unreachable etcd is an outage, not an error); copies what it keeps.
 * Returns 0, CP_EINVAL for bad options, or CP_ENOMEM. */
int cpi_replicas_create(cpi_replicas **out, const cp_etcd_options *opts);

/* Starts sharing `tokens` and `registry` (whose token store it is).
 * Returns 0, CP_ESTATE when running, CP_ENOMEM or CP_ESYS. */
int cpi_replicas_run(cpi_replicas *r, cp_token_store *tokens,
                     cp_registry *registry);

/* Stops sharing (the store and registry keep what they hold); changes not
 * yet written are lost. A no-op when not running. */
void cpi_replicas_halt(cpi_replicas *r);

/* Halts, closes the client, frees. NULL allowed. */
void cpi_replicas_destroy(cpi_replicas *r);

/* Zeros (secret_ok -1) while not running. */
void cpi_replicas_stats(cpi_replicas *r, cp_replica_stats *out);

#endif /* CPLUGIN_REPLICA_REPLICAS_H */
