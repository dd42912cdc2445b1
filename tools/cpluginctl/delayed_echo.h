/* cpluginctl — an Echo that answers a fixed delay after each call arrived
 * (`cpluginctl provider --delay-ms`), the slow downstream of the fanout
 * preset. No thread waits out the delay: the handler defers its reply
 * (cp_call_defer) and queues it, and one timer thread answers each queued
 * reply when it is due. So the provider's own threads never cap the rate;
 * only the callers' concurrency does (concurrency / delay).
 *
 * Thread safety: the handler runs on any server thread; the count is
 * atomic. create, stop and destroy from one thread.
 */
#ifndef CPLUGINCTL_DELAYED_ECHO_H
#define CPLUGINCTL_DELAYED_ECHO_H

#include <stdint.h>

#include "cplugin/server.h"

typedef struct ctl_delayed_echo ctl_delayed_echo;

/* Starts the timer thread. Returns 0 and *out, CP_ENOMEM or CP_ESYS. */
int ctl_delayed_echo_create(ctl_delayed_echo **out, uint32_t delay_ms);

/* Registers Echo on `server` (which `echo` must outlive until stop).
 * Returns 0 or a CP_E* code. */
int ctl_delayed_echo_register(cp_server *server, ctl_delayed_echo *echo);

/* Answers every queued reply at once and joins the timer thread; calls
 * arriving later are answered UNAVAILABLE at once. Call it after
 * cp_server_shutdown and before cp_server_destroy, which needs every
 * deferred reply answered. Idempotent. */
void ctl_delayed_echo_stop(ctl_delayed_echo *echo);

/* Stops (if needed) and frees. NULL allowed. */
void ctl_delayed_echo_destroy(ctl_delayed_echo *echo);

/* Echo calls answered OK so far (the reply was accepted for sending). */
uint64_t ctl_delayed_echo_ok(const ctl_delayed_echo *echo);

#endif /* CPLUGINCTL_DELAYED_ECHO_H */
