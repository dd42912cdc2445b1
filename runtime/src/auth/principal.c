/* The call's authenticated principal: what authorization keys on, as
 * opposed to what a caller claims about itself (a self_id). */
#include <stdio.h>
#include <string.h>

#include "cplugin/auth.h"
#include "cplugin/errors.h"

int cp_call_principal(const cp_call *call, char out[CP_PRINCIPAL_MAX + 1]) {
  if (call == NULL || out == NULL) {
    return CP_EINVAL;
  }
  out[0] = '\0';
  const char *provider = NULL;
  const char *identity = cp_call_identity(call, &provider);
  if (identity == NULL || identity[0] == '\0' || provider == NULL ||
      provider[0] == '\0' || strcmp(provider, "runtime-token") == 0) {
    return CP_ENOTFOUND;
  }
  int n = snprintf(out, CP_PRINCIPAL_MAX + 1, "%s:%s", provider, identity);
  if (n < 0 || n > CP_PRINCIPAL_MAX) {
    out[0] = '\0';
    return CP_ETOOBIG;
  }
  return 0;
}
