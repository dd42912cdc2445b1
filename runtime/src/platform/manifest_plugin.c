/* One entry of the manifest's "plugins": what to start, how, and when to
 * start it again. */
#include <stdio.h>
#include <string.h>

#include "cplugin/tokens.h"
#include "platform/manifest_parts.h"

/* Defaults: docs/manifest.md lists them for users. */
enum {
  DEFAULT_READY_TIMEOUT_MS = 5000,
  DEFAULT_MAX_RESTARTS = 5,
  DEFAULT_WINDOW_MS = 60000,
  DEFAULT_BACKOFF_INITIAL_MS = 100,
  DEFAULT_BACKOFF_MAX_MS = 10000
};

/* Upper bounds: far above any sensible setting, low enough that a typo
 * (an extra zero or three) is caught rather than waited out. */
#define MAX_READY_TIMEOUT_MS INT64_C(600000)
#define MAX_RESTARTS INT64_C(1000)
#define MAX_WINDOW_MS INT64_C(86400000)
#define MAX_BACKOFF_MS INT64_C(3600000)

/* A self_id the handshake would accept, short enough for MANIFEST_NAME_MAX. */
static int check_name(manifest_ctx *c, const char *where, const char *name) {
  if (strlen(name) > MANIFEST_NAME_MAX || !cp_self_id_valid(name)) {
    char quoted[96];
    cpi_manifest_quote(name, quoted, sizeof quoted);
    return cpi_manifest_fail(c, where,
                             "invalid name %s (want 1-%d characters: a letter, "
                             "then letters, digits, '_', '.' or '-')",
                             quoted, MANIFEST_NAME_MAX);
  }
  return 0;
}

/* A relative path is joined to the manifest's directory ("./" prefixes
 * dropped), so where the host runs from never changes what it launches. */
static int resolve_path(manifest_ctx *c, const char *where, const char **path) {
  const char *rel = *path;
  if (rel[0] == '/') {
    return 0;
  }
  if (c->base_dir == NULL) {
    char quoted[96];
    cpi_manifest_quote(rel, quoted, sizeof quoted);
    return cpi_manifest_fail(c, where,
                             "relative path %s needs the manifest's directory "
                             "(none was given)",
                             quoted);
  }
  while (rel[0] == '.' && rel[1] == '/') {
    rel += 2;
    while (rel[0] == '/') {
      rel++;
    }
  }
  size_t dir_len = strlen(c->base_dir);
  bool slash = dir_len > 0 && c->base_dir[dir_len - 1] == '/';
  size_t len = dir_len + (slash ? 0 : 1) + strlen(rel);
  if (len > MANIFEST_PATH_MAX) {
    return cpi_manifest_fail(c, where, "longer than %d bytes once resolved",
                             MANIFEST_PATH_MAX);
  }
  char *joined = cpi_arena_alloc(c->arena, len + 1);
  if (joined == NULL) {
    return cpi_manifest_fail_nomem(c);
  }
  snprintf(joined, len + 1, "%s%s%s", c->base_dir, slash ? "" : "/", rel);
  *path = joined;
  return 0;
}

/* Exactly one of "path" and "in_process"; the process-only keys only with
 * "path". */
static int read_target(manifest_ctx *c, json_t *v, const char *path,
                       manifest_plugin *p) {
  char where[MANIFEST_JSON_PATH_MAX];
  int rc = cpi_manifest_read_string(c, v, path, "path", false,
                                    MANIFEST_PATH_MAX, &p->path);
  if (rc == 0) {
    rc = cpi_manifest_read_string(c, v, path, "in_process", false,
                                  MANIFEST_STRING_MAX, &p->in_process);
  }
  if (rc != 0) {
    return rc;
  }
  if (p->path == NULL && p->in_process == NULL) {
    return cpi_manifest_fail(c, path, "needs \"path\" or \"in_process\"");
  }
  if (p->path != NULL && p->in_process != NULL) {
    return cpi_manifest_fail(c, path,
                             "has both \"path\" and \"in_process\" (want one)");
  }
  if (p->in_process != NULL) {
    static const char *const process_only[] = {"args", "env", "transport"};
    for (size_t i = 0; i < sizeof process_only / sizeof process_only[0]; i++) {
      if (json_object_get(v, process_only[i]) != NULL) {
        cpi_manifest_path_key(where, path, process_only[i]);
        return cpi_manifest_fail(c, where,
                                 "applies only to a plugin with \"path\"");
      }
    }
    cpi_manifest_path_key(where, path, "in_process");
    return check_name(c, where, p->in_process);
  }
  cpi_manifest_path_key(where, path, "path");
  return resolve_path(c, where, &p->path);
}

static int read_args(manifest_ctx *c, json_t *v, const char *path,
                     manifest_plugin *p) {
  json_t *list;
  int rc =
      cpi_manifest_read_array(c, v, path, "args", MANIFEST_MAX_ARGS, &list);
  size_t n = list != NULL ? json_array_size(list) : 0;
  const char **args = NULL;
  if (rc == 0) {
    rc = cpi_manifest_alloc_items(c, n, sizeof *args, (void **)&args);
  }
  char base[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(base, path, "args");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_index(where, base, i);
    rc = cpi_manifest_copy_string(c, json_array_get(list, i), where,
                                  MANIFEST_STRING_MAX, &args[i]);
  }
  p->args = args;
  p->args_count = rc == 0 ? n : 0;
  return rc;
}

static int read_transport(manifest_ctx *c, json_t *v, const char *path,
                          manifest_plugin *p) {
  const char *name;
  p->transport = MANIFEST_TRANSPORT_UNIX;
  int rc = cpi_manifest_read_string(c, v, path, "transport", false,
                                    MANIFEST_STRING_MAX, &name);
  if (rc != 0 || name == NULL || strcmp(name, "unix") == 0) {
    return rc;
  }
  if (strcmp(name, "tcp") == 0) {
    p->transport = MANIFEST_TRANSPORT_TCP;
    return 0;
  }
  char where[MANIFEST_JSON_PATH_MAX];
  char quoted[96];
  cpi_manifest_path_key(where, path, "transport");
  cpi_manifest_quote(name, quoted, sizeof quoted);
  return cpi_manifest_fail(
      c, where, "unknown value %s (want \"unix\" or \"tcp\")", quoted);
}

static int read_policy(manifest_ctx *c, json_t *v, const char *path,
                       manifest_restart *r) {
  static const struct {
    const char *name;
    manifest_restart_policy policy;
  } policies[] = {{"on-failure", MANIFEST_RESTART_ON_FAILURE},
                  {"always", MANIFEST_RESTART_ALWAYS},
                  {"never", MANIFEST_RESTART_NEVER}};
  const char *name;
  int rc = cpi_manifest_read_string(c, v, path, "policy", false,
                                    MANIFEST_STRING_MAX, &name);
  if (rc != 0 || name == NULL) {
    return rc;
  }
  for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
    if (strcmp(name, policies[i].name) == 0) {
      r->policy = policies[i].policy;
      return 0;
    }
  }
  char where[MANIFEST_JSON_PATH_MAX];
  char quoted[96];
  cpi_manifest_path_key(where, path, "policy");
  cpi_manifest_quote(name, quoted, sizeof quoted);
  return cpi_manifest_fail(
      c, where,
      "unknown value %s (want \"on-failure\", \"always\" or \"never\")",
      quoted);
}

static int read_restart(manifest_ctx *c, json_t *plugin, const char *path,
                        manifest_restart *r) {
  static const char *const keys[] = {"policy",         "max_restarts",
                                     "window_ms",      "backoff_initial_ms",
                                     "backoff_max_ms", NULL};
  r->policy = MANIFEST_RESTART_ON_FAILURE;
  r->max_restarts = DEFAULT_MAX_RESTARTS;
  r->window_ms = DEFAULT_WINDOW_MS;
  r->backoff_initial_ms = DEFAULT_BACKOFF_INITIAL_MS;
  r->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
  json_t *v = json_object_get(plugin, "restart");
  if (v == NULL) {
    return 0;
  }
  char where[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(where, path, "restart");
  int64_t max_restarts = DEFAULT_MAX_RESTARTS;
  int rc = cpi_manifest_check_object(c, v, where, keys);
  if (rc == 0) {
    rc = read_policy(c, v, where, r);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_int(c, v, where, "max_restarts", 0, MAX_RESTARTS,
                               &max_restarts);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_int(c, v, where, "window_ms", 1, MAX_WINDOW_MS,
                               &r->window_ms);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_int(c, v, where, "backoff_initial_ms", 1,
                               MAX_BACKOFF_MS, &r->backoff_initial_ms);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_int(c, v, where, "backoff_max_ms",
                               r->backoff_initial_ms, MAX_BACKOFF_MS,
                               &r->backoff_max_ms);
  }
  /* Reached when only backoff_initial_ms was raised past the default
   * ceiling: the message names both keys. */
  if (rc == 0 && r->backoff_max_ms < r->backoff_initial_ms) {
    rc = cpi_manifest_fail(
        c, where, "backoff_initial_ms %lld is above backoff_max_ms %lld",
        (long long)r->backoff_initial_ms, (long long)r->backoff_max_ms);
  }
  r->max_restarts = (uint32_t)max_restarts;
  return rc;
}

int cpi_manifest_read_plugin(manifest_ctx *c, json_t *v, const char *path,
                             manifest_plugin *out) {
  static const char *const keys[] = {"name",
                                     "path",
                                     "in_process",
                                     "args",
                                     "env",
                                     "transport",
                                     "ready_timeout_ms",
                                     "restart",
                                     "provides",
                                     "requires",
                                     NULL};
  char where[MANIFEST_JSON_PATH_MAX];
  int rc = cpi_manifest_check_object(c, v, path, keys);
  if (rc == 0) {
    rc = cpi_manifest_read_string(c, v, path, "name", true, MANIFEST_STRING_MAX,
                                  &out->name);
  }
  if (rc == 0) {
    cpi_manifest_path_key(where, path, "name");
    rc = check_name(c, where, out->name);
  }
  if (rc == 0) {
    rc = read_target(c, v, path, out);
  }
  if (rc == 0) {
    rc = read_args(c, v, path, out);
  }
  json_t *env = json_object_get(v, "env");
  if (rc == 0 && env != NULL) {
    cpi_manifest_path_key(where, path, "env");
    rc = cpi_manifest_read_env(c, env, where, out);
  }
  if (rc == 0) {
    rc = read_transport(c, v, path, out);
  }
  out->ready_timeout_ms = DEFAULT_READY_TIMEOUT_MS;
  if (rc == 0) {
    rc = cpi_manifest_read_int(c, v, path, "ready_timeout_ms", 1,
                               MAX_READY_TIMEOUT_MS, &out->ready_timeout_ms);
  }
  if (rc == 0) {
    rc = read_restart(c, v, path, &out->restart);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_services(c, v, path, out);
  }
  return rc;
}
