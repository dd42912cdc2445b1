/* Library error codes: names and messages from the one table in errors.h. */
#include "cplugin/errors.h"

const char *cp_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define CP_ERRNO_MSG_(name, value, msg) \
  case (value):                         \
    return (msg);
      CP_ERRNO_MAP(CP_ERRNO_MSG_)
#undef CP_ERRNO_MSG_
    default:
      return "unknown error";
  }
}

const char *cp_err_name(int err) {
  switch (err) {
    case 0:
      return "CP_OK";
#define CP_ERRNO_NAME_(name, value, msg) \
  case (value):                          \
    return "CP_" #name;
      CP_ERRNO_MAP(CP_ERRNO_NAME_)
#undef CP_ERRNO_NAME_
    default:
      return "CP_E?";
  }
}
