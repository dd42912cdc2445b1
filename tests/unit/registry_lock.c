/* The registry's lock for registry_test.cc, which holds it to decide which
 * thread sees a closed watch stream first. In C: the registry's internal
 * header is C11 (stdatomic.h), not C++. */
#include "registry/registry_internal.h"

void registry_test_wrlock(cp_registry *reg);
void registry_test_wrunlock(cp_registry *reg);

void registry_test_wrlock(cp_registry *reg) {
  cpi_rwshard_wrlock(&reg->lock);
}

void registry_test_wrunlock(cp_registry *reg) {
  cpi_rwshard_wrunlock(&reg->lock);
}
