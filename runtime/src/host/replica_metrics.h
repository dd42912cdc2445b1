/* The host's metrics of its link to its replicas through etcd (internal). */
#ifndef CPLUGIN_HOST_REPLICA_METRICS_H
#define CPLUGIN_HOST_REPLICA_METRICS_H

#include "cplugin/metric_registry.h"
#include "replica/replicas.h"

/* Adds the cplugin_replica_* families, read at each scrape. Returns 0 or
 * a cp_metric_family_create error. */
int cpi_host_attach_replica_metrics(cp_metric_registry *registry,
                                    cpi_replicas *replicas);

#endif /* CPLUGIN_HOST_REPLICA_METRICS_H */
