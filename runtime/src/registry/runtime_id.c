/* The self_id inside a runtime ID, for the rules that group the runtimes
 * of one plugin (takeover, allow-list keys, forgotten predecessors). */
#include "registry/registry_internal.h"

size_t cpi_reg_self_id_len(const char *id, size_t len) {
  enum { SUFFIX = 17 }; /* "-" and 16 hex digits */
  if (len <= SUFFIX || id[len - SUFFIX] != '-') {
    return 0;
  }
  for (size_t i = len - SUFFIX + 1; i < len; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return 0;
    }
  }
  return len - SUFFIX;
}
