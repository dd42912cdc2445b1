/* cpluginctl — a JSON string writer shared by the reports.
 *
 * Thread safety: pure output function.
 */
#ifndef CPLUGINCTL_JSON_OUT_H
#define CPLUGINCTL_JSON_OUT_H

#include <stdio.h>

/* Writes `s` quoted and escaped, or null for NULL. */
void ctl_json_string(FILE *f, const char *s);

#endif /* CPLUGINCTL_JSON_OUT_H */
