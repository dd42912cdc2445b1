/* cpluginctl — the load generator's engine: sends Echo calls from simulated
 * plugins on a schedule and measures them.
 *
 * Modes:
 *   open loop  calls go out on a fixed schedule (a rate per segment,
 *              constant or ramping linearly) whether or not earlier calls
 *              finished; a call's latency runs from its SCHEDULED send time,
 *              so a stall anywhere (host, network, this process) shows in
 *              the latency of every call it delayed (coordinated omission
 *              corrected by construction).
 *   closed loop `concurrency` calls in flight; each completion starts the
 *              next; latency from the actual send.
 *   volley     `volley` calls, all scheduled at the same instant; latency
 *              from that instant.
 * Slots are spread round-robin over the plugins; with two call kinds (the
 * routed preset) consecutive slots alternate between them, so each plugin
 * sends both at the same rate. Each (segment, kind) pair is a phase with its
 * own figures.
 *
 * Bounds: never more than max_inflight calls in flight (a slot that finds
 * the cap reached is counted as dropped, not sent), never more than
 * max_requests slots, a per-call deadline of timeout_ms, and after the
 * schedule at most timeout_ms + 2 s of waiting for stragglers, which are then
 * cancelled (and counted as CANCELLED).
 *
 * Thread safety: ctl_run from one thread; it blocks until the run is over.
 */
#ifndef CPLUGINCTL_LOADGEN_H
#define CPLUGINCTL_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/status.h"
#include "fleet.h"
#include "hist.h"
#include "schedule.h"

typedef enum ctl_call_kind {
  CTL_CALL_HOST = 0, /* Echo answered by the host */
  CTL_CALL_ROUTED,   /* Echo routed by the host to a provider */
  CTL_CALL_PROVIDER, /* Echo straight to the provider */
  /* A Handshake to the host carrying only the plugin's runtime ID, no
   * token (the guide's scenario 3): limited per peer address. */
  CTL_CALL_HANDSHAKE
} ctl_call_kind;

typedef enum ctl_mode {
  CTL_MODE_OPEN = 0,
  CTL_MODE_CLOSED,
  CTL_MODE_VOLLEY,
  CTL_MODE_BIDI /* ping-pong on bidirectional streams: bidi.h, not ctl_run */
} ctl_mode;

#define CTL_MAX_SEGMENTS 4
#define CTL_MAX_KINDS 2
#define CTL_MAX_PHASES 8 /* CTL_MAX_SEGMENTS * CTL_MAX_KINDS */
#define CTL_MESSAGE_MAX 128

typedef struct ctl_plan {
  ctl_mode mode;
  ctl_segment segments[CTL_MAX_SEGMENTS]; /* open loop */
  size_t segment_count;
  ctl_call_kind kinds[CTL_MAX_KINDS];
  const char *kind_names[CTL_MAX_KINDS];
  size_t kind_count;
  uint32_t plugins;
  uint32_t concurrency; /* closed loop */
  double duration_s;    /* closed loop */
  uint32_t volley;      /* volley */
  /* bidi: `plugins` streams of each kind, alternating kinds every
   * slice_ms over duration_s. */
  uint32_t slice_ms;
  uint64_t max_requests;
  uint32_t max_inflight;
  uint32_t payload_bytes;
  uint32_t timeout_ms;
  const char *host_target;
  const char *host_tls_root;   /* the host serves TLS: its root; or NULL */
  const char *provider_target; /* for CTL_CALL_PROVIDER */
  const char *service_type;    /* for CTL_CALL_ROUTED */
  const char *id_prefix;       /* plugins' self_id prefix */
  /* fleet: the plugins join as fleet members over ramp_s seconds before
   * the first call (plugins.h); NULL = no fleet. */
  ctl_fleet_stats *fleet;
  double ramp_s;
} ctl_plan;

typedef struct ctl_phase {
  char name[48];
  double target_rate; /* planned average calls/s (0: closed loop, volley) */
  double planned_s;   /* planned length (0 for a volley) */
  /* Phase start to its last send; for an open-loop phase that ran its
   * course at least planned_s (the last call goes out one interval before
   * the end). sent / elapsed_s is the achieved rate. */
  double elapsed_s;
  uint64_t scheduled; /* slots: sent + dropped + send errors */
  uint64_t sent;
  uint64_t dropped_inflight;
  uint64_t send_errors;
  uint64_t completed;
  /* OK calls that completed before issuing stopped: a closed loop's
   * throughput is ok_in_window / elapsed_s (the calls still in flight at the
   * end, counted in `sent`, would inflate sent / elapsed_s by up to
   * concurrency / elapsed_s). */
  uint64_t ok_in_window;
  uint64_t status[CP_STATUS_CODE_COUNT];
  /* The status message of the first call that ended with each code (""
   * for OK and codes that did not occur): says where errors came from. */
  char first_message[CP_STATUS_CODE_COUNT][CTL_MESSAGE_MAX];
  ctl_hist *all; /* latency of every completed call */
  ctl_hist *ok;  /* latency of the calls that ended OK */
  /* bidi: the phase's streams, how many ended with OK after the client
   * half-closed, and how the first other one ended ("CODE: message"). A
   * "call" above is one message and its echo. */
  uint32_t streams;
  uint32_t streams_ok;
  char stream_error[CTL_MESSAGE_MAX];
} ctl_phase;

typedef struct ctl_result {
  ctl_phase phases[CTL_MAX_PHASES];
  size_t phase_count;
  ctl_phase total;        /* every phase together */
  bool interrupted;       /* SIGINT/SIGTERM ended it early */
  bool request_cap_hit;   /* max_requests ended it early */
  double wall_s;          /* first slot to the last completion */
  ctl_fleet_result fleet; /* filled by the caller of ctl_run (load_cmd.c) */
} ctl_result;

/* Handshakes the plugins, runs the plan, fills `out` (free it with
 * ctl_result_free, also after a failure). Returns 0 — also for an
 * interrupted run, which out->interrupted says — or -1 with a reason in
 * `err` when the run could not start (target unreachable, handshake
 * refused, out of memory). */
int ctl_run(const ctl_plan *plan, ctl_result *out, char *err, size_t err_len);

void ctl_result_free(ctl_result *r);

/* Adds the counts and histograms of `ph` into `total` (its first messages
 * where `total` has none yet). */
void ctl_phase_add(ctl_phase *total, const ctl_phase *ph);

/* ok_in_window / elapsed_s, or 0 when nothing was timed. */
double ctl_phase_ok_rate(const ctl_phase *ph);

#endif /* CPLUGINCTL_LOADGEN_H */
