/* cpluginctl — what each `load` preset runs, how the host it starts is
 * configured, and what the performance guide expects of the result.
 *
 *   steady     100 plugins x 10 req/s = 1000 req/s, 60 s, open loop.
 *   burst      100 plugins, ramp 100 -> 5000 req/s over 1/7 of the run, then
 *              hold 5000 req/s (70 s: 10 + 60); the started host limits each
 *              identity to 40% of its peak share, so every plugin goes over
 *              its limit during the run.
 *   ratelimit  one identity sends 1000 calls at once against a limit of
 *              100/s with a burst of 100.
 *   routed     steady through the host's router to a `cpluginctl provider`
 *              (x-cplugin-service-type), and the same rate straight to the
 *              provider, from the same plugins, interleaved.
 *   fanout     a closed loop of 256 calls in flight through the host's router
 *              to a middle plugin (`cpluginctl middle`, 2 completion-queue
 *              threads) whose Echo makes one call routed by the host to a
 *              provider that answers after 50 ms (`cpluginctl provider
 *              --delay-ms 50`); the middle waits for it in one of three
 *              styles (deferred, pool, blocking: middle_echo.h). Reported
 *              beside the ceiling the style allows: concurrency / delay
 *              (deferred), pool threads / delay, middle threads / delay.
 *   bidi       4 Chat streams through the host's router to a `cpluginctl
 *              provider` and 4 straight to it, ping-pong, 20 s, the kinds
 *              alternating every 500 ms (bidi.h); --streams N sets the 4.
 *   burst-tls  burst against a host serving TLS, with a self-signed
 *              certificate the run makes (tls_setup.h) as the plugins' root.
 *   handshake-flood  the guide's scenario 3 against Handshake: one plugin
 *              sends 1000 Handshakes at once, each carrying only its
 *              x-plugin-runtime-id (no token), against the host's default
 *              Handshake limit (10/s, burst 20, per peer address).
 *   fleet      the guide's capacity figure: 5000 plugins, each with its own
 *              connection and identity, a registration and a watch stream
 *              held open (fleet.h), joining evenly over 60 s (--ramp); then
 *              1 Echo call/s each (open loop) for 60 s (--duration) while
 *              all stay connected. The started host admits that many
 *              watchers; its CPU and RSS are sampled every second.
 * --rate, --plugins, --duration and --requests override the numbers (for
 * burst, --rate is the peak; for fleet, the hold's total). Without a preset, the run is custom: one of
 * --rate, --concurrency or --requests, 1 plugin, 10 s.
 *
 * Thread safety: pure functions.
 */
#ifndef CPLUGINCTL_PRESETS_H
#define CPLUGINCTL_PRESETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "loadgen.h"

/* The service type providers register LoadService under (routed). */
#define CTL_ROUTED_TYPE "load"
/* fanout: the middle plugin's type (what the callers call) and the delayed
 * provider's (what the middle calls). */
#define CTL_FANOUT_MIDDLE_TYPE "fanout"
#define CTL_FANOUT_DELAYED_TYPE "delayed"

typedef struct ctl_setup {
  ctl_preset preset;
  ctl_plan plan; /* targets are filled in by the caller */
  char description[256];
  /* The host `load` starts without --target: the Echo limit per identity
   * (0 = serve's default, effectively unlimited). */
  uint32_t limit_rate;
  uint32_t limit_burst;
  /* The limit the volley's checks expect (ratelimit: the Echo limit above;
   * handshake-flood: the host's Handshake default). */
  uint32_t expect_rate;
  uint32_t expect_burst;
  /* burst-tls: the started host serves TLS. */
  bool tls;
  /* The handshake limit of that host (0: serve's default, 1000/s). */
  uint32_t handshake_rate;
  uint32_t handshake_burst;
  bool needs_provider;        /* routed, fanout, bidi: also start a provider */
  const char *provider_type;  /* the type it registers as */
  uint32_t provider_delay_ms; /* its --delay-ms (fanout) */
  /* fanout: also start `cpluginctl middle` with these. */
  bool needs_middle;
  ctl_middle_style middle;
  unsigned middle_threads;
  unsigned pool_threads;
  /* fanout: the calls/s the middle's style allows at most (see above). */
  double ceiling;
  /* fleet: the plugins join as members; the started host's
   * registry.max_watchers (serve --max-watchers). */
  bool fleet;
  uint32_t max_watchers;
} ctl_setup;

/* Fills `out` from the parsed arguments (already validated by cli.c). */
void ctl_preset_setup(const ctl_load_args *args, ctl_setup *out);

typedef struct ctl_check {
  char what[64];
  char expected[160];
  char measured[320];
  /* true: a behaviour the run must show (a failure makes the exit status
   * 3); false: a latency figure set next to the guide's, for information
   * (it depends on the machine). */
  bool behaviour;
  bool pass;
} ctl_check;

#define CTL_MAX_CHECKS 8

/* The preset's checks of `r`; returns how many were written to `out`. */
size_t ctl_preset_checks(const ctl_setup *setup, const ctl_result *r,
                         ctl_check *out, size_t cap);

#endif /* CPLUGINCTL_PRESETS_H */
