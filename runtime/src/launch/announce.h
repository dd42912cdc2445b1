/* The plugin side of the handshake line (internal): formatting and printing
 * "cplugin|1|<network>|<address>", the line launch/process.h documents and
 * launch/handshake_line.c parses on the host's side. */
#ifndef CPLUGIN_LAUNCH_ANNOUNCE_H
#define CPLUGIN_LAUNCH_ANNOUNCE_H

#include <stddef.h>
#include <stdio.h>

#include "launch/process.h"

/* Room for the longest line a valid endpoint gives, with its NUL. */
enum { LAUNCH_ANNOUNCE_LINE_MAX = 32 + PROC_ADDRESS_MAX };

/* Writes the handshake line for `ep` (without a newline) to out. The line is
 * checked with the host's parser, so that a plugin never announces what its
 * launcher would refuse. Returns 0; CP_EINVAL for a NULL argument or an
 * endpoint the format cannot carry (e.g. a relative unix path, port 0);
 * CP_ELIMIT when cap is too small. */
int cpi_launch_announce_format(const proc_endpoint *ep, char *out, size_t cap);

/* Formats the line and writes it, with its newline, to `stream` in one
 * write, then flushes. Returns 0, the errors of cpi_launch_announce_format, or
 * CP_ESYS when the stream refused it. Thread safety: as stdio's. */
int cpi_launch_announce(const proc_endpoint *ep, FILE *stream);

#endif /* CPLUGIN_LAUNCH_ANNOUNCE_H */
