/* Token-bucket arithmetic in integer nanoseconds (internal, pure: no state,
 * no clock, no atomics).
 *
 * A bucket's state is one int64_t whose meaning depends on its limit:
 *   rate > 0: the theoretical arrival time (TAT) of GCRA. A token is worth
 *             T = ceil(1e9 / rate) ns; the bucket is full when TAT <= now
 *             and empty when TAT - now > burst * T - T. Taking a token moves
 *             TAT to max(TAT, now) + T.
 *   rate = 0: the number of tokens used (0..burst); nothing refills.
 * Two values no real state takes mark a bucket being re-limited or evicted.
 * Times are assumed to lie in [-2^62, 2^62] (a monotonic clock); results
 * saturate rather than overflow outside that range. */
#ifndef CPLUGIN_RATELIMIT_GCRA_H
#define CPLUGIN_RATELIMIT_GCRA_H

#include <stdbool.h>
#include <stdint.h>

#include "cplugin/ratelimit.h"

#define RL_STATE_LOCKED INT64_MIN
#define RL_STATE_EVICTED (INT64_MIN + 1)

/* The emission interval ceil(1e9 / rate) in ns; rate must be > 0. */
int64_t cpi_rl_interval_ns(uint32_t rate);

/* The state after the first (always allowed) check of a new, full bucket at
 * `now`. limit.burst must be > 0. */
int64_t cpi_rl_first(cp_rate_limit limit, int64_t now);

/* One check on state `v` at `now`. Returns true and sets *next when a token
 * is available; otherwise returns false and sets *retry_ns to the wait for
 * the next token (CP_RATE_RETRY_NEVER for rate 0). limit.burst must be > 0. */
bool cpi_rl_take(cp_rate_limit limit, int64_t v, int64_t now, int64_t *next,
                 int64_t *retry_ns);

/* Re-expresses state `v`, kept under `from`, under `to` at `now`: the tokens
 * used are carried over (a fraction of a token rounds against the caller),
 * also when they exceed to.burst: the key then waits until refill brings it
 * under the new burst, and a rate-0 key stays empty. */
int64_t cpi_rl_rescale(cp_rate_limit from, cp_rate_limit to, int64_t v,
                       int64_t now);

/* True when a bucket may be evicted without anyone noticing: for rate > 0,
 * it has been full for at least idle_ns; for rate 0, its last check
 * (last_ns) is at least idle_ns old. */
bool cpi_rl_idle(cp_rate_limit limit, int64_t v, int64_t last_ns, int64_t now,
                 int64_t idle_ns);

/* Packs a limit into one word (the bucket records the limit its state is
 * expressed in) and back. */
static inline uint64_t rl_limit_pack(cp_rate_limit limit) {
  return ((uint64_t)limit.rate_per_sec << 32) | limit.burst;
}

static inline cp_rate_limit rl_limit_unpack(uint64_t word) {
  cp_rate_limit limit = {(uint32_t)(word >> 32), (uint32_t)word};
  return limit;
}

#endif /* CPLUGIN_RATELIMIT_GCRA_H */
