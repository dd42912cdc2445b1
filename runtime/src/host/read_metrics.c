/* Metric families read at each scrape; see read_metrics.h. */
#include "host/read_metrics.h"

int cpi_host_add_read_metrics(cp_metric_registry *registry,
                              const cpi_read_metric *metrics, size_t n,
                              void *user) {
  for (size_t i = 0; i < n; i++) {
    cp_metric_family_options fo;
    cp_metric_family_options_init(&fo);
    fo.name = metrics[i].name;
    fo.help = metrics[i].help;
    cp_metric_family *f = NULL;
    int rc = cp_metric_family_create(&f, registry, metrics[i].type, &fo);
    if (rc == 0) {
      rc = cp_metric_family_add_func(f, NULL, metrics[i].read, user);
    }
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}
