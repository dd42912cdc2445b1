/* Plugin manifests (platform/manifest.h): jansson parses, the manifest
 * checks; whatever the bytes, a manifest is refused with a message or
 * accepted within its documented limits, and nothing leaks. */
#include <string.h>

#include "fuzz_input.h"
#include "platform/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_string(data, size);
  manifest *m = NULL;
  char err[256];
  err[0] = '\0';
  int rc = cpi_manifest_parse_string(text, "/base", &m, err, sizeof err);
  if ((rc == 0) != (m != NULL) || (rc != 0 && err[0] == '\0') ||
      (m != NULL && m->plugins_count > MANIFEST_MAX_PLUGINS)) {
    abort();
  }
  for (size_t i = 0; m != NULL && i < m->plugins_count; i++) {
    const manifest_plugin *p = &m->plugins[i];
    bool process = p->path != NULL;
    if (process == (p->in_process != NULL) || (process && p->path[0] != '/') ||
        p->args_count > MANIFEST_MAX_ARGS ||
        p->env_allow_count + p->env_set_count > MANIFEST_MAX_ENV ||
        p->restart.backoff_initial_ms > p->restart.backoff_max_ms) {
      abort();
    }
  }
  cpi_manifest_free(m);
  free(text);
  return 0;
}
