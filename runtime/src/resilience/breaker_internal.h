/* The metric series of one circuit breaker (internal). */
#ifndef CPLUGIN_RESILIENCE_BREAKER_INTERNAL_H
#define CPLUGIN_RESILIENCE_BREAKER_INTERNAL_H

#include "cplugin/metrics.h"
#include "cplugin/resilience.h"

/* Handles into the registry (NULL when the breaker has no metrics; every
 * update accepts NULL). The registry owns them. */
typedef struct cp_breaker_series {
  cp_gauge *state;
  cp_counter *to[3]; /* transitions, by target state */
  cp_counter *rejected;
} cp_breaker_series;

/* Looks the series for breaker `name` up (metrics may be NULL). Returns 0 or
 * CP_ENOMEM. */
int cpi_breaker_series_init(cp_breaker_series *s, cp_breaker_metrics *metrics,
                            const char *name);

/* Sets the state gauge (the initial state). */
void cpi_breaker_series_state(cp_breaker_series *s, cp_breaker_state state);
/* Sets the state gauge and counts the transition into `state`. */
void cpi_breaker_series_transition(cp_breaker_series *s,
                                   cp_breaker_state state);
void cpi_breaker_series_rejected(cp_breaker_series *s);

#endif /* CPLUGIN_RESILIENCE_BREAKER_INTERNAL_H */
