/* RPC status values: code names and bounded, non-allocating messages. */
#include "cplugin/status.h"

#include <stdio.h>

static const char *const code_names[CP_STATUS_CODE_COUNT] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *cp_status_code_name(cp_status_code code) {
  if ((int)code < 0 || (int)code >= CP_STATUS_CODE_COUNT) {
    return "UNKNOWN_CODE";
  }
  return code_names[code];
}

cp_status_code cp_status_vset(cp_status *st, cp_status_code code,
                              const char *fmt, va_list ap) {
  st->code = code;
  st->message[0] = '\0';
  if (fmt != NULL) {
    /* vsnprintf truncates to the buffer and always terminates it. The NOLINT:
     * clang-tidy 14 wrongly reports the caller's va_list as uninitialised
     * when it analyses several files in one run. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    (void)vsnprintf(st->message, sizeof st->message, fmt, ap);
  }
  return code;
}

cp_status_code cp_status_set(cp_status *st, cp_status_code code,
                             const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cp_status_vset(st, code, fmt, ap);
  va_end(ap);
  return code;
}

void cp_status_clear(cp_status *st) {
  st->code = CP_STATUS_OK;
  st->message[0] = '\0';
}
