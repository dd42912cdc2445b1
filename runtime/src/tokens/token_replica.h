/* The token store's side of host replicas (internal): how a replica learns
 * of the identities its store issues, refreshes and revokes, and how it
 * installs the identities other replicas issued.
 *
 * Identities taken in with cpi_token_store_adopt validate exactly like
 * local ones (the same lock-free path); the replicator is told of local
 * changes only, never of adopted or dropped ones, so nothing echoes. */
#ifndef CPLUGIN_TOKENS_TOKEN_REPLICA_H
#define CPLUGIN_TOKENS_TOKEN_REPLICA_H

#include <stdint.h>

#include "cplugin/tokens.h"

enum { CPI_TOKEN_BYTES = 32 };

/* One identity's whole state. Times are on the store's clock. */
typedef struct cpi_token_record {
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  char principal[CP_PRINCIPAL_MAX + 1]; /* "" = anonymous */
  uint8_t token[CPI_TOKEN_BYTES];
  int64_t expires_ns;
  uint8_t prev_token[CPI_TOKEN_BYTES]; /* the token a refresh replaced */
  int64_t prev_expires_ns;             /* INT64_MIN: none */
} cpi_token_record;

typedef enum cpi_token_change {
  CPI_TOKEN_PUT = 1, /* issued or refreshed: the record is complete */
  CPI_TOKEN_GONE = 2 /* revoked: only runtime_id is set */
} cpi_token_change;

/* Runs after the change, on the thread that made it, with no store lock
 * but the replicator's own held: it must be quick and must not call back
 * into the store. The record lives for the call only (it holds secrets:
 * copy what is needed, nothing more). */
typedef void (*cpi_token_replicator_fn)(cpi_token_change change,
                                        const cpi_token_record *rec,
                                        void *user);

/* Sets (fn non-NULL) or clears the one replicator. Clearing waits for a
 * call in progress, so `user` may be freed once it returns. */
void cpi_token_store_set_replicator(cp_token_store *store,
                                    cpi_token_replicator_fn fn, void *user);

/* Installs `rec` as the identity's state: inserted when absent, both
 * tokens replaced when present (its principal stays). Listeners and the
 * replicator are not told. Returns 0; CP_EINVAL for a malformed runtime ID
 * or principal, an expired record, or a runtime ID whose suffix another
 * name holds; CP_ELIMIT when max_tokens are live (no sweep is run: this
 * calls nothing back). */
int cpi_token_store_adopt(cp_token_store *store, const cpi_token_record *rec);

/* Removes an identity another replica revoked: listeners are told
 * (CP_TOKEN_REVOKED), the replicator is not. Returns 0 or CP_ENOTFOUND. */
int cpi_token_store_drop(cp_token_store *store, const char *runtime_id);

/* Removes an identity without telling anyone: it is not revoked, only no
 * longer known here (a replica that lost sight of the shared state).
 * Returns 0 or CP_ENOTFOUND. */
int cpi_token_store_forget(cp_token_store *store, const char *runtime_id);

/* The store's clock, for converting record times. */
int64_t cpi_token_store_now_ns(const cp_token_store *store);

#endif /* CPLUGIN_TOKENS_TOKEN_REPLICA_H */
