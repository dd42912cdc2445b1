/* The plugin's handshake line, "cplugin|1|<network>|<address>" (internal;
 * the format is documented in launch/process.h). */
#ifndef CPLUGIN_LAUNCH_HANDSHAKE_LINE_H
#define CPLUGIN_LAUNCH_HANDSHAKE_LINE_H

#include <stdbool.h>
#include <stddef.h>

#include "launch/process.h"

#define PROC_HANDSHAKE_PREFIX "cplugin|"
#define PROC_HANDSHAKE_VERSION "1"

/* True when line[0..len) starts with "cplugin|": meant as a handshake line,
 * so before readiness it is parsed, never logged. */
bool cpi_proc_handshake_line_claimed(const char *line, size_t len);

/* Parses line[0..len) (without its newline). Returns 0 and fills *out, or
 * CP_EDECODE with the reason (e.g. "unsupported handshake version \"2\"")
 * in err. */
int cpi_proc_handshake_line_parse(const char *line, size_t len,
                                  proc_endpoint *out, char *err, size_t errlen);

#endif /* CPLUGIN_LAUNCH_HANDSHAKE_LINE_H */
