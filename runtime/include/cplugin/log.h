/* cplugin — logging.
 *
 * One line per record on stderr (or a sink you set): either JSON with the
 * keys hashicorp go-plugin hosts parse ("@level", "@message", "@timestamp",
 * then the record's key/value fields), or plain text. The library never logs
 * secrets (tokens, keys); code that logs request data logs identifiers only.
 *
 * Thread safety: every function may be called from any thread. Records are
 * written whole (one write per line), so lines from threads never interleave.
 */
#ifndef CPLUGIN_LOG_H
#define CPLUGIN_LOG_H

#include <stddef.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cp_log_level {
  CP_LOG_TRACE = 0,
  CP_LOG_DEBUG = 1,
  CP_LOG_INFO = 2,
  CP_LOG_WARN = 3,
  CP_LOG_ERROR = 4,
  CP_LOG_OFF = 5
} cp_log_level;

typedef enum cp_log_format {
  CP_LOG_FORMAT_TEXT = 0, /* "2026-11-26T18:00:00.000Z [WARN]  message: k=v" */
  CP_LOG_FORMAT_JSON = 1  /* {"@level":"warn","@message":...,"k":"v"} */
} cp_log_format;

/* Records below `level` are dropped (default CP_LOG_INFO). */
CP_API void cp_log_set_level(cp_log_level level);
CP_API cp_log_level cp_log_get_level(void);

/* Default CP_LOG_FORMAT_TEXT. */
CP_API void cp_log_set_format(cp_log_format format);

/* Receives each formatted line (without the newline). NULL restores stderr.
 * The sink must not call back into cp_log. */
typedef void (*cp_log_sink_fn)(const char *line, size_t len, void *user);
CP_API void cp_log_set_sink(cp_log_sink_fn fn, void *user);

/* Reads CPLUGIN_LOG_LEVEL (trace|debug|info|warn|error|off) and
 * CPLUGIN_LOG_FORMAT (text|json) from the environment, if set. */
CP_API void cp_log_configure_from_env(void);

/* Ends the key/value list of cp_log. A typed null pointer: a bare NULL may
 * be an int in a variadic call. */
#define CP_LOG_END ((const char *)0)

/* Logs `message` with key/value string pairs, terminated by CP_LOG_END:
 *   cp_log(CP_LOG_INFO, "plugin started", "plugin", "kv", CP_LOG_END);
 * Lines longer than 4 KiB are truncated. */
CP_API void cp_log(cp_log_level level, const char *message, ...);

/* True when a record at `level` would be written (to skip building fields). */
CP_API int cp_log_enabled(cp_log_level level);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_LOG_H */
