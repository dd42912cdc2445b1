/* Who may call the admin service; see admin_internal.h. A leaf: the
 * handlers call it, and it calls nothing of theirs. */
#include <string.h>

#include "admin/admin_internal.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"

cp_status_code cpi_admin_authorize(cp_admin *admin, cp_call *call,
                                   char principal[CP_PRINCIPAL_MAX + 1]) {
  const char *provider = NULL;
  if (cp_call_identity(call, &provider) == NULL) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "authentication required");
  }
  int rc = cp_call_principal(call, principal);
  if (rc == CP_ENOTFOUND) {
    /* A runtime token: a plugin, never an operator. */
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                         "admin methods need an admin principal; runtime "
                         "tokens are not accepted");
  }
  if (rc == 0) {
    for (size_t i = 0; i < admin->principal_count; i++) {
      if (strcmp(admin->principals[i], principal) == 0) {
        return CP_STATUS_OK;
      }
    }
  }
  cp_log(CP_LOG_WARN, "admin call denied", "method", cp_call_path(call),
         "principal", rc == 0 ? principal : "", CP_LOG_END);
  return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                       "not an admin principal");
}
