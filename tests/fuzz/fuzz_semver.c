/* Versions from registrations and discovery requests. */
#include "fuzz_input.h"
#include "core/semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *a = NULL;
  char *b = NULL;
  fuzz_split(data, size, &a, &b);
  if (cpi_semver_valid(a) && cpi_semver_valid(b)) {
    int ab = cpi_semver_compare(a, b);
    int ba = cpi_semver_compare(b, a);
    /* Antisymmetric, and equal to itself. */
    if ((ab > 0) != (ba < 0) || (ab == 0) != (ba == 0) ||
        cpi_semver_compare(a, a) != 0) {
      abort();
    }
  }
  free(a);
  free(b);
  return 0;
}
