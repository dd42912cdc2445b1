/* Registrations shared by host replicas through etcd (internal).
 *
 * Each replica keeps its own registry, read without any network wait as
 * always; this keeps the registries of all replicas alike:
 * - What the local registry adds or removes for a caller is written under
 *   <prefix>reg/<registration ID> by a publisher thread (never on the
 *   RegisterService path): a put, or a delete. Keys have no lease: a
 *   registration lasts until it is removed, or until its owner's identity
 *   ends (revoked, or expired unrenewed), when every replica deletes the
 *   owner's keys it knows.
 * - A mirror of that prefix (etcd/mirror.h) installs what other replicas
 *   added, under the same ID and owner, so that discovery, the router and
 *   watchers see it, and removes what they removed. Ownership holds
 *   everywhere: only the owner (or the host) removes a registration.
 * - Liveness stays local: each replica probes the providers it knows
 *   through etcd like silent ones of its own, unroutes those it cannot
 *   reach and removes them after the grace period, from its own registry
 *   only.
 * - Values are sealed (crypto/seal.h) under a key derived from the shared
 *   secret, so that nobody without it can add a route. A replica whose
 *   secret differs from the others' (the identity sync's check) writes
 *   nothing; what it cannot open it rejects (counted, logged).
 * - While etcd is out of sight, registrations known through it stay: a
 *   provider removed meanwhile fails at its own address, which routing
 *   survives; identities, which guard access, are the ones withdrawn. */
#ifndef CPLUGIN_REPLICA_REGISTRATIONS_H
#define CPLUGIN_REPLICA_REGISTRATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/registry.h"
#include "cplugin/tokens.h"

typedef struct cpi_registration_sync_options {
  cp_client *etcd;        /* not owned; outlives the sync */
  cp_registry *registry;  /* not owned; outlives the sync */
  cp_token_store *tokens; /* the registry's; not owned; outlives the sync */
  const char *prefix;     /* the replicas' common key prefix; copied */
  const void *secret;     /* at least CPI_REPLICA_SECRET_MIN bytes; copied */
  size_t secret_len;
  int64_t call_timeout_ms; /* each etcd call (default 2000) */
  int64_t retry_ms;        /* first wait after a failed write (100) */
  /* 1: this replica's secret is the others' (writes may go), 0: it is
   * not, -1: not known yet. Called from the publisher thread. */
  int (*secret_state)(void *user);
  void *secret_user;
} cpi_registration_sync_options;

typedef struct cpi_registration_sync_stats {
  uint64_t adopted;   /* registrations of other replicas installed */
  uint64_t dropped;   /* their removals applied */
  uint64_t rejected;  /* values that did not open or did not fit */
  uint64_t published; /* writes that landed */
  uint64_t failures;  /* writes that failed (retried) */
  size_t pending;     /* local changes not yet written */
  size_t known;       /* registrations under the prefix in etcd */
} cpi_registration_sync_stats;

void cpi_registration_sync_options_init(cpi_registration_sync_options *opts);

typedef struct cpi_registration_sync cpi_registration_sync;

/* Hooks the registry and the token store, starts the mirror and the
 * publisher. Returns 0, CP_EINVAL, CP_ENOMEM or CP_ESYS. */
int cpi_registration_sync_start(cpi_registration_sync **out,
                                const cpi_registration_sync_options *opts);

/* Unhooks, stops both threads (changes not yet written are lost: their
 * registrations stay here only), frees everything. What the registry
 * holds stays there. NULL allowed. */
void cpi_registration_sync_stop(cpi_registration_sync *sync);

/* Any thread. */
void cpi_registration_sync_get_stats(cpi_registration_sync *sync,
                                     cpi_registration_sync_stats *out);

#endif /* CPLUGIN_REPLICA_REGISTRATIONS_H */
