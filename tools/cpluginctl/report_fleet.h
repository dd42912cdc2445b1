/* cpluginctl — the fleet preset's part of the report: the joins, the
 * watches, the started host's CPU and RSS over time, and its memory per
 * connected plugin.
 *
 * Thread safety: pure output functions.
 */
#ifndef CPLUGINCTL_REPORT_FLEET_H
#define CPLUGINCTL_REPORT_FLEET_H

#include <stdio.h>

#include "fleet.h"

void ctl_report_fleet_text(FILE *f, const ctl_fleet_result *r);

/* Writes `"fleet": {...}` (the caller writes the separator before it). */
void ctl_report_fleet_json(FILE *f, const ctl_fleet_result *r);

#endif /* CPLUGINCTL_REPORT_FLEET_H */
