/* Retry internals shared by the policy and interceptor files (internal). */
#ifndef CPLUGIN_RESILIENCE_RETRY_INTERNAL_H
#define CPLUGIN_RESILIENCE_RETRY_INTERNAL_H

#include <stdbool.h>

#include "cplugin/resilience.h"

/* Whether every field of `p` is in range (see cplugin/resilience.h). */
bool cpi_retry_policy_valid(const cp_retry_policy *p);

/* Parses a retry-after-ms value: decimal digits only, at most a day. Returns
 * false for anything else (the value is then ignored). */
bool cpi_retry_after_parse(const char *value, int64_t *ms);

#endif /* CPLUGIN_RESILIENCE_RETRY_INTERNAL_H */
