/* A library for tools/check_exports.sh's self-test: one exported function
 * its header declares, one it does not, and one hidden. */
#include "public.h"

int fixture_internal_helper(int x);

__attribute__((visibility("hidden"))) int cpi_fixture_hidden(int x) {
  return x + 1;
}

int fixture_internal_helper(int x) {
  return cpi_fixture_hidden(x) * 2;
}

int fixture_public_call(void) {
  return fixture_internal_helper(1);
}

int fixture_version(void) {
  return 1;
}
