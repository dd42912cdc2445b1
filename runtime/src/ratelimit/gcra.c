/* Token-bucket arithmetic (GCRA) in integer nanoseconds. */
#include "ratelimit/gcra.h"

#include "core/clock.h"

#define NS_PER_SEC 1000000000LL

int64_t cpi_rl_interval_ns(uint32_t rate) {
  /* Rounded up: a token is never worth less time than 1/rate second, so
   * the limiter never admits more than `rate` per second. */
  return (NS_PER_SEC + (int64_t)rate - 1) / (int64_t)rate;
}

/* b - a for b >= a, exact in uint64_t whatever the signs. */
static uint64_t span(int64_t a, int64_t b) {
  return (uint64_t)b - (uint64_t)a;
}

int64_t cpi_rl_first(cp_rate_limit limit, int64_t now) {
  if (limit.rate_per_sec == 0) {
    return 1;
  }
  return cpi_time_after_ns(now, cpi_rl_interval_ns(limit.rate_per_sec));
}

bool cpi_rl_take(cp_rate_limit limit, int64_t v, int64_t now, int64_t *next,
                 int64_t *retry_ns) {
  if (limit.rate_per_sec == 0) {
    if (v < (int64_t)limit.burst) {
      *next = v < 0 ? 1 : v + 1;
      return true;
    }
    *retry_ns = CP_RATE_RETRY_NEVER;
    return false;
  }
  int64_t t = cpi_rl_interval_ns(limit.rate_per_sec);
  uint64_t window = (uint64_t)limit.burst * (uint64_t)t;
  int64_t tat = v > now ? v : now;
  int64_t after = cpi_time_after_ns(tat, t);
  /* How far ahead of now the bucket would be: at most `window` means the
   * token existed. */
  uint64_t ahead = span(now, after);
  if (ahead <= window) {
    *next = after;
    return true;
  }
  uint64_t wait = ahead - window;
  *retry_ns = wait > (uint64_t)INT64_MAX ? CP_RATE_RETRY_NEVER : (int64_t)wait;
  return false;
}

int64_t cpi_rl_rescale(cp_rate_limit from, cp_rate_limit to, int64_t v,
                       int64_t now) {
  /* Tokens used under `from`: `whole` plus rem / t_from of one. They are
   * carried over even beyond the new burst (the key then waits for refill
   * to bring it back under), so switching limits back and forth never
   * hands out tokens. */
  uint64_t whole = 0;
  uint64_t rem = 0;
  uint64_t t_from = 1;
  if (from.rate_per_sec > 0) {
    t_from = (uint64_t)cpi_rl_interval_ns(from.rate_per_sec);
    uint64_t ahead = v > now ? span(now, v) : 0;
    whole = ahead / t_from;
    rem = ahead % t_from;
  } else if (v > 0) {
    whole = (uint64_t)v;
  }
  if (whole > UINT32_MAX) {
    whole = UINT32_MAX; /* more than any burst: empty either way */
  }
  if (to.rate_per_sec == 0) {
    return (int64_t)(whole + (rem > 0 ? 1 : 0));
  }
  uint64_t t_to = (uint64_t)cpi_rl_interval_ns(to.rate_per_sec);
  /* whole < 2^32, t_to <= 1e9 and rem < t_from <= 1e9: no overflow. A
   * fraction of a token rounds up, against the caller. */
  uint64_t ahead = whole * t_to + (rem * t_to + t_from - 1) / t_from;
  return cpi_time_after_ns(now, (int64_t)ahead);
}

bool cpi_rl_idle(cp_rate_limit limit, int64_t v, int64_t last_ns, int64_t now,
                 int64_t idle_ns) {
  int64_t since = limit.rate_per_sec > 0 ? v : last_ns;
  return since <= now && span(since, now) >= (uint64_t)idle_ns;
}
