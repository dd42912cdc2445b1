/* Retry policies: the defaults (connect-plugin-go's), their validation and
 * the backoff schedule. */
#include <math.h>

#include "cplugin/resilience.h"
#include "resilience/retry_internal.h"

void cp_retry_policy_init(cp_retry_policy *policy) {
  policy->max_attempts = 3;
  policy->initial_backoff_ms = 100;
  policy->max_backoff_ms = 10000;
  policy->multiplier = 2.0;
  policy->jitter = true;
  policy->retry_codes = CP_CODE_BIT(CP_STATUS_UNAVAILABLE) |
                        CP_CODE_BIT(CP_STATUS_RESOURCE_EXHAUSTED);
  policy->max_retry_after_ms = 10000;
  policy->streams = CP_RETRY_STREAM_START;
}

/* Longest wait accepted anywhere: a day, so ms -> ns never overflows. */
enum { MAX_WAIT_MS = 24 * 60 * 60 * 1000 };

bool cpi_retry_policy_valid(const cp_retry_policy *p) {
  const uint32_t real_codes =
      ((UINT32_C(1) << CP_STATUS_CODE_COUNT) - 1) & ~CP_CODE_BIT(CP_STATUS_OK);
  return p->max_attempts >= 1 && p->max_attempts <= CP_RETRY_MAX_ATTEMPTS &&
         p->initial_backoff_ms >= 0 && p->max_backoff_ms >= 0 &&
         p->initial_backoff_ms <= p->max_backoff_ms &&
         p->max_backoff_ms <= MAX_WAIT_MS && isfinite(p->multiplier) &&
         p->multiplier >= 1.0 && (p->retry_codes & ~real_codes) == 0 &&
         p->max_retry_after_ms >= 0 && p->max_retry_after_ms <= MAX_WAIT_MS &&
         (p->streams == CP_RETRY_STREAM_START ||
          p->streams == CP_RETRY_STREAM_FIRST_MESSAGE);
}

int64_t cp_retry_backoff_ms(const cp_retry_policy *policy, int attempt) {
  if (policy == NULL || attempt < 1) {
    return 0;
  }
  double ms = (double)policy->initial_backoff_ms;
  double cap = (double)policy->max_backoff_ms;
  /* Multiply step by step so a large attempt number saturates at the cap
   * instead of overflowing. */
  for (int i = 1; i < attempt && ms < cap; i++) {
    ms *= policy->multiplier;
  }
  return ms >= cap ? policy->max_backoff_ms : (int64_t)ms;
}
