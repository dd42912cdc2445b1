/* A plugin's output lines into the host's log (internal). */
#ifndef CPLUGIN_LAUNCH_OUTPUT_LOG_H
#define CPLUGIN_LAUNCH_OUTPUT_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "launch/process.h"

/* Bytes cpi_proc_text_sanitize may write for n input bytes (plus the NUL). */
#define PROC_SANITIZED_CAP(n) (3 * (n) + 1)

/* Copies in[0..n) to out as text any log format can carry: well-formed UTF-8
 * is kept, every other byte becomes U+FFFD, control bytes other than tab
 * become '?'. out holds PROC_SANITIZED_CAP(n) bytes; returns the length
 * written (NUL-terminated). */
size_t cpi_proc_text_sanitize(const char *in, size_t n, char *out);

/* Logs one piece (at most PROC_LINE_MAX_BYTES) of a line of `stream`
 * ("stdout" or "stderr") of plugin `name`; partial: more of the line
 * follows. A '\r' ending the piece of a line's end is dropped. */
void cpi_proc_log_output(const char *name, const char *stream, const char *data,
                         size_t len, bool partial);

#endif /* CPLUGIN_LAUNCH_OUTPUT_LOG_H */
