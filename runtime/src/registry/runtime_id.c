/* The self_id inside a runtime ID, for the rules that group the runtimes
 * of one plugin (takeover, allow-list keys, forgotten predecessors). */
#include <string.h>

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

bool cpi_reg_same_plugin(const rt_entry *rt, size_t name_len, const char *id,
                         size_t id_len, bool principal_set,
                         uint64_t principal_hash) {
  return principal_set && principal_hash == rt->principal_hash &&
         cpi_reg_self_id_len(id, id_len) == name_len &&
         memcmp(id, rt->id, name_len) == 0;
}
