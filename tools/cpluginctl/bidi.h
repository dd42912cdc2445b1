/* cpluginctl — the bidi preset's engine: ping-pong on bidirectional
 * LoadService/Chat streams, routed through the host and straight to the
 * provider, in one run.
 *
 * Each of plan->plugins simulated plugins (own identity, own connections)
 * opens two Chat streams: one to the host with its token and
 * `x-cplugin-service-type` (the host's router relays it to the provider),
 * one to the provider with `x-plugin-caller-id` only, as the router's
 * forwarded calls carry. One thread per plugin then sends a message, waits
 * for its echo and records the round trip, again and again. The client
 * stubs block, so a thread per stream is the simplest honest client; the
 * count stays small (CTL_MAX_STREAMS).
 *
 * The kinds alternate in slices of plan->slice_ms over plan->duration_s (all
 * threads switch at the same instants: routed, direct, routed, ...), so both
 * see the same machine, noise included; the idle stream of each plugin
 * waits open meanwhile. A message belongs to the kind whose slice it was
 * sent in; a phase's time is the sum of its slices, so messages/s is
 * echoes / that time. Before the clock starts, every stream carries one
 * unmeasured message, so no measured message pays for opening a stream or
 * the router's resolve.
 *
 * Phases: one per kind (plan->kind_names). A phase's `sent` counts messages
 * sent, `status` one entry per message (OK: its echo came back; otherwise
 * the code its stream ended with, for the message in flight then), the
 * histograms the round trip of each; `streams`/`streams_ok` count the
 * streams and those that ended with OK after the client half-closed at the
 * end.
 *
 * Bounds: each stream's deadline is duration_s + timeout_ms; on SIGINT or
 * SIGTERM the threads stop after their message in flight, and streams still
 * busy a second later (timeout_ms + 2 s at the normal end) are cancelled.
 *
 * Thread safety: ctl_run_bidi from one thread (the one that takes stop
 * signals); it blocks until the run is over.
 */
#ifndef CPLUGINCTL_BIDI_H
#define CPLUGINCTL_BIDI_H

#include <stddef.h>

#include "loadgen.h"

/* Handshakes the plugins, opens and warms the streams, runs, fills `out`
 * (free it with ctl_result_free, also after a failure). Returns 0 — also
 * for an interrupted run — or -1 with a reason in `err` when the run could
 * not start (unreachable, a stream refused, out of memory). */
int ctl_run_bidi(const ctl_plan *plan, ctl_result *out, char *err,
                 size_t err_len);

#endif /* CPLUGINCTL_BIDI_H */
