/* cplugin — rate limits shared by host replicas through Redis.
 *
 * With cp_rate_policy_options.redis set, a call is admitted only when its
 * replica's own bucket (cplugin/ratelimit.h) and the caller's bucket in
 * Redis both have a token, so a caller spreading calls over N replicas gets
 * its limit once, not N times. The bucket in Redis is keyed by the rule
 * (its method path or service prefix, "*" for the default) and the caller
 * (its provider and identity, or its peer address), so every replica with
 * the same rules finds the same bucket.
 *
 * No call waits on Redis. Each replica leases a few tokens of a bucket at a
 * time (GCRA in a server-side script, on Redis's clock) and spends them
 * locally; when a bucket's lease runs low, a background thread leases more,
 * many buckets in one round trip. A bucket a replica has not seen yet starts
 * with one lease on credit, charged with the next. A lease is `lease_ms`
 * worth of the rate, at least min(burst, 8) tokens, at most the burst.
 *
 * Accuracy: tokens are only ever handed out by Redis, so admissions over
 * any window differ from the limit by at most what replicas hold: one lease
 * per replica and bucket (unspent, or taken on credit). For the host's
 * default rule (1000/s, burst 2000) and two replicas that is 2 x 50 tokens,
 * 1 % of a 10 s window. Unspent tokens of a bucket unused for
 * `idle_return_ms` go back to Redis.
 *
 * When Redis cannot be reached (refused, timed out, AUTH refused), the
 * outage policy applies to calls whose replica has no leased token left:
 * CP_RATE_OUTAGE_LOCAL (default) admits what the replica's own bucket
 * admits, as a host without Redis does; CP_RATE_OUTAGE_DENY refuses them
 * with UNAVAILABLE "rate limit store unreachable" and retry-after-ms. One
 * warning is logged when Redis is lost and one info line when it is back;
 * the thread reconnects with backoff (50 ms doubling up to
 * reconnect_max_ms), and cp_rate_policy_redis_stats reports the state.
 *
 * A bucket's key found holding anything else (another type, not a number)
 * is replaced with a full bucket, with a warning and a failure counted.
 *
 * Rules with rate 0 or burst 0 stay per replica. Rates above 10^6 per
 * second count as 10^6 in Redis (its intervals are whole microseconds).
 * Redis over TLS is not supported (Debian 12's hiredis 0.14 has no TLS):
 * reach it over loopback, a Unix socket or a private network.
 */
#ifndef CPLUGIN_RATELIMIT_REDIS_H
#define CPLUGIN_RATELIMIT_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key_prefix. */
#define CP_RATE_REDIS_PREFIX_MAX 64

typedef enum cp_rate_outage {
  CP_RATE_OUTAGE_LOCAL = 0, /* fail open to each replica's own limits */
  CP_RATE_OUTAGE_DENY = 1   /* fail closed: refuse with UNAVAILABLE */
} cp_rate_outage;

typedef struct cp_rate_redis_options {
  /* "HOST:PORT", "[IPV6]:PORT" or "unix:PATH". Required. Copied. */
  const char *address;
  /* AUTH: password NULL = none; username NULL = Redis's default user.
   * Copied. */
  const char *username;
  const char *password;
  /* Prefix of every key (default "cplugin:rl:", at most
   * CP_RATE_REDIS_PREFIX_MAX bytes): replicas sharing limits use the same
   * one. Copied. */
  const char *key_prefix;
  cp_rate_outage outage;    /* default CP_RATE_OUTAGE_LOCAL */
  int64_t lease_ms;         /* default 50, 1..10 000 */
  int64_t timeout_ms;       /* connect and each round trip: default 250,
                               1..60 000 */
  int64_t reconnect_max_ms; /* default 2 000, 50..600 000 */
  int64_t idle_return_ms;   /* default 10 000, 1..86 400 000 */
} cp_rate_redis_options;

CP_API void cp_rate_redis_options_init(cp_rate_redis_options *opts);

typedef struct cp_rate_redis_stats {
  bool up;                 /* the last round trip (or connect) worked */
  uint64_t round_trips;    /* pipelines sent */
  uint64_t leases;         /* bucket leases and returns answered */
  uint64_t tokens_granted; /* tokens Redis handed out to this replica */
  uint64_t failures;       /* connects and round trips that failed, and
                              keys found holding something else */
  uint64_t outage_calls;   /* calls the outage policy decided */
  size_t buckets;          /* buckets this replica holds a lease of */
} cp_rate_redis_stats;

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_RATELIMIT_REDIS_H */
