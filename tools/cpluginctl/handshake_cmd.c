/* `cpluginctl handshake`: one real handshake (cp_plugin_client with a
 * self_id) and the runtime identity it issued, as shell assignments:
 *   RUNTIME_ID=<id>
 *   RUNTIME_TOKEN=<token>
 * (tools/compare parses these two lines; keep them exactly). The token stays
 * valid for the host's token TTL after this process exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "cplugin/cplugin.h"

/* The values are printed unquoted for `eval`: refuse anything a shell would
 * interpret (runtime IDs and padded base64url tokens never contain such
 * bytes; '=' after the first one is literal in an assignment). */
static int shell_safe(const char *s) {
  if (s == NULL || s[0] == '\0') {
    return 0;
  }
  for (const char *p = s; *p != '\0'; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
          c == '=')) {
      return 0;
    }
  }
  return 1;
}

int ctl_cmd_handshake(int argc, char **argv) {
  ctl_handshake_args a;
  char err[256];
  int p = ctl_parse_handshake(argc, argv, &a, err, sizeof err);
  if (p != CTL_PARSE_OK) {
    return ctl_usage_exit("handshake", p, err);
  }
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = a.target;
  o.self_id = a.id;
  o.handshake_timeout_ms = 10000;
  cp_plugin_client *pc = NULL;
  int rc = cp_plugin_client_create(&pc, &o);
  cp_status st;
  cp_status_clear(&st);
  if (rc == 0) {
    rc = cp_plugin_client_connect(pc, &st);
  }
  int exit_code = CTL_EXIT_OK;
  const char *id = rc == 0 ? cp_plugin_client_runtime_id(pc) : NULL;
  const char *token = rc == 0 ? cp_plugin_client_runtime_token(pc) : NULL;
  if (rc != 0) {
    fprintf(stderr, "cpluginctl handshake: %s: handshake failed: %s%s%s\n",
            a.target,
            rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
            rc == CP_ERPC ? ": " : "", rc == CP_ERPC ? st.message : "");
    exit_code = CTL_EXIT_FAILED;
  } else if (!shell_safe(id) || !shell_safe(token)) {
    fprintf(stderr,
            "cpluginctl handshake: %s: the host issued no usable runtime "
            "identity\n",
            a.target);
    exit_code = CTL_EXIT_FAILED;
  } else {
    printf("RUNTIME_ID=%s\nRUNTIME_TOKEN=%s\n", id, token);
    fflush(stdout);
  }
  cp_plugin_client_destroy(pc);
  return exit_code;
}
