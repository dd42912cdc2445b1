/* Circuit-breaker metrics: three families shared by every breaker of a
 * registry, one series per breaker name. */
#include <stdlib.h>

#include "cplugin/errors.h"
#include "resilience/breaker_internal.h"

struct cp_breaker_metrics {
  cp_metric_family *state;
  cp_metric_family *transitions;
  cp_metric_family *rejections;
};

static int family(cp_metric_registry *reg, cp_metric_type type,
                  const char *name, const char *help, const char *const *labels,
                  size_t label_count, cp_metric_family **out) {
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = name;
  o.help = help;
  o.label_names = labels;
  o.label_count = label_count;
  return cp_metric_family_create(out, reg, type, &o);
}

int cp_breaker_metrics_create(cp_breaker_metrics **out,
                              cp_metric_registry *registry) {
  if (out == NULL || registry == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_breaker_metrics *m = calloc(1, sizeof *m);
  if (m == NULL) {
    return CP_ENOMEM;
  }
  static const char *const by_breaker[] = {"breaker"};
  static const char *const by_breaker_to[] = {"breaker", "to"};
  int rc = family(registry, CP_METRIC_GAUGE, "cplugin_circuit_breaker_state",
                  "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
                  by_breaker, 1, &m->state);
  if (rc == 0) {
    rc = family(registry, CP_METRIC_COUNTER,
                "cplugin_circuit_breaker_transitions_total",
                "Circuit breaker state changes, by the state entered.",
                by_breaker_to, 2, &m->transitions);
  }
  if (rc == 0) {
    rc = family(registry, CP_METRIC_COUNTER,
                "cplugin_circuit_breaker_rejections_total",
                "Calls failed fast by an open circuit breaker.", by_breaker, 1,
                &m->rejections);
  }
  if (rc != 0) {
    /* Families already created stay in the registry, unused. */
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void cp_breaker_metrics_destroy(cp_breaker_metrics *metrics) {
  free(metrics);
}

static const char *const STATE_LABEL[] = {"closed", "open", "half_open"};

int cpi_breaker_series_init(cp_breaker_series *s, cp_breaker_metrics *metrics,
                            const char *name) {
  *s = (cp_breaker_series){0};
  if (metrics == NULL) {
    return 0;
  }
  const char *one[] = {name};
  s->state = cp_gauge_get(metrics->state, one);
  s->rejected = cp_counter_get(metrics->rejections, one);
  bool ok = s->state != NULL && s->rejected != NULL;
  for (int i = 0; i < 3; i++) {
    const char *two[] = {name, STATE_LABEL[i]};
    s->to[i] = cp_counter_get(metrics->transitions, two);
    ok = ok && s->to[i] != NULL;
  }
  return ok ? 0 : CP_ENOMEM;
}

void cpi_breaker_series_state(cp_breaker_series *s, cp_breaker_state state) {
  cp_gauge_set(s->state, (int64_t)state);
}

void cpi_breaker_series_transition(cp_breaker_series *s,
                                   cp_breaker_state state) {
  cp_gauge_set(s->state, (int64_t)state);
  cp_counter_inc(s->to[state]);
}

void cpi_breaker_series_rejected(cp_breaker_series *s) {
  cp_counter_inc(s->rejected);
}
