/* cpluginctl — the LoadService handlers that `serve` and `provider`
 * register: Echo answers with the request's payload; Chat (bidirectional)
 * echoes each message's payload as it comes. The counter counts the Echo
 * calls answered OK plus the Chat messages echoed (the SERVED ok=<n> line).
 *
 * Thread safety: the handler runs on any server thread; the count is atomic.
 */
#ifndef CPLUGINCTL_ECHO_HANDLER_H
#define CPLUGINCTL_ECHO_HANDLER_H

#include <stdint.h>

#include "cplugin/server.h"

/* The method's path, as rate-limit rules and routing see it. */
#define CTL_ECHO_PATH "/cplugin.load.v1.LoadService/Echo"
#define CTL_LOAD_SERVICE_PATH "/cplugin.load.v1.LoadService/"

typedef struct ctl_echo_counter ctl_echo_counter;

/* Returns a counter (free with ctl_echo_counter_destroy) or NULL. */
ctl_echo_counter *ctl_echo_counter_create(void);
void ctl_echo_counter_destroy(ctl_echo_counter *counter);

/* Registers Echo and Chat on `server`, counting into `counter` (which must outlive
 * the server). Returns 0 or a CP_E* code. */
int ctl_echo_register(cp_server *server, ctl_echo_counter *counter);

/* Echo calls completed with OK plus Chat messages echoed so far. */
uint64_t ctl_echo_ok(const ctl_echo_counter *counter);

#endif /* CPLUGINCTL_ECHO_HANDLER_H */
