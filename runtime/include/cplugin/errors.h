/* cplugin — library error codes.
 *
 * Library functions return 0 on success or a negative CP_E* code. RPC
 * outcomes are reported separately, as a cp_status (see status.h).
 *
 * Thread safety: everything here is safe to call from any thread.
 */
#ifndef CPLUGIN_ERRORS_H
#define CPLUGIN_ERRORS_H

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message): the one table that defines every code. */
#define CP_ERRNO_MAP(X)                                       \
  X(EINVAL, -1, "invalid argument")                           \
  X(ENOMEM, -2, "out of memory")                              \
  X(ESTATE, -3, "operation not allowed in the current state") \
  X(ECLOSED, -4, "object is closed")                          \
  X(EAGAIN, -5, "resource temporarily full, try again")       \
  X(ETIMEDOUT, -6, "timed out")                               \
  X(EBIND, -7, "cannot listen on the address")                \
  X(ERPC, -8, "the call ended with a non-OK status")          \
  X(EDECODE, -9, "message does not decode")                   \
  X(EEXIST, -10, "already exists")                            \
  X(ENOTFOUND, -11, "not found")                              \
  X(ETOOBIG, -12, "message too large")                        \
  X(ESYS, -13, "system call failed")                          \
  X(ECANCELLED, -14, "cancelled")                             \
  X(ELIMIT, -15, "a configured limit was reached")            \
  X(EDENIED, -16, "not allowed")                              \
  X(EEND, -17, "the stream ended")

enum cp_errno {
#define CP_ERRNO_ENUM_(name, value, msg) CP_##name = (value),
  CP_ERRNO_MAP(CP_ERRNO_ENUM_)
#undef CP_ERRNO_ENUM_
};

/* Returns a static, human-readable message for a code returned by any cplugin
 * function; 0 gives "success", unknown codes give "unknown error". */
CP_API const char *cp_strerror(int err);

/* Returns the code's symbolic name ("CP_EINVAL"); "CP_OK" for 0, "CP_E?" for
 * unknown codes. The string is static. */
CP_API const char *cp_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_ERRORS_H */
