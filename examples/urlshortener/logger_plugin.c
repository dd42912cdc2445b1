/* logger-plugin: provides the "logger" service (capability.logger.v1.Logger)
 * and prints every record it is sent: "[level] message k=v ...". */
#include <stdio.h>
#include <string.h>

#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"

static cp_status_code on_log(cp_call *call,
                             const Capability__Logger__V1__LogRequest *req,
                             Capability__Logger__V1__LogResponse *resp,
                             void *user) {
  (void)resp;
  (void)user;
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  bool known = false;
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
    known |= strcmp(req->level, levels[i]) == 0;
  }
  if (!known) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "level must be debug, info, warn or error");
  }
  const char *caller = "";
  cp_str v;
  char caller_buf[160];
  if (cp_call_metadata(call, "x-plugin-caller-id", &v) &&
      v.len < sizeof caller_buf) {
    memcpy(caller_buf, v.ptr, v.len);
    caller_buf[v.len] = '\0';
    caller = caller_buf;
  }
  /* One write per record: concurrent calls never interleave lines. */
  char line[2048];
  int n =
      snprintf(line, sizeof line, "logger: [%s] %s", req->level, req->message);
  for (size_t i = 0; i < req->n_fields && n > 0 && (size_t)n < sizeof line;
       i++) {
    n += snprintf(line + n, sizeof line - (size_t)n, " %s=%s",
                  req->fields[i]->key, req->fields[i]->value);
  }
  printf("%s (from %s)\n", line, caller);
  fflush(stdout);
  return CP_STATUS_OK;
}

static int register_handlers(cp_server *server, void *user) {
  cp_capability__logger__v1__logger__handlers h;
  memset(&h, 0, sizeof h);
  h.on_log = on_log;
  return cp_capability__logger__v1__logger__register(server, &h, user);
}

int main(void) {
  static const cp_plugin_desc *const provides[] = {
      &cp_capability__logger__v1__logger__plugin};
  cp_plugin_serve_options o;
  cp_plugin_serve_options_init(&o);
  o.self_id = "logger";
  o.provides = provides;
  o.provides_count = 1;
  o.setup = register_handlers;
  o.grace_ms = 2000;
  o.print_address = true;
  return cp_plugin_serve(&o) == 0 ? 0 : 1;
}
