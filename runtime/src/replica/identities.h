/* Runtime identities shared by host replicas through etcd (internal).
 *
 * Each replica keeps its own token store, validated lock-free as always;
 * this keeps the stores of all replicas alike:
 * - What the local store issues, refreshes or revokes is written under
 *   <prefix>id/<runtime ID> by a publisher thread (never on the handshake's
 *   path): one put, on a lease that ends soon after the identity does (a
 *   lease per window of expiry times, about 1/16 of a lifetime wide, shared
 *   by the identities in it), so etcd drops it when it expires; a delete
 *   when it is revoked. A refresh only lands
 *   while the key exists (a transaction), so a revocation elsewhere is
 *   never undone by a late refresh; the refresher then drops it too.
 * - A mirror of that prefix (etcd/mirror.h) installs what other replicas
 *   wrote into the local store, and removes what they revoked.
 * - Values are sealed (crypto/seal.h) under a key derived from the
 *   replicas' shared secret and bound to their key, so etcd never holds a
 *   token in clear, and a value written without the secret, copied to
 *   another key or altered is rejected (counted, logged), never installed.
 *   <prefix>secret-check, written by the first replica, tells a replica
 *   started with another secret: it logs an error and keeps to itself.
 * - Revocations reach every replica within a second: when the mirror has
 *   not heard etcd for stale_ms (a partition, etcd down), every identity
 *   known through etcd leaves the local store (listeners are not told: it
 *   is not revoked), and comes back, as etcd then has it, once the mirror
 *   is current again. Identities issued meanwhile stay: nobody else knows
 *   them yet.
 *
 * Expiry crosses replicas as wall-clock time, so a replica whose clock is
 * off by d sees another's identities expire d early or late; the etcd
 * lease bounds the error (it is timed by etcd). */
#ifndef CPLUGIN_REPLICA_IDENTITIES_H
#define CPLUGIN_REPLICA_IDENTITIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/tokens.h"

/* Shortest shared secret accepted, in bytes. */
#define CPI_REPLICA_SECRET_MIN 16

typedef struct cpi_identity_sync_options {
  cp_client *etcd;        /* not owned; outlives the sync */
  cp_token_store *tokens; /* not owned; outlives the sync */
  const char *prefix;     /* the replicas' common key prefix; copied */
  const void *secret;     /* at least CPI_REPLICA_SECRET_MIN bytes; copied */
  size_t secret_len;
  int64_t stale_ms;        /* default 1000; 0 = keep them (no bound) */
  int64_t call_timeout_ms; /* each etcd call (default 2000) */
  int64_t retry_ms;        /* first wait after a failed write (100) */
} cpi_identity_sync_options;

typedef struct cpi_identity_sync_stats {
  uint64_t adopted;   /* identities installed from etcd */
  uint64_t dropped;   /* revocations from etcd applied */
  uint64_t rejected;  /* values under the prefix that did not open */
  uint64_t published; /* writes that landed */
  uint64_t failures;  /* writes that failed (retried) */
  size_t pending;     /* local changes not yet written */
  size_t known;       /* identities known through etcd */
  bool stale;         /* out of sight of etcd: they are withdrawn */
  int secret;         /* 1 matches, 0 differs, -1 not checked yet */
} cpi_identity_sync_stats;

void cpi_identity_sync_options_init(cpi_identity_sync_options *opts);

typedef struct cpi_identity_sync cpi_identity_sync;

/* Starts the mirror and the publisher, and hooks the store. Returns 0,
 * CP_EINVAL, CP_ENOMEM or CP_ESYS. */
int cpi_identity_sync_start(cpi_identity_sync **out,
                            const cpi_identity_sync_options *opts);

/* Unhooks the store, stops both threads (changes not yet written are
 * lost: their identities live on here only), frees everything. NULL
 * allowed. */
void cpi_identity_sync_stop(cpi_identity_sync *sync);

/* The secret check's answer (cpi_identity_sync_stats.secret), cheaply.
 * Any thread. */
int cpi_identity_sync_secret(cpi_identity_sync *sync);

/* Any thread. */
void cpi_identity_sync_get_stats(cpi_identity_sync *sync,
                                 cpi_identity_sync_stats *out);

#endif /* CPLUGIN_REPLICA_IDENTITIES_H */
