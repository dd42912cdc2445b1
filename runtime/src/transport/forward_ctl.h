/* What the owner of a forward may set on it (internal; free of gRPC headers,
 * so the router may use it). Both are called right after cp_call_forward
 * returned 0, from the same fallback. */
#ifndef CPLUGIN_TRANSPORT_FORWARD_CTL_H
#define CPLUGIN_TRANSPORT_FORWARD_CTL_H

#include <stdint.h>

#include "cplugin/call.h"

/* The deadline of the call to the target (monotonic ns, as
 * cp_call_deadline_ns). The caller's own deadline still applies when it is
 * earlier (gRPC propagation takes the earlier of the two). */
void cpi_call_forward_set_deadline(cp_call *call, int64_t deadline_ns);

/* Runs done(user) exactly once, when the forward has ended (on one of the
 * server's queue threads, after the caller got its final status). */
void cpi_call_forward_on_done(cp_call *call, void (*done)(void *user),
                              void *user);

/* Ends a forwarded call from any thread: the caller gets `code` and
 * `message` (a literal), the target call is cancelled. The call must not
 * have been freed: its owner keeps it alive until the done callback ran
 * (cpi_call_forward_on_done), e.g. by holding a lock there. */
void cpi_call_forward_cancel(cp_call *call, cp_status_code code,
                             const char *message);

#endif /* CPLUGIN_TRANSPORT_FORWARD_CTL_H */
