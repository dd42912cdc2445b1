/* Untrusted text written into log lines (JSON and text) and metric label
 * values: every line must stay one line, and JSON must keep its quotes
 * balanced. */
#include <stdbool.h>

#include "cplugin/log.h"
#include "fuzz_input.h"
#include "metrics/textbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, size_t len, void *user) {
  (void)user;
  /* One record per call: a newline only at the very end. */
  for (size_t i = 0; i + 1 < len; i++) {
    if (line[i] == '\n' || line[i] == '\r') {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool configured;
  if (!configured) {
    cp_log_set_sink(check_line, NULL);
    cp_log_set_level(CP_LOG_DEBUG);
    configured = true;
  }
  char *a = NULL;
  char *b = NULL;
  fuzz_split(data, size, &a, &b);
  cp_log_set_format(size > 0 && (data[0] & 1) ? CP_LOG_FORMAT_JSON
                                              : CP_LOG_FORMAT_TEXT);
  cp_log(CP_LOG_INFO, a, "field", b, b, a, CP_LOG_END);
  cp_textbuf t;
  cpi_textbuf_init(&t);
  cpi_textbuf_label_value(&t, a);
  cpi_textbuf_free(&t);
  free(a);
  free(b);
  return 0;
}
