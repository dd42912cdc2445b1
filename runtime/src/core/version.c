/* The version of the linked library. */
#include "cplugin/version.h"

const char *cp_version(void) {
  return CP_VERSION_STRING;
}
