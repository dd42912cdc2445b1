/* The logger capability: a plugin's log lines in the host's log, with who
 * sent them. Everything in a line comes from the plugin, so it is bounded
 * and stripped of control characters before it reaches the log. */
#include <stdio.h>
#include <string.h>

#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/broker.h"
#include "cplugin/log.h"
#include "cplugin/router.h"

enum {
  LOGGER_MAX_FIELDS = 16,
  LOGGER_MESSAGE_MAX = 1024,
  LOGGER_KEY_MAX = 64,
  LOGGER_VALUE_MAX = 1024
};

/* Copies at most max bytes of s into out (max + 1 bytes), control
 * characters as '?'. */
static void clean(const char *s, char *out, size_t max) {
  size_t n = strnlen(s, max);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = s[i];
    if (c < 0x20 || c == 0x7f) {
      out[i] = '?';
    }
  }
  out[n] = '\0';
}

static int level_of(const char *name, cp_log_level *out) {
  static const struct {
    const char *name;
    cp_log_level level;
  } levels[] = {{"debug", CP_LOG_DEBUG},
                {"info", CP_LOG_INFO},
                {"warn", CP_LOG_WARN},
                {"error", CP_LOG_ERROR}};
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
    if (strcmp(name, levels[i].name) == 0) {
      *out = levels[i].level;
      return 0;
    }
  }
  return -1;
}

static cp_status_code on_log(cp_call *call,
                             const Capability__Logger__V1__LogRequest *req,
                             Capability__Logger__V1__LogResponse *resp,
                             void *user) {
  (void)resp;
  (void)user;
  cp_log_level level;
  if (level_of(req->level, &level) != 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "level: one of debug, info, warn, error");
  }
  if (!cp_log_enabled(level)) {
    return CP_STATUS_OK;
  }
  /* The broker sets the caller; a call without it did not come through a
   * grant. */
  cp_str caller;
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  if (!cp_call_metadata(call, CP_MD_CALLER_ID, &caller) ||
      caller.len >= sizeof runtime_id) {
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED,
                         "the logger is reached through a capability grant");
  }
  memcpy(runtime_id, caller.ptr, caller.len);
  runtime_id[caller.len] = '\0';
  char message[LOGGER_MESSAGE_MAX + 1];
  clean(req->message, message, LOGGER_MESSAGE_MAX);
  char keys[LOGGER_MAX_FIELDS][LOGGER_KEY_MAX + 1];
  char values[LOGGER_MAX_FIELDS][LOGGER_VALUE_MAX + 1];
  /* Key/value pairs after "runtime_id", ended by the first NULL key: cp_log
   * reads its variadic list only up to there. */
  const char *kv[2 * (LOGGER_MAX_FIELDS + 1) + 1] = {"runtime_id", runtime_id};
  size_t n =
      req->n_fields < LOGGER_MAX_FIELDS ? req->n_fields : LOGGER_MAX_FIELDS;
  for (size_t i = 0; i < n; i++) {
    clean(req->fields[i]->key, keys[i], LOGGER_KEY_MAX);
    clean(req->fields[i]->value, values[i], LOGGER_VALUE_MAX);
    kv[2 + 2 * i] = keys[i];
    kv[3 + 2 * i] = values[i];
  }
  cp_log(level, message, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7],
         kv[8], kv[9], kv[10], kv[11], kv[12], kv[13], kv[14], kv[15], kv[16],
         kv[17], kv[18], kv[19], kv[20], kv[21], kv[22], kv[23], kv[24], kv[25],
         kv[26], kv[27], kv[28], kv[29], kv[30], kv[31], kv[32], kv[33],
         CP_LOG_END);
  return CP_STATUS_OK;
}

static int register_logger(cp_server *server, void *user) {
  cp_capability__logger__v1__logger__handlers h;
  memset(&h, 0, sizeof h);
  h.on_log = on_log;
  return cp_capability__logger__v1__logger__register(server, &h, user);
}

void cp_logger_capability(cp_capability *out) {
  memset(out, 0, sizeof *out);
  out->type = "logger";
  out->version = "1.0.0";
  out->register_services = register_logger;
}
