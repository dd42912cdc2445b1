/* Logging captured plugin output: sanitised, bounded, one record a piece. */
#include "launch/output_log.h"

#include "core/validate.h"
#include "cplugin/log.h"

/* Each input byte costs at most three bytes after sanitising and then JSON
 * escaping (U+FFFD; '"', '\\' and tab escape to two), so a piece, the
 * timestamp and the other fields fit in cp_log's 4 KiB record, which would
 * otherwise drop the line field whole. */
_Static_assert(3 * PROC_LINE_MAX_BYTES + 512 + PROC_NAME_MAX <= 4094,
               "an output piece must fit in one log record");

size_t cpi_proc_text_sanitize(const char *in, size_t n, char *out) {
  static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)in[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        out[o++] = '?';
      } else {
        out[o++] = in[i];
      }
      i++;
      continue;
    }
    size_t len = cpi_utf8_sequence_len(in + i, n - i);
    if (len == 0) {
      for (size_t k = 0; k < 3; k++) {
        out[o++] = replacement[k];
      }
      i++;
      continue;
    }
    for (size_t k = 0; k < len; k++) {
      out[o++] = in[i + k];
    }
    i += len;
  }
  out[o] = '\0';
  return o;
}

void cpi_proc_log_output(const char *name, const char *stream, const char *data,
                         size_t len, bool partial) {
  if (!cp_log_enabled(CP_LOG_INFO)) {
    return;
  }
  if (len > PROC_LINE_MAX_BYTES) {
    len = PROC_LINE_MAX_BYTES; /* the splitter never gives more */
  }
  if (!partial && len > 0 && data[len - 1] == '\r') {
    len--;
  }
  char text[PROC_SANITIZED_CAP(PROC_LINE_MAX_BYTES)];
  cpi_proc_text_sanitize(data, len, text);
  if (partial) {
    cp_log(CP_LOG_INFO, "plugin output", "plugin", name, "stream", stream,
           "line", text, "partial", "true", CP_LOG_END);
  } else {
    cp_log(CP_LOG_INFO, "plugin output", "plugin", name, "stream", stream,
           "line", text, CP_LOG_END);
  }
}
