/* What operators see of managed plugins besides the log: Prometheus series
 * and a health service per plugin on the host. */
#include <stdio.h>

#include "cplugin/errors.h"
#include "platform/launcher_internal.h"

static cp_metric_family *family(cp_metric_registry *reg, cp_metric_type type,
                                const char *name, const char *help) {
  static const char *const labels[] = {"plugin"};
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = name;
  o.help = help;
  o.label_names = labels;
  o.label_count = 1;
  o.max_series = MANIFEST_MAX_PLUGINS;
  cp_metric_family *f = NULL;
  /* CP_EEXIST: a second launcher on the host; its plugins go unmetered. */
  return cp_metric_family_create(&f, reg, type, &o) == 0 ? f : NULL;
}

void cpi_lobserve_init(cp_launcher *l) {
  cp_metric_registry *reg = cp_metrics_registry(cp_host_metrics(l->host));
  l->up_family =
      family(reg, CP_METRIC_GAUGE, "cplugin_plugin_up",
             "1 while a managed plugin runs and is identified, else 0.");
  l->failed_family = family(
      reg, CP_METRIC_GAUGE, "cplugin_plugin_failed",
      "1 when a managed plugin failed to start or crash-looped, else 0.");
  l->restarts_family =
      family(reg, CP_METRIC_COUNTER, "cplugin_plugin_restarts_total",
             "Restarts of a managed plugin by its supervisor.");
  for (size_t i = 0; i < l->count; i++) {
    cpi_lobserve_plugin(l, &l->plugins[i]);
  }
}

void cpi_lobserve_plugin(cp_launcher *l, lplugin *p) {
  const char *values[] = {p->m->name};
  p->up = cp_gauge_get(l->up_family, values);
  p->failed = cp_gauge_get(l->failed_family, values);
  p->restart_counter = cp_counter_get(l->restarts_family, values);
  snprintf(p->health_name, sizeof p->health_name, "plugin/%s", p->m->name);
}

void cpi_lobserve_publish(lplugin *p) {
  cp_launcher *l = p->l;
  pthread_mutex_lock(&l->publish_mu);
  pthread_mutex_lock(&l->mu);
  cp_plugin_run_state state = p->state;
  pthread_mutex_unlock(&l->mu);
  cp_gauge_set(p->up, state == CP_PLUGIN_RUNNING);
  cp_gauge_set(p->failed, state == CP_PLUGIN_FAILED);
  cp_health *h = cp_host_health(l->host);
  if (h != NULL) {
    (void)cp_health_set(h, p->health_name,
                        state == CP_PLUGIN_RUNNING
                            ? CP_SERVING_STATUS_SERVING
                            : CP_SERVING_STATUS_NOT_SERVING);
  }
  pthread_mutex_unlock(&l->publish_mu);
}

void cpi_lobserve_restart(lplugin *p) {
  cp_counter_inc(p->restart_counter);
}
