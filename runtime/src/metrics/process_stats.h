/* Process gauges read from /proc at scrape time (internal). */
#ifndef CPLUGIN_METRICS_PROCESS_STATS_H
#define CPLUGIN_METRICS_PROCESS_STATS_H

#include <stdint.h>

/* Resident set size in bytes (/proc/self/statm × page size); 0 when
 * unreadable. `user` is unused (cp_metric_read_fn). */
int64_t cpi_process_resident_bytes(void *user);

/* Threads of the process (/proc/self/status "Threads:"); 0 when
 * unreadable. */
int64_t cpi_process_threads(void *user);

#endif /* CPLUGIN_METRICS_PROCESS_STATS_H */
