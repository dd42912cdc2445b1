/* cpluginctl — turns off abseil's mutex deadlock detector in the load
 * generator's own process.
 *
 * Debian's abseil is built without NDEBUG, so every absl::Mutex gRPC locks
 * runs the detector, which records each acquisition in one process-wide
 * graph under one process-wide lock. With thousands of connections (the
 * fleet preset) the generator's sending thread and its completion thread
 * spent most of their time there and in the futex calls of that lock,
 * and fell behind the schedule. The hosts and plugins the tool starts are
 * other processes and keep the detector: they are what is measured, as
 * users run them.
 *
 * Thread safety: call once, before any gRPC thread exists.
 */
#ifndef CPLUGINCTL_ABSL_QUIET_H
#define CPLUGINCTL_ABSL_QUIET_H

#include <stdbool.h>

/* Returns whether the detector was found (by its symbol in the loaded
 * abseil) and switched off; false changes nothing. */
bool ctl_absl_quiet_deadlock_detector(void);

#endif /* CPLUGINCTL_ABSL_QUIET_H */
