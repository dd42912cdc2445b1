/* Live runtime identities per client address (internal): the handshake
 * reserves a place before it issues an identity, and the identity's
 * revocation or expiry (a token-store listener) gives the place back. So
 * one address cannot mint identities until the global caps on tokens,
 * watchers and registrations are exhausted for everyone. */
#ifndef CPLUGIN_HANDSHAKE_IDENTITY_QUOTA_H
#define CPLUGIN_HANDSHAKE_IDENTITY_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

#include "cplugin/tokens.h"

typedef struct id_quota id_quota;

/* Subscribes to `tokens` (one of its 16 listener places). Returns 0,
 * CP_ENOMEM or CP_ELIMIT. */
int cpi_id_quota_create(id_quota **out, cp_token_store *tokens,
                        size_t per_address);

/* Unsubscribes (waiting for a listener call in progress), then frees. */
void cpi_id_quota_destroy(id_quota *q);

/* Takes a place for `address`; false when it has per_address live
 * identities already (or out of memory). */
bool cpi_id_quota_reserve(id_quota *q, const char *address);

/* Gives back a place taken by cpi_id_quota_reserve that no identity used. */
void cpi_id_quota_cancel(id_quota *q, const char *address);

/* Ties the place taken for `address` to the identity issued with it. Then
 * checks that the identity still validates: one revoked between issue and
 * bind (its listener call found nothing to release) is released here. */
void cpi_id_quota_bind(id_quota *q, const char *address, const char *runtime_id,
                       const char *token);

/* Live identities counted for `address` (for tests and stats). */
size_t cpi_id_quota_count(id_quota *q, const char *address);

#endif /* CPLUGIN_HANDSHAKE_IDENTITY_QUOTA_H */
