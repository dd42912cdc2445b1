/* cplugin — RPC status: a gRPC status code and a message.
 *
 * Thread safety: a cp_status is a plain value; the functions here touch only
 * the status passed in and are safe from any thread.
 */
#ifndef CPLUGIN_STATUS_H
#define CPLUGIN_STATUS_H

#include <stdarg.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC status codes (Connect uses the same numbers). */
typedef enum cp_status_code {
  CP_STATUS_OK = 0,
  CP_STATUS_CANCELLED = 1,
  CP_STATUS_UNKNOWN = 2,
  CP_STATUS_INVALID_ARGUMENT = 3,
  CP_STATUS_DEADLINE_EXCEEDED = 4,
  CP_STATUS_NOT_FOUND = 5,
  CP_STATUS_ALREADY_EXISTS = 6,
  CP_STATUS_PERMISSION_DENIED = 7,
  CP_STATUS_RESOURCE_EXHAUSTED = 8,
  CP_STATUS_FAILED_PRECONDITION = 9,
  CP_STATUS_ABORTED = 10,
  CP_STATUS_OUT_OF_RANGE = 11,
  CP_STATUS_UNIMPLEMENTED = 12,
  CP_STATUS_INTERNAL = 13,
  CP_STATUS_UNAVAILABLE = 14,
  CP_STATUS_DATA_LOSS = 15,
  CP_STATUS_UNAUTHENTICATED = 16
} cp_status_code;

/* Number of real status codes (0..16). */
#define CP_STATUS_CODE_COUNT 17

/* Longest message kept, including the terminating NUL; longer messages are
 * truncated. A status therefore never allocates. */
#define CP_STATUS_MESSAGE_MAX 256

typedef struct cp_status {
  cp_status_code code;
  char message[CP_STATUS_MESSAGE_MAX];
} cp_status;

/* Returns the canonical upper-case name ("INVALID_ARGUMENT"), or "UNKNOWN_CODE"
 * for a value outside 0..16. The string is static. */
CP_API const char *cp_status_code_name(cp_status_code code);

/* Sets code and formats message (printf-style; fmt may be NULL for an empty
 * message). Returns code, so a handler can write
 * `return cp_status_set(st, CP_STATUS_NOT_FOUND, "no key %s", k);`. */
CP_API cp_status_code cp_status_set(cp_status *st, cp_status_code code,
                                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* As cp_status_set, with a va_list. */
CP_API cp_status_code cp_status_vset(cp_status *st, cp_status_code code,
                                     const char *fmt, va_list ap);

/* Sets code OK and an empty message. */
CP_API void cp_status_clear(cp_status *st);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_STATUS_H */
