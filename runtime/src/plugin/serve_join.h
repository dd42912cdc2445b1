/* Joining the host at a served plugin's start, waiting for a host that is
 * not up yet (internal; cp_plugin_serve). */
#ifndef CPLUGIN_PLUGIN_SERVE_JOIN_H
#define CPLUGIN_PLUGIN_SERVE_JOIN_H

#include <signal.h>
#include <stdint.h>

#include "cplugin/plugin_runtime.h"

/* cpi_serve_join's result when a signal of `stop` ended the wait. */
enum { SERVE_JOIN_STOPPED = 1 };

/* Starts the runtime with its registrations held
 * (cpi_plugin_runtime_start_held); while the host cannot be reached
 * (UNAVAILABLE, DEADLINE_EXCEEDED) retries after 100 ms, doubling to 5 s,
 * for up to `wait_ms` (-1: no limit), waiting for the signals of `stop`
 * (blocked by the caller) in between. Returns 0 with *rt set,
 * SERVE_JOIN_STOPPED when such a signal arrived, or the last start's error
 * (logged). */
int cpi_serve_join(cp_plugin_runtime **rt, const cp_plugin_runtime_options *ro,
                   int64_t wait_ms, const sigset_t *stop);

/* Then registers the provided services (cpi_rt_register_held), retrying in
 * the same way while the host cannot be reached or is recovering the
 * identity (UNAUTHENTICATED). Same results. */
int cpi_serve_register(cp_plugin_runtime *rt, int64_t wait_ms,
                       const sigset_t *stop);

#endif /* CPLUGIN_PLUGIN_SERVE_JOIN_H */
