/* cpluginctl — what makes a simulated plugin a fleet member (the fleet
 * preset): after its handshake it registers a service with the host and
 * keeps a watch stream open on one shared dependency type, the way a plugin
 * with one dependency stays connected. The first member also provides that
 * dependency, so every watch starts with an AVAILABLE event and then stays
 * quiet: the run measures connections held, not event fan-out.
 *
 * Members register without a base_url: the host cannot probe them and, as
 * they report no health, never declares them gone (registry/liveness.c).
 *
 * Thread safety: ctl_fleet_join and ctl_fleet_member_end from one thread
 * (the joins are sequential); the counters in ctl_fleet_stats are updated by
 * the watch callbacks on the clients' threads and may be read from any
 * thread.
 */
#ifndef CPLUGINCTL_FLEET_H
#define CPLUGINCTL_FLEET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "hist.h"
#include "host_sampler.h"

/* What members register and what they watch. */
#define CTL_FLEET_TYPE "fleet"
#define CTL_FLEET_DEPENDENCY_TYPE "fleet-dependency"
#define CTL_FLEET_END_MAX 128

enum { CTL_FLEET_RAMP = 0, CTL_FLEET_HOLD = 1, CTL_FLEET_CLOSING = 2 };

typedef struct ctl_fleet_stats {
  atomic_uint_least32_t joined;       /* registered, watch started */
  atomic_uint_least32_t first_events; /* watches that delivered an event */
  atomic_uint_least64_t events;       /* every watch event */
  /* Watches that ended before the run closed them, and how the first one
   * ended ("CODE: message"). */
  atomic_uint_least32_t ended_early;
  atomic_bool has_end;
  char first_end[CTL_FLEET_END_MAX];
  /* CTL_FLEET_RAMP while joining, CTL_FLEET_HOLD once every plugin joined,
   * CTL_FLEET_CLOSING from the clients' close on (ends are then expected). */
  atomic_int phase;
  /* When the joins began and the last one ended (0 before), on
   * ctl_now_ns's clock. */
  atomic_int_least64_t start_ns;
  atomic_int_least64_t ramp_end_ns;
  /* Each join from its planned start to registered-and-watching. */
  ctl_hist *join;
} ctl_fleet_stats;

/* Returns 0, or -1 when out of memory. ctl_fleet_stats_destroy frees the
 * histogram (NULL allowed). */
int ctl_fleet_stats_init(ctl_fleet_stats *s);
void ctl_fleet_stats_destroy(ctl_fleet_stats *s);

typedef struct ctl_fleet_member {
  cp_client_stream *watch;
  ctl_fleet_stats *stats;
  bool seen_event;
} ctl_fleet_member;

/* Registers CTL_FLEET_TYPE (and, when `provides_dependency`, the watched
 * type too) through `host` with `md` (the member's authorization and
 * runtime ID), then starts the watch on CTL_FLEET_DEPENDENCY_TYPE. Returns
 * 0, or -1 with a reason in `err` (nothing to undo: the host drops the
 * member's registrations with its identity, and its client's close ends a
 * started watch). */
int ctl_fleet_join(ctl_fleet_member *m, ctl_fleet_stats *stats, cp_client *host,
                   const cp_metadata *md, size_t md_count,
                   bool provides_dependency, const char *self_id, char *err,
                   size_t err_len);

/* Destroys the member's watch (before its client; NULL-safe). */
void ctl_fleet_member_end(ctl_fleet_member *m);

/* A fleet run's figures, for the report and the checks. */
typedef struct ctl_fleet_result {
  bool present; /* the run was a fleet */
  uint32_t plugins;
  uint32_t joined;
  uint32_t first_events;
  uint64_t events;
  uint32_t ended_early;
  char first_end[CTL_FLEET_END_MAX];
  double ramp_planned_s;
  double ramp_s;  /* the joins' start to the last join */
  ctl_hist *join; /* owned */
  /* The started host sampled from /proc (owned; none with --target). */
  ctl_sample *samples;
  size_t sample_count;
  /* From the samples: RSS before the first join, the median RSS while
   * every plugin held on (the last ramp sample when none), their
   * difference per joined plugin, the largest RSS and the mean CPU of the
   * hold. */
  uint64_t rss_before;
  uint64_t rss_held;
  double bytes_per_plugin;
  uint64_t rss_peak;
  double hold_cpu_percent;
} ctl_fleet_result;

/* Takes over `stats`' histogram and the samples (either may be NULL/0)
 * and computes the figures above. */
void ctl_fleet_result_fill(ctl_fleet_result *out, ctl_fleet_stats *stats,
                           uint32_t plugins, double ramp_planned_s,
                           ctl_sample *samples, size_t sample_count);

void ctl_fleet_result_free(ctl_fleet_result *r);

#endif /* CPLUGINCTL_FLEET_H */
