/* cpluginctl — stop requests (SIGINT, SIGTERM). main.c blocks both in every
 * thread; these functions take them synchronously with sigtimedwait, so a
 * waiting thread doubles as the signal handler and nothing runs in signal
 * context.
 *
 * Thread safety: call from one thread (the one that waits); the latched
 * flag is atomic, so ctl_stop_latched may be read from any thread.
 */
#ifndef CPLUGINCTL_SIGNALS_H
#define CPLUGINCTL_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Waits up to timeout_ns (0 = just look) for SIGINT or SIGTERM. Returns true
 * when one arrived now or earlier (the request is latched). */
bool ctl_stop_wait(int64_t timeout_ns);

/* Blocks until SIGINT or SIGTERM (or returns at once if one was latched);
 * returns the signal number. */
int ctl_stop_wait_forever(void);

/* Whether a stop was requested (latched by the functions above). */
bool ctl_stop_latched(void);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t ctl_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGINCTL_SIGNALS_H */
