/* The plugin manifest (internal): the JSON file that lists the plugins a host
 * launches and supervises. docs/manifest.md is the user's reference; this
 * header is the contract of the parser.
 *
 *   {
 *     "version": 1,
 *     "plugins": [
 *       { "name": "storage",
 *         "path": "./plugins/storage",         exactly one of path/in_process
 *         "args": ["--flag"],
 *         "env": {"allow": ["LANG"], "set": {"STORAGE_DIR": "/var/lib/x"}},
 *         "transport": "unix",                 "unix" (default) or "tcp"
 *         "ready_timeout_ms": 5000,
 *         "restart": {"policy": "on-failure", "max_restarts": 5,
 *                     "window_ms": 60000, "backoff_initial_ms": 100,
 *                     "backoff_max_ms": 10000},
 *         "provides": [{"type": "storage", "version": "1.0.0",
 *                       "path": "/storage.v1.Storage/"}],
 *         "requires": [{"type": "logger", "min_version": "1.0.0",
 *                       "required_for_startup": true,
 *                       "watch_for_changes": true}] },
 *       { "name": "logger", "in_process": "logger" }
 *     ]
 *   }
 *
 * Plain JSON (RFC 8259, no comments), parsed by jansson. Every object is
 * closed: an unknown key is an error, so a typo never silently becomes a
 * default. Duplicate keys are errors too. The keys of "provides" and
 * "requires" are those of the wire's ServiceDeclaration and
 * ServiceDependency (proto/plugin/v1/handshake.proto); "name" is the self_id
 * the plugin must answer GetPluginInfo with.
 *
 * Rules and defaults (MANIFEST_* constants below):
 *  - "version" is required and must be 1. "plugins" is required (it may be
 *    empty: plugins can be added at run time), at most MANIFEST_MAX_PLUGINS.
 *  - "name": required, unique in the file, a self_id (a letter, then
 *    letters, digits, '_', '.', '-') of at most MANIFEST_NAME_MAX bytes.
 *  - "path": a process plugin's executable. A relative path is resolved
 *    against the directory of the manifest file (made absolute), never
 *    against the host's working directory. "in_process": the name a plugin
 *    compiled into the host binary is registered under (same pattern as
 *    "name"). Exactly one of the two. "args", "env" and "transport" apply to
 *    process plugins only and are errors on an in-process one.
 *  - "args": argv[1..] (argv[0] is the path), at most MANIFEST_MAX_ARGS
 *    strings of at most MANIFEST_STRING_MAX bytes.
 *  - "env": the plugin's whole environment besides what the host itself
 *    passes (nothing else is inherited). "allow" names host variables copied
 *    when set; "set" gives fixed values. Names match [A-Za-z_][A-Za-z0-9_]*
 *    (at most MANIFEST_ENV_NAME_MAX bytes), appear once across both lists,
 *    and are not reserved for the host (cpi_manifest_env_reserved). At most
 *    MANIFEST_MAX_ENV names in all; values at most MANIFEST_STRING_MAX bytes.
 *  - "ready_timeout_ms": 1 .. 600000, default 5000.
 *  - "restart": "policy" is "on-failure" (default: restart after a crash,
 *    a non-zero exit or a failed health probe, not after exit status 0),
 *    "always" (also after exit status 0) or "never"; a stop the host asked
 *    for is never followed by a restart.
 *    "max_restarts" (0 .. 1000, default 5) within "window_ms" (1 ..
 *    86400000, default 60000) before the plugin is marked failed;
 *    "backoff_initial_ms" (1 .. 3600000, default 100) doubling up to
 *    "backoff_max_ms" (backoff_initial_ms .. 3600000, default 10000).
 *  - "provides": at most MANIFEST_MAX_SERVICES {type, version, path?}:
 *    type as the registry accepts it, version a SemVer 2.0.0 version, path
 *    an endpoint path. A type appears once per plugin.
 *  - "requires": at most MANIFEST_MAX_SERVICES {type, min_version?,
 *    required_for_startup? (false), watch_for_changes? (false)}; no
 *    min_version means any version. A type appears once per plugin. Whether
 *    a provider exists and whether the graph has cycles is checked by the
 *    dependency graph, not here.
 *  - Numbers are JSON integers (5000, not 5000.0 or "5000").
 *  - The file is at most MANIFEST_FILE_MAX bytes.
 *
 * Errors are one line in `err`, prefixed by the file name ("<string>" for
 * cpi_manifest_parse_string). A syntax error gives jansson's line and column
 * (1-based; the column is that of the last character of the token where
 * parsing stopped), a validation error the JSON path:
 *   manifest.json:5:23: syntax error: '}' expected near '"path"'
 *   manifest.json: plugins[1].restart.policy: unknown value "sometimes" ...
 *
 * Thread safety: the functions share no state; a manifest is immutable once
 * returned and may be read from any number of threads. */
#ifndef CPLUGIN_PLATFORM_MANIFEST_H
#define CPLUGIN_PLATFORM_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/handshake.h"
#include "cplugin/plugin_runtime.h"

/* The one format version this parser reads. */
#define MANIFEST_FORMAT_VERSION 1

enum {
  MANIFEST_FILE_MAX = 1 << 20,
  MANIFEST_MAX_PLUGINS = 256,
  /* Short enough for a log prefix and a socket file name under a private
   * directory (sun_path holds 108 bytes). */
  MANIFEST_NAME_MAX = 64,
  MANIFEST_PATH_MAX = 4095,
  MANIFEST_MAX_ARGS = 256,
  MANIFEST_MAX_ENV = 256,
  MANIFEST_ENV_NAME_MAX = 128,
  MANIFEST_STRING_MAX = 4096,
  MANIFEST_MAX_SERVICES = 64
};

/* Environment variables the host sets for a launched plugin; a manifest may
 * neither allow nor set them (nor any name starting with
 * MANIFEST_ENV_RESERVED_PREFIX, kept for the launcher's future use). */
#define MANIFEST_ENV_HOST_URL_LEGACY CP_HOST_URL_ENV /* cp_plugin_runtime */
#define MANIFEST_ENV_HOST_URL CP_LAUNCH_HOST_URL_ENV
#define MANIFEST_ENV_LAUNCH_SECRET CP_LAUNCH_SECRET_ENV
#define MANIFEST_ENV_LISTEN CP_LAUNCH_LISTEN_ENV
#define MANIFEST_ENV_RESERVED_PREFIX "CPLUGIN_LAUNCH_"

typedef enum manifest_transport {
  MANIFEST_TRANSPORT_UNIX, /* a Unix socket in a private directory */
  MANIFEST_TRANSPORT_TCP   /* TCP on loopback */
} manifest_transport;

typedef enum manifest_restart_policy {
  MANIFEST_RESTART_ON_FAILURE,
  MANIFEST_RESTART_ALWAYS,
  MANIFEST_RESTART_NEVER
} manifest_restart_policy;

typedef struct manifest_restart {
  manifest_restart_policy policy;
  uint32_t max_restarts;
  int64_t window_ms;
  int64_t backoff_initial_ms;
  int64_t backoff_max_ms;
} manifest_restart;

typedef struct manifest_env_var {
  const char *name;
  const char *value;
} manifest_env_var;

typedef struct manifest_plugin {
  const char *name;
  /* Exactly one is non-NULL. path is absolute when the manifest came from
   * a file (or parse_string had a base directory). */
  const char *path;
  const char *in_process;
  const char *const *args; /* args_count entries */
  size_t args_count;
  const char *const *env_allow; /* env_allow_count names */
  size_t env_allow_count;
  const manifest_env_var *env_set; /* env_set_count entries, file order */
  size_t env_set_count;
  manifest_transport transport;
  int64_t ready_timeout_ms;
  manifest_restart restart;
  /* The wire's declarations; path and min_version are NULL when absent. */
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
} manifest_plugin;

typedef struct manifest {
  int version;
  const manifest_plugin *plugins; /* plugins_count entries, file order */
  size_t plugins_count;
} manifest;

/* Reads and validates the manifest at `path`; relative plugin paths are
 * resolved against the file's directory. On success returns 0 and sets
 * *out (free it with cpi_manifest_free; every string and array in it belongs
 * to it). On failure *out is NULL, `err` holds the reason (truncated to
 * errlen) and the result is CP_EINVAL (syntax, validation, too large),
 * CP_ESYS (cannot open or read the file) or CP_ENOMEM. */
int cpi_manifest_load_file(const char *path, manifest **out, char *err,
                           size_t errlen);

/* As cpi_manifest_load_file, for a NUL-terminated JSON text. Relative plugin
 * paths are resolved against `base_dir` (not resolved further); with
 * base_dir NULL they are errors. */
int cpi_manifest_parse_string(const char *json, const char *base_dir,
                              manifest **out, char *err, size_t errlen);

/* The absolute directory of the manifest file `path` (PATH_MAX bytes at
 * `dir`): what its relative plugin paths are resolved against. Returns 0,
 * CP_EINVAL or CP_ESYS with err. */
int cpi_manifest_base_dir(const char *path, char *dir, char *err,
                          size_t errlen);

/* One plugin entry (a JSON object as an item of "plugins", for a plugin
 * added at run time): a manifest with that one plugin. Errors are
 * prefixed "<entry>", their JSON paths relative to the object ("name",
 * "restart.policy"). Relative paths as for cpi_manifest_parse_string. */
int cpi_manifest_parse_entry(const char *json, const char *base_dir,
                             manifest **out, char *err, size_t errlen);

/* Frees a manifest and everything in it; NULL is a no-op. */
void cpi_manifest_free(manifest *m);

/* True for a name the host sets itself (see above). */
bool cpi_manifest_env_reserved(const char *name);

/* Finds a plugin by name; NULL when absent. */
const manifest_plugin *cpi_manifest_find(const manifest *m, const char *name);

#endif /* CPLUGIN_PLATFORM_MANIFEST_H */
