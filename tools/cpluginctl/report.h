/* cpluginctl — the report of a `load` run, as text (stdout) and as JSON
 * (--json FILE): per phase and in total, the calls scheduled, sent,
 * dropped at the in-flight cap and failed to send; the achieved rate; the
 * count of every gRPC status by name; latency percentiles (p50, p95, p99,
 * p99.9, max, mean) of the OK calls and of all calls; for a closed loop
 * the throughput of OK calls; for fanout the style's ceiling; then the
 * preset's
 * checks, each next to what the performance guide expects, and the hosts'
 * own SERVED counts.
 *
 * Thread safety: pure output functions.
 */
#ifndef CPLUGINCTL_REPORT_H
#define CPLUGINCTL_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "loadgen.h"
#include "presets.h"

typedef struct ctl_report {
  const ctl_setup *setup;
  const ctl_result *result;
  const ctl_check *checks;
  size_t check_count;
  const char *target;
  const char *provider;         /* NULL unless routed */
  const char *host_command;     /* the started host, NULL with --target */
  const char *provider_command; /* the started provider, or NULL */
  const char *middle_command;   /* the started middle plugin, or NULL */
  int metrics_port;             /* the started host's, -1 = none */
  bool has_host_served;
  uint64_t host_served;
  bool has_provider_served;
  uint64_t provider_served;
  bool has_middle_served;
  uint64_t middle_served;
} ctl_report;

void ctl_report_text(FILE *f, const ctl_report *rep);

/* Returns 0, or -1 when writing failed. */
int ctl_report_json(FILE *f, const ctl_report *rep);

/* sent / elapsed, or 0 when nothing was timed. */
double ctl_phase_rate(const ctl_phase *ph);

#endif /* CPLUGINCTL_REPORT_H */
