/* The warning that plaintext gRPC leaves this machine: once per process and
 * role, so a host that creates many clients does not flood its log. */
#include "transport/plaintext_warning.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>

#include "cplugin/log.h"
#include "cplugin/tls.h"
#include "transport/address.h"

static atomic_bool warned[CP_PLAINTEXT_ROLE_COUNT];

bool cpi_plaintext_warning_silenced(void) {
  const char *v = getenv(CP_TLS_WARNING_ENV);
  return v != NULL && (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                       strcasecmp(v, "yes") == 0);
}

void cpi_plaintext_warn(cp_plaintext_role role, const char *address) {
  if ((unsigned)role >= CP_PLAINTEXT_ROLE_COUNT ||
      cpi_address_is_local(address) || cpi_plaintext_warning_silenced()) {
    return;
  }
  if (atomic_exchange(&warned[role], true)) {
    return;
  }
  if (role == CP_PLAINTEXT_CLIENT) {
    cp_log(CP_LOG_WARN, "plaintext gRPC to a non-loopback address; use TLS",
           "target", address, CP_LOG_END);
  } else {
    cp_log(CP_LOG_WARN,
           "plaintext gRPC listener on a non-loopback address; use TLS",
           "address", address, CP_LOG_END);
  }
}

void cpi_plaintext_warning_reset(void) {
  for (int i = 0; i < CP_PLAINTEXT_ROLE_COUNT; i++) {
    atomic_store(&warned[i], false);
  }
}
