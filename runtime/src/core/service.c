/* Lookups over generated service descriptors. */
#include <string.h>

#include "cplugin/service.h"

const cp_method_desc *cp_service_find_method(const cp_service_desc *service,
                                             const char *path) {
  if (service == NULL || path == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < service->method_count; i++) {
    if (strcmp(service->methods[i]->path, path) == 0) {
      return service->methods[i];
    }
  }
  return NULL;
}
