/* Test hooks of push.c (internal; for tests only, never called by the
 * runtime). Plain C types, so that C++ tests may include it. */
#ifndef CPLUGIN_PUSH_PUSH_TESTING_H
#define CPLUGIN_PUSH_PUSH_TESTING_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* While on, a retry (on the housekeeping thread) that finds a stream closed
 * waits until its hub is being stopped before it tells the owner
 * (closed_fn): a retry descheduled at the worst moment, for tests of
 * owners' teardown order. Process-wide. */
void cpi_push_testing_hold_retry_closed(bool on);

/* How many times a retry has waited so (process-wide). */
unsigned cpi_push_testing_retry_holds(void);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_PUSH_PUSH_TESTING_H */
