/* A host's link to the state its replicas share in etcd (internal): the
 * etcd client, the identity sync and the registration sync, made from
 * cp_etcd_options. */
#ifndef CPLUGIN_REPLICA_REPLICAS_H
#define CPLUGIN_REPLICA_REPLICAS_H

#include "cplugin/registry.h"
#include "cplugin/replicas.h"
#include "cplugin/tokens.h"

typedef struct cpi_replicas cpi_replicas;

/* Connects to etcd (lazily: an unreachable etcd is an outage, not an
 * error) and starts sharing `tokens`. Returns 0, CP_EINVAL for bad
 * options, CP_ENOMEM or CP_ESYS. */
int cpi_replicas_start(cpi_replicas **out, const cp_etcd_options *opts,
                       cp_token_store *tokens);

/* Shares `registry` (whose token store is `tokens`) from now on: call it
 * once, right after cpi_replicas_start (the caller's prefix and secret
 * must still be alive) and before the registry serves. Returns 0,
 * CP_ENOMEM or CP_ESYS. */
int cpi_replicas_share_registry(cpi_replicas *r, cp_registry *registry,
                                cp_token_store *tokens);

/* Stops sharing (the registry keeps what it holds) and closes the client. NULL allowed. */
void cpi_replicas_stop(cpi_replicas *r);

void cpi_replicas_stats(cpi_replicas *r, cp_replica_stats *out);

#endif /* CPLUGIN_REPLICA_REPLICAS_H */
