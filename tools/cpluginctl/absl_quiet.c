/* abseil's deadlock detector, off (absl_quiet.h). */
#include "absl_quiet.h"

#include <dlfcn.h>
#include <stddef.h>

/* absl::debian3::SetMutexDeadlockDetectionMode(OnDeadlockCycle), the C++
 * name of the Debian 12 build (inline namespace "debian3"). The enum's
 * kIgnore is 0; its underlying type is int. */
static const char kSetModeSymbol[] =
    "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE";
enum { ON_DEADLOCK_CYCLE_IGNORE = 0 };

bool ctl_absl_quiet_deadlock_detector(void) {
  void (*set_mode)(int) = NULL;
  /* POSIX's way to turn dlsym's object pointer into a function pointer. */
  *(void **)(&set_mode) = dlsym(RTLD_DEFAULT, kSetModeSymbol);
  if (set_mode == NULL) {
    return false;
  }
  set_mode(ON_DEADLOCK_CYCLE_IGNORE);
  return true;
}
