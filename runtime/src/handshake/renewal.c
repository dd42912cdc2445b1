/* Identity renewal on the Handshake call: same runtime ID, fresh token. */
#include "handshake/renewal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cplugin/errors.h"
#include "cplugin/handshake.h"
#include "cplugin/log.h"

enum { SUFFIX_LEN = 17 /* "-" + 16 hex */ };

const char *cpi_hs_renewal_target(
    const Connectplugin__V1__HandshakeRequest *req) {
  for (size_t i = 0; i < req->n_client_metadata; i++) {
    const char *key = req->client_metadata[i]->key;
    if (key != NULL && strcmp(key, CP_HANDSHAKE_RENEW_KEY) == 0) {
      const char *v = req->client_metadata[i]->value;
      return v != NULL ? v : "";
    }
  }
  return NULL;
}

/* The runtime ID is "<self_id lower-cased>-<16 hex>". */
static bool names_identity(const char *self_id, const char *runtime_id) {
  size_t n = strlen(self_id);
  return strlen(runtime_id) == n + SUFFIX_LEN &&
         strncasecmp(runtime_id, self_id, n) == 0 && runtime_id[n] == '-';
}

/* True when the auth interceptor validated the call's runtime token for
 * exactly `runtime_id` (Handshake is CP_AUTH_OPTIONAL: a token that does
 * not validate leaves the call without an identity). */
static bool proves_identity(const cp_call *call, const char *runtime_id) {
  const char *provider = NULL;
  const char *identity = cp_call_identity(call, &provider);
  return identity != NULL && provider != NULL &&
         strcmp(provider, "runtime-token") == 0 &&
         strcmp(identity, runtime_id) == 0;
}

cp_status_code cpi_hs_renew_identity(
    cp_token_store *tokens, cp_call *call, const char *self_id,
    const char *runtime_id, Connectplugin__V1__HandshakeResponse *resp) {
  if (tokens == NULL) {
    return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                         "this server does not issue runtime identities");
  }
  if (!cp_self_id_valid(self_id) || !names_identity(self_id, runtime_id)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "renewal: self_id must name the runtime ID renewed");
  }
  /* One answer for every credential that does not prove the identity, as
   * the auth interceptor gives: nothing tells a prober which part failed. */
  static const char refused[] =
      "runtime identity renewal refused: handshake without renew_runtime_id "
      "for a new identity";
  if (!proves_identity(call, runtime_id)) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED, "%s", refused);
  }
  size_t id_len = strlen(runtime_id);
  char *id = cp_call_alloc(call, id_len + 1);
  char *token = cp_call_alloc(call, CP_TOKEN_LEN + 1);
  if (id == NULL || token == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  memcpy(id, runtime_id, id_len + 1);
  int rc = cp_token_store_refresh(tokens, runtime_id, token);
  if (rc == CP_ENOTFOUND) {
    /* Revoked or expired since the interceptor checked it. */
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED, "%s", refused);
  }
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_INTERNAL,
                         "failed to renew runtime identity: %s",
                         cp_strerror(rc));
  }
  resp->runtime_id = id;
  resp->runtime_token = token;
  cp_log(CP_LOG_DEBUG, "runtime identity renewed", "runtime_id", id,
         CP_LOG_END);
  return CP_STATUS_OK;
}

cp_status_code cpi_hs_set_metadata(
    cp_token_store *tokens, cp_call *call,
    Connectplugin__V1__HandshakeResponse__ServerMetadataEntry **shared,
    size_t shared_count, Connectplugin__V1__HandshakeResponse *resp) {
  resp->server_metadata = shared;
  resp->n_server_metadata = shared_count;
  if (resp->runtime_token == NULL || resp->runtime_token[0] == '\0' ||
      tokens == NULL) {
    return CP_STATUS_OK;
  }
  Connectplugin__V1__HandshakeResponse__ServerMetadataEntry **all =
      cp_call_alloc(call, (shared_count + 1) * sizeof *all);
  Connectplugin__V1__HandshakeResponse__ServerMetadataEntry *ttl =
      cp_call_alloc(call, sizeof *ttl);
  char *value = cp_call_alloc(call, 24);
  if (all == NULL || ttl == NULL || value == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  connectplugin__v1__handshake_response__server_metadata_entry__init(ttl);
  snprintf(value, 24, "%" PRId64, cp_token_store_ttl_ms(tokens));
  ttl->key = (char *)CP_HANDSHAKE_TOKEN_TTL_KEY;
  ttl->value = value;
  if (shared_count > 0) {
    memcpy(all, shared, shared_count * sizeof *all);
  }
  all[shared_count] = ttl;
  resp->server_metadata = all;
  resp->n_server_metadata = shared_count + 1;
  return CP_STATUS_OK;
}
