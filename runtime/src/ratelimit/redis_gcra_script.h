/* The Lua script host replicas share rate-limit buckets through in Redis
 * (internal; cplugin/ratelimit_redis.h).
 *
 * GCRA over one key per bucket that holds its theoretical arrival time
 * (TAT) in microseconds since the epoch, on Redis's own clock (TIME), so
 * replicas with skewed clocks still agree. The key expires when the bucket
 * is full again, so nothing needs sweeping.
 *
 *   EVALSHA sha 1 KEY interval_us burst wanted [debt]
 *
 * interval_us  1e6 / rate, a whole number >= 1
 * burst        tokens a full bucket holds, >= 1 (interval_us * burst
 *              at most 2^50: about 35 years)
 * wanted       tokens to lease now, 0..burst
 * debt         tokens the replica already admitted on credit (charged even
 *              past the burst), or minus the unspent tokens it returns;
 *              default 0, |debt| <= 4 * burst
 *
 * Returns {granted, retry_after_us, foreign}: granted is 0..wanted; when it
 * is 0 and something was wanted, retry_after_us is how long until a token
 * is there (else 0). foreign is 1 when KEY held something that was not a
 * bucket (another type, or not a number), which the script replaced with a
 * full bucket. Bad arguments get the error "gcra: bad arguments" and
 * nothing is written. */
#ifndef CPLUGIN_RATELIMIT_REDIS_GCRA_SCRIPT_H
#define CPLUGIN_RATELIMIT_REDIS_GCRA_SCRIPT_H

extern const char cpi_redis_gcra_script[];

#endif /* CPLUGIN_RATELIMIT_REDIS_GCRA_SCRIPT_H */
