/* Routed-call targets from a caller's path and metadata, and provider
 * addresses from a registration. */
#include "fuzz_input.h"
#include "core/validate.h"
#include "router/route_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *a = NULL;
  char *b = NULL;
  fuzz_split(data, size, &a, &b);
  cp_route r;
  if (cpi_route_from_path(a, &r)) {
    (void)cpi_route_path_under(r.method_path, b);
    (void)cpi_path_reserved(r.method_path);
  }
  (void)cpi_route_from_metadata(a, b, strlen(b), b, strlen(b) / 2, &r);
  char out[300];
  bool tls = false;
  (void)cpi_route_target_address(a, out, sizeof out, &tls);
  (void)cpi_route_target_address(b, out, 8, &tls);
  free(a);
  free(b);
  return 0;
}
