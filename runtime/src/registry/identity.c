/* Who is calling: the registry's services trust only the identity the auth
 * interceptor recorded, never a header. */
#include <string.h>

#include "cplugin/auth.h"
#include "registry/registry_internal.h"

cp_status_code cpi_reg_identify(cp_registry *reg, cp_call *call,
                                reg_caller *out) {
  const char *provider = NULL;
  const char *id = cp_call_identity(call, &provider);
  out->kind = REG_CALLER_NONE;
  out->id = id;
  out->token = false;
  if (id != NULL && provider != NULL && id[0] != '\0' &&
      strnlen(id, CP_REGISTRY_OWNER_MAX + 1) <= CP_REGISTRY_OWNER_MAX) {
    if (reg->host_provider[0] != '\0' &&
        strcmp(provider, reg->host_provider) == 0) {
      out->kind = REG_CALLER_HOST;
    }
    for (size_t i = 0; i < reg->runtime_provider_count; i++) {
      if (strcmp(provider, reg->runtime_providers[i]) == 0) {
        out->kind = REG_CALLER_RUNTIME;
        out->token = strcmp(provider, "runtime-token") == 0;
      }
    }
  }
  if (out->kind == REG_CALLER_NONE) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "runtime identity required");
  }
  return CP_STATUS_OK;
}

bool cpi_reg_recheck(cp_registry *reg, cp_call *call,
                     const reg_caller *caller) {
  if (caller->kind != REG_CALLER_RUNTIME || !caller->token ||
      cpi_reg_token_still_valid(reg, call)) {
    return true;
  }
  /* Revoked while the call ran: whatever it added is undone, and the
   * listener has removed or will remove the rest. */
  cpi_reg_drop_runtime(reg, caller->id, CP_STATUS_UNAUTHENTICATED,
                       "runtime identity revoked");
  return false;
}

void cpi_reg_principal(cp_registry *reg, cp_call *call,
                       const reg_caller *caller,
                       char out[CP_PRINCIPAL_MAX + 1]) {
  out[0] = '\0';
  if (caller->kind != REG_CALLER_RUNTIME) {
    return;
  }
  if (caller->token) {
    /* Anonymous as well when the registry cannot see the token store. */
    if (reg->tokens == NULL ||
        cp_token_store_principal(reg->tokens, caller->id, out) != 0) {
      out[0] = '\0';
    }
    return;
  }
  if (cp_call_principal(call, out) != 0) {
    out[0] = '\0';
  }
}
