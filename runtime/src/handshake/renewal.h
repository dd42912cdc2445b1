/* Identity renewal on the Handshake call (internal): a plugin that proves
 * its current identity gets a fresh token for the same runtime ID, and every
 * response that carries a token says how long it lives. See
 * cplugin/handshake.h, "Renewal", and docs/wire-notes.md. */
#ifndef CPLUGIN_HANDSHAKE_RENEWAL_H
#define CPLUGIN_HANDSHAKE_RENEWAL_H

#include "cplugin/call.h"
#include "cplugin/tokens.h"
#include "plugin/v1/handshake.cplugin.h"

/* The runtime ID a request asks to renew (client_metadata
 * CP_HANDSHAKE_RENEW_KEY), or NULL for a plain handshake. */
const char *cpi_hs_renewal_target(
    const Connectplugin__V1__HandshakeRequest *req);

/* Renews `runtime_id` when the call was authenticated as exactly that
 * identity and `self_id` names it; fills resp's runtime_id and token. */
cp_status_code cpi_hs_renew_identity(
    cp_token_store *tokens, cp_call *call, const char *self_id,
    const char *runtime_id, Connectplugin__V1__HandshakeResponse *resp);

/* Sets resp->server_metadata to `shared` plus the token lifetime entry (when
 * the response carries a token), in per-call memory. */
cp_status_code cpi_hs_set_metadata(
    cp_token_store *tokens, cp_call *call,
    Connectplugin__V1__HandshakeResponse__ServerMetadataEntry **shared,
    size_t shared_count, Connectplugin__V1__HandshakeResponse *resp);

#endif /* CPLUGIN_HANDSHAKE_RENEWAL_H */
