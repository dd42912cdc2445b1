/* Parsing of the admin commands (admin_cli.h). */
#include "admin_cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char kUsageStatus[] =
    "usage: cpluginctl status --host ADDR [--api-key KEY] [--timeout-ms MS]\n"
    "  the host's version and uptime, and a table of its managed plugins:\n"
    "  NAME STATE PID RESTARTS HEALTH RUNTIME_ID REASON\n"
    "  --host ADDR      the host (loopback only: the key travels in "
    "plaintext)\n"
    "  --api-key KEY    an admin API key of the host (default: "
    "$CPLUGIN_ADMIN_KEY)\n"
    "  --timeout-ms MS  per call (default 10000)\n"
    "exit: 0 ok, 1 the call failed (status printed), 2 usage\n";

static const char kUsagePlugins[] =
    "usage: cpluginctl plugins add|remove|replace|restart NAME --host ADDR\n"
    "                          [--api-key KEY] [--path P] [--entry FILE]\n"
    "                          [--timeout-ms MS]\n"
    "  remove   drain and stop the plugin; it stays listed, STOPPED\n"
    "  add      with --entry FILE: add a plugin the manifest does not list\n"
    "           (FILE holds its entry, a JSON object in the manifest's\n"
    "           format, named NAME) and start it; without: start a removed\n"
    "           or stopped plugin again (a replace, so it also replaces a\n"
    "           running one)\n"
    "  replace  start a new process (--path P, default the manifest's\n"
    "           executable) under a new identity, blue-green, then stop the\n"
    "           old one\n"
    "  restart  replace with the same executable (a fresh process and\n"
    "           identity; the old one serves until the new one is healthy)\n"
    "  --path P         add and replace: the executable, on the host\n"
    "  --timeout-ms MS  default 120000 (a change waits for the plugin)\n"
    "  --host, --api-key as for status\n"
    "exit: 0 done, 1 refused or failed (status printed), 2 usage\n";

static const char kUsageRegistry[] =
    "usage: cpluginctl registry list [TYPE] --host ADDR [--api-key KEY]\n"
    "                                [--timeout-ms MS]\n"
    "  every registration of the host's service registry (of TYPE only):\n"
    "  TYPE VERSION PROVIDER HEALTH ROUTABLE ENDPOINT_PATH BASE_URL\n"
    "  --host, --api-key, --timeout-ms as for status\n"
    "exit: 0 ok, 1 the call failed (status printed), 2 usage\n";

static const char kUsageWatch[] =
    "usage: cpluginctl watch TYPE --host ADDR [--api-key KEY] [--count N]\n"
    "  what the registry answers for TYPE, one line per event until\n"
    "  Ctrl-C (exit 0) or N events:\n"
    "  EVENT TYPE STATE PROVIDER ENDPOINT_URL\n"
    "  --count N  stop after N events (1..1000000)\n"
    "  --host, --api-key as for status\n"
    "exit: 0 ok, 1 the stream failed (status printed), 2 usage\n";

static const char kUsageLimits[] =
    "usage: cpluginctl limits --host ADDR [--api-key KEY] [--timeout-ms MS]\n"
    "  the rate-limit rules the host applies now, in the order they were\n"
    "  set, then the default (*), with the calls each rejected:\n"
    "  PATH KIND RATE/S BURST DENIALS\n"
    "  --host, --api-key, --timeout-ms as for status\n"
    "exit: 0 ok, 1 the call failed (status printed), 2 usage\n";

const char *ctl_admin_usage(const char *command) {
  if (command == NULL) {
    return NULL;
  }
  if (strcmp(command, "status") == 0) {
    return kUsageStatus;
  }
  if (strcmp(command, "plugins") == 0) {
    return kUsagePlugins;
  }
  if (strcmp(command, "registry") == 0) {
    return kUsageRegistry;
  }
  if (strcmp(command, "watch") == 0) {
    return kUsageWatch;
  }
  if (strcmp(command, "limits") == 0) {
    return kUsageLimits;
  }
  return NULL;
}

#define FAIL(err, err_len, ...) \
  (snprintf((err), (err_len), __VA_ARGS__), CTL_PARSE_USAGE)

static bool parse_u64(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 19) {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

/* Text an operator gives for a plugin name or service type: printable,
 * no spaces, at most `max` bytes. */
static bool plain_word(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] <= ' ' || s[i] == 0x7f) {
      return false;
    }
  }
  return true;
}

/* What each command accepts. */
typedef struct cmd_shape {
  const char *name;
  size_t positionals; /* required, after the subcommand word if any */
  size_t optional_positionals;
  bool path;
  bool count;
  bool entry;
} cmd_shape;

static const cmd_shape kShapes[] = {
    [CTL_ADMIN_STATUS] = {"status", 0, 0, false, false, false},
    [CTL_ADMIN_PLUGIN_ADD] = {"add", 1, 0, true, false, true},
    [CTL_ADMIN_PLUGIN_REMOVE] = {"remove", 1, 0, false, false, false},
    [CTL_ADMIN_PLUGIN_REPLACE] = {"replace", 1, 0, true, false, false},
    [CTL_ADMIN_PLUGIN_RESTART] = {"restart", 1, 0, false, false, false},
    [CTL_ADMIN_REGISTRY_LIST] = {"list", 0, 1, false, false, false},
    [CTL_ADMIN_WATCH] = {"watch", 1, 0, false, true, false},
    [CTL_ADMIN_LIMITS] = {"limits", 0, 0, false, false, false},
};

/* Finds the command from argv[0] (and argv[1] for plugins and registry);
 * *first is the index of the first argument after it. */
static int find_command(int argc, char **argv, ctl_admin_cmd *cmd, int *first,
                        char *err, size_t err_len) {
  const char *c = argv[0];
  *first = 1;
  if (strcmp(c, "status") == 0) {
    *cmd = CTL_ADMIN_STATUS;
    return CTL_PARSE_OK;
  }
  if (strcmp(c, "watch") == 0) {
    *cmd = CTL_ADMIN_WATCH;
    return CTL_PARSE_OK;
  }
  if (strcmp(c, "limits") == 0) {
    *cmd = CTL_ADMIN_LIMITS;
    return CTL_PARSE_OK;
  }
  const char *sub = argc > 1 ? argv[1] : "";
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
    return CTL_PARSE_HELP;
  }
  *first = 2;
  if (strcmp(c, "registry") == 0) {
    if (strcmp(sub, "list") != 0) {
      return FAIL(err, err_len, "registry: expected \"list\"");
    }
    *cmd = CTL_ADMIN_REGISTRY_LIST;
    return CTL_PARSE_OK;
  }
  if (strcmp(c, "plugins") == 0) {
    for (int k = CTL_ADMIN_PLUGIN_ADD; k <= CTL_ADMIN_PLUGIN_RESTART; k++) {
      if (strcmp(sub, kShapes[k].name) == 0) {
        *cmd = (ctl_admin_cmd)k;
        return CTL_PARSE_OK;
      }
    }
    return FAIL(err, err_len,
                "plugins: expected add, remove, replace or restart");
  }
  return FAIL(err, err_len, "unknown admin command \"%s\"", c);
}

/* One option; *i moves past its value. */
static int apply_option(ctl_admin_args *out, const cmd_shape *shape, int argc,
                        char **argv, int *i, char *err, size_t err_len) {
  const char *arg = argv[*i];
  const char *eq = strchr(arg, '=');
  size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
  char name[32];
  if (n >= sizeof name) {
    return FAIL(err, err_len, "unknown option \"%s\"", arg);
  }
  memcpy(name, arg, n);
  name[n] = '\0';
  bool known = strcmp(name, "--host") == 0 || strcmp(name, "--api-key") == 0 ||
               strcmp(name, "--timeout-ms") == 0 ||
               (shape->path && strcmp(name, "--path") == 0) ||
               (shape->entry && strcmp(name, "--entry") == 0) ||
               (shape->count && strcmp(name, "--count") == 0);
  if (!known) {
    return FAIL(err, err_len, "unknown option \"%s\"", name);
  }
  const char *v;
  if (eq != NULL) {
    v = eq + 1;
  } else if (*i + 1 < argc) {
    v = argv[++*i];
  } else {
    return FAIL(err, err_len, "%s needs a value", name);
  }
  uint64_t u = 0;
  if (strcmp(name, "--host") == 0) {
    if (!ctl_loopback_address(v, false)) {
      return FAIL(err, err_len,
                  "--host: \"%s\" is not a loopback address with a port", v);
    }
    out->host = v;
  } else if (strcmp(name, "--api-key") == 0) {
    if (v[0] == '\0') {
      return FAIL(err, err_len, "--api-key: empty");
    }
    out->api_key = v;
  } else if (strcmp(name, "--timeout-ms") == 0) {
    if (!parse_u64(v, 1, CTL_ADMIN_MAX_TIMEOUT_MS, &u)) {
      return FAIL(err, err_len, "--timeout-ms: 1..%u",
                  CTL_ADMIN_MAX_TIMEOUT_MS);
    }
    out->timeout_ms = (uint32_t)u;
  } else if (strcmp(name, "--path") == 0) {
    if (v[0] == '\0' || strlen(v) > 4096) {
      return FAIL(err, err_len, "--path: 1..4096 bytes");
    }
    out->path = v;
  } else if (strcmp(name, "--entry") == 0) {
    if (v[0] == '\0' || strlen(v) > 4096) {
      return FAIL(err, err_len, "--entry: 1..4096 bytes");
    }
    out->entry = v;
  } else {
    if (!parse_u64(v, 1, 1000000, &u)) {
      return FAIL(err, err_len, "--count: 1..1000000");
    }
    out->count = u;
  }
  return CTL_PARSE_OK;
}

int ctl_parse_admin(int argc, char **argv, const char *env_key,
                    ctl_admin_args *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  if (argc < 1) {
    return FAIL(err, err_len, "no command");
  }
  int first = 1;
  int rc = find_command(argc, argv, &out->cmd, &first, err, err_len);
  if (rc != CTL_PARSE_OK) {
    return rc;
  }
  const cmd_shape *shape = &kShapes[out->cmd];
  const char *pos[2] = {NULL, NULL};
  size_t npos = 0;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      return CTL_PARSE_HELP;
    }
    if (strncmp(arg, "--", 2) == 0) {
      rc = apply_option(out, shape, argc, argv, &i, err, err_len);
      if (rc != CTL_PARSE_OK) {
        return rc;
      }
      continue;
    }
    if (npos == shape->positionals + shape->optional_positionals) {
      return FAIL(err, err_len, "unexpected argument \"%s\"", arg);
    }
    pos[npos++] = arg;
  }
  if (npos < shape->positionals) {
    return FAIL(err, err_len, "%s: missing %s", shape->name,
                out->cmd == CTL_ADMIN_WATCH ? "TYPE" : "NAME");
  }
  if (out->cmd >= CTL_ADMIN_PLUGIN_ADD &&
      out->cmd <= CTL_ADMIN_PLUGIN_RESTART) {
    if (pos[0] == NULL || !plain_word(pos[0], 64)) {
      return FAIL(err, err_len, "NAME: 1..64 printable bytes, no spaces");
    }
    out->name = pos[0];
  } else if (npos > 0) {
    if (!plain_word(pos[0], 128)) {
      return FAIL(err, err_len, "TYPE: 1..128 printable bytes, no spaces");
    }
    out->type = pos[0];
  }
  if (out->entry != NULL && out->path != NULL) {
    return FAIL(err, err_len,
                "--entry and --path: the entry names its own executable");
  }
  if (out->host == NULL) {
    return FAIL(err, err_len, "--host is required");
  }
  if (out->api_key == NULL && env_key != NULL && env_key[0] != '\0') {
    out->api_key = env_key;
  }
  if (out->api_key == NULL) {
    return FAIL(err, err_len, "--api-key (or CPLUGIN_ADMIN_KEY) is required");
  }
  if (out->timeout_ms == 0 && out->cmd != CTL_ADMIN_WATCH) {
    out->timeout_ms =
        out->cmd >= CTL_ADMIN_PLUGIN_ADD && out->cmd <= CTL_ADMIN_PLUGIN_RESTART
            ? CTL_ADMIN_CHANGE_TIMEOUT_MS
            : CTL_ADMIN_READ_TIMEOUT_MS;
  }
  return CTL_PARSE_OK;
}
