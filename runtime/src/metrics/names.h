/* Validation of metric names, label names and label values (internal). */
#ifndef CPLUGIN_METRICS_NAMES_H
#define CPLUGIN_METRICS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* [a-zA-Z_:][a-zA-Z0-9_:]*, 1..CP_METRIC_NAME_MAX bytes. */
bool cpi_metric_name_valid(const char *name);

/* [a-zA-Z_][a-zA-Z0-9_]*, 1..CP_METRIC_NAME_MAX bytes, not "__"-prefixed
 * (reserved by Prometheus). */
bool cpi_metric_label_name_valid(const char *name);

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), as Prometheus requires of label values and help text. */
bool cpi_metric_utf8_valid(const char *s, size_t len);

#endif /* CPLUGIN_METRICS_NAMES_H */
