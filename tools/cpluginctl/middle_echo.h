/* cpluginctl — the middle plugin's Echo (`cpluginctl middle`, the fanout
 * preset): each call makes one Echo call routed by the host to another
 * provider and answers with its response (or its error status). Three ways
 * to wait for that downstream call (cplugin/server.h):
 *   deferred  cp_call_defer, then the asynchronous typed stub; the reply is
 *             sent from the downstream call's callback, so no server thread
 *             waits: calls in flight are bounded by the callers only.
 *   pool      the blocking typed stub on a worker pool thread
 *             (cp_server_run_blocking): pool-threads calls at once.
 *   blocking  the blocking typed stub on a completion-queue thread: as many
 *             calls at once as the server has threads.
 * The downstream call inherits what is left of the caller's deadline.
 *
 * Thread safety: the handler runs on any server thread (or pool thread);
 * set the downstream client once, from any thread; the count is atomic.
 */
#ifndef CPLUGINCTL_MIDDLE_ECHO_H
#define CPLUGINCTL_MIDDLE_ECHO_H

#include <stdint.h>

#include "cli.h"
#include "cplugin/client.h"
#include "cplugin/server.h"

typedef struct ctl_middle_echo ctl_middle_echo;

/* Returns the handler's state (free with ctl_middle_echo_destroy) or NULL. */
ctl_middle_echo *ctl_middle_echo_create(ctl_middle_style style);
void ctl_middle_echo_destroy(ctl_middle_echo *echo);

/* Registers Echo on `server` (before cp_server_start) and, for the pool
 * style, marks it with cp_server_run_blocking on a pool of `pool_threads`
 * whose queue never refuses a call (the callers' concurrency bounds it).
 * Returns 0 or a CP_E* code. */
int ctl_middle_echo_register(cp_server *server, ctl_middle_echo *echo,
                             unsigned pool_threads);

/* The client the downstream calls go out on (a routed client of
 * cp_plugin_runtime_route); it must stay open while the server serves.
 * Until it is set, calls are answered UNAVAILABLE. */
void ctl_middle_echo_set_downstream(ctl_middle_echo *echo, cp_client *client);

/* Echo calls answered OK so far. */
uint64_t ctl_middle_echo_ok(const ctl_middle_echo *echo);

#endif /* CPLUGINCTL_MIDDLE_ECHO_H */
