/* Hooks for host replicas sharing one registry through etcd (internal;
 * replica/registrations.h is their user).
 *
 * A replicator is told of every registration this registry adds for a
 * caller (a runtime over RPC, or the host) and of every one it removes,
 * except the ones it adopted or dropped through this header and the ones
 * its liveness sweep removed (each replica judges liveness for itself:
 * a provider gone from here may still be reachable from another replica).
 * Registrations whose base_url is "inproc:..." name a plugin inside this
 * host process and are never replicated. */
#ifndef CPLUGIN_REGISTRY_REGISTRY_REPLICA_H
#define CPLUGIN_REGISTRY_REGISTRY_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "cplugin/registry.h"

/* One registration as the replicator sees it: all pointers are borrowed
 * for the call only. For a removal, only id and owner are set. */
typedef struct cpi_reg_record {
  uint64_t id;
  const char *owner;       /* the owning runtime ID */
  cp_registry_service svc; /* metadata in registration order */
} cpi_reg_record;

/* Called with the registry's write lock held: it must not call the
 * registry, block, or take a lock that is held while calling it. */
typedef void (*cpi_reg_replicator_fn)(bool added, const cpi_reg_record *rec,
                                      void *user);

/* Sets (fn NULL: clears) the replicator. Once this returns, a cleared one
 * is not called any more. */
void cpi_registry_set_replicator(cp_registry *reg, cpi_reg_replicator_fn fn,
                                 void *user);

/* Installs a registration another replica added, under its ID, without
 * telling the replicator: validated as over RPC, counted against the caps,
 * its owner not proven alive here (liveness probes it like any silent
 * provider). An ID already present is left as it is. Returns 0, CP_EINVAL,
 * CP_ELIMIT or CP_ENOMEM. */
int cpi_registry_adopt(cp_registry *reg, uint64_t id, const char *owner,
                       const cp_registry_service *svc, char *why,
                       size_t why_cap);

/* Removes a registration another replica removed, without telling the
 * replicator. Returns 0 or CP_ENOTFOUND. */
int cpi_registry_drop(cp_registry *reg, uint64_t id);

#endif /* CPLUGIN_REGISTRY_REGISTRY_REPLICA_H */
