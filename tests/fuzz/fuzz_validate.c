/* The registry's and health service's input rules: identifiers, versions,
 * endpoint paths, metadata, health reports, UTF-8 and the base_url policy. */
#include "core/validate.h"
#include "cplugin/registry.h"
#include "fuzz_input.h"
#include "registry/base_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)cpi_utf8_valid((const char *)data, size);
  char *a = NULL;
  char *b = NULL;
  fuzz_split(data, size, &a, &b);
  (void)cpi_check_service_type(a);
  (void)cpi_check_version(a);
  (void)cpi_check_endpoint_path(a);
  (void)cpi_check_metadata_entry(a, b);
  (void)cpi_path_reserved(a);
  char why[160];
  const char *deps[2] = {a, b};
  (void)cpi_check_health_report(size > 0 ? data[0] % 5 : 0, b, deps, 2, why,
                                sizeof why);
  unsigned allow = size > 1 ? data[1] : 0;
  reg_base_url_verdict v = cpi_reg_check_base_url(allow, a, b, why, sizeof why);
  if (v != REG_URL_OK && strlen(why) == 0) {
    abort(); /* a refusal always says why */
  }
  free(a);
  free(b);
  return 0;
}
