/* cpluginctl — command-line parsing of the admin commands (status, plugins,
 * registry, watch), which talk to a host's admin service
 * (cplugin.admin.v1.Admin, cplugin/admin.h). No I/O, no side effects, so
 * every rejection is unit-tested; results as cli.h's ctl_parse_*.
 *
 *   status   --host ADDR [--api-key KEY] [--timeout-ms MS]
 *   plugins  add|remove|replace|restart NAME [--path P] (path: add, replace)
 *            [--entry FILE] (add: a plugin the manifest does not list)
 *   registry list [TYPE]
 *   watch    TYPE [--count N]
 *   limits   (the effective rate-limit rules)
 *
 * Options and positional arguments may come in any order. The API key
 * comes from --api-key, else from `env_key` (the caller passes
 * getenv("CPLUGIN_ADMIN_KEY")); one of them is required.
 *
 * Thread safety: pure functions. */
#ifndef CPLUGINCTL_ADMIN_CLI_H
#define CPLUGINCTL_ADMIN_CLI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ctl_admin_cmd {
  CTL_ADMIN_STATUS = 0,
  /* With --entry: AddPlugin; without: a replace (starts a removed plugin
   * again). */
  CTL_ADMIN_PLUGIN_ADD,
  CTL_ADMIN_PLUGIN_REMOVE,
  CTL_ADMIN_PLUGIN_REPLACE,
  CTL_ADMIN_PLUGIN_RESTART,
  CTL_ADMIN_REGISTRY_LIST,
  CTL_ADMIN_WATCH,
  CTL_ADMIN_LIMITS
} ctl_admin_cmd;

/* Defaults of --timeout-ms: reads, and plugin changes (a change waits for
 * the new process to become healthy and the old one to stop). */
#define CTL_ADMIN_READ_TIMEOUT_MS 10000u
#define CTL_ADMIN_CHANGE_TIMEOUT_MS 120000u
#define CTL_ADMIN_MAX_TIMEOUT_MS 600000u

typedef struct ctl_admin_args {
  ctl_admin_cmd cmd;
  const char *host;    /* required, loopback (plaintext: the key is sent) */
  const char *api_key; /* required (option or environment) */
  const char *name;    /* plugins: the plugin */
  const char *path;    /* add, replace: NULL = the manifest's executable */
  const char *entry;   /* add: a file with the new plugin's entry, or NULL */
  const char *type;    /* registry list: NULL = every type; watch: required */
  uint64_t count;      /* watch: stop after this many events; 0 = never */
  uint32_t timeout_ms; /* per call; watch: 0 = none (the default) */
} ctl_admin_args;

/* argv[0] is the command ("status", "plugins", "registry", "watch" or
 * "limits"). */
int ctl_parse_admin(int argc, char **argv, const char *env_key,
                    ctl_admin_args *out, char *err, size_t err_len);

/* Usage of an admin command (argv[0] as above), or NULL for another. */
const char *ctl_admin_usage(const char *command);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGINCTL_ADMIN_CLI_H */
