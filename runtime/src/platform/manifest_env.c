/* A plugin's environment in the manifest: the allow-list of host variables
 * and the fixed values, both keyed by names the host does not reserve. */
#include <string.h>

#include "platform/manifest_parts.h"

bool cpi_manifest_env_reserved(const char *name) {
  static const char *const reserved[] = {
      MANIFEST_ENV_HOST_URL_LEGACY, MANIFEST_ENV_HOST_URL,
      MANIFEST_ENV_LAUNCH_SECRET, MANIFEST_ENV_LISTEN};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    if (strcmp(name, reserved[i]) == 0) {
      return true;
    }
  }
  return strncmp(name, MANIFEST_ENV_RESERVED_PREFIX,
                 strlen(MANIFEST_ENV_RESERVED_PREFIX)) == 0;
}

/* POSIX's portable name: [A-Za-z_][A-Za-z0-9_]*. Anything else (an '=' in
 * particular) would not survive the trip through environ. */
static bool name_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MANIFEST_ENV_NAME_MAX) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || (i > 0 && ch >= '0' && ch <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

/* True when `name` is already among the names read so far. */
static bool seen(const char *const *allow, size_t allow_n,
                 const manifest_env_var *set, size_t set_n, const char *name) {
  for (size_t i = 0; i < allow_n; i++) {
    if (strcmp(allow[i], name) == 0) {
      return true;
    }
  }
  for (size_t i = 0; i < set_n; i++) {
    if (strcmp(set[i].name, name) == 0) {
      return true;
    }
  }
  return false;
}

/* The checks every name passes, whichever list it is in. */
static int check_name(manifest_ctx *c, const char *where, const char *name,
                      bool duplicate) {
  char quoted[128];
  cpi_manifest_quote(name, quoted, sizeof quoted);
  if (!name_valid(name)) {
    return cpi_manifest_fail(c, where,
                             "invalid variable name %s (want 1-%d of "
                             "[A-Za-z0-9_], not starting with a digit)",
                             quoted, MANIFEST_ENV_NAME_MAX);
  }
  if (cpi_manifest_env_reserved(name)) {
    return cpi_manifest_fail(c, where, "%s is reserved for the host", quoted);
  }
  if (duplicate) {
    return cpi_manifest_fail(c, where, "%s appears twice in env", quoted);
  }
  return 0;
}

static int read_allow(manifest_ctx *c, json_t *env, const char *path,
                      manifest_plugin *p) {
  json_t *list;
  int rc =
      cpi_manifest_read_array(c, env, path, "allow", MANIFEST_MAX_ENV, &list);
  size_t n = list != NULL ? json_array_size(list) : 0;
  const char **names = NULL;
  if (rc == 0) {
    rc = cpi_manifest_alloc_items(c, n, sizeof *names, (void **)&names);
  }
  char base[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(base, path, "allow");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_index(where, base, i);
    rc = cpi_manifest_copy_string(c, json_array_get(list, i), where,
                                  MANIFEST_STRING_MAX, &names[i]);
    if (rc == 0) {
      rc = check_name(c, where, names[i], seen(names, i, NULL, 0, names[i]));
    }
  }
  p->env_allow = names;
  p->env_allow_count = rc == 0 ? n : 0;
  return rc;
}

static int read_set(manifest_ctx *c, json_t *env, const char *path,
                    manifest_plugin *p) {
  char base[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(base, path, "set");
  json_t *map = json_object_get(env, "set");
  if (map == NULL) {
    return 0;
  }
  if (!json_is_object(map)) {
    return cpi_manifest_fail(c, base, "must be an object of name: value");
  }
  size_t n = json_object_size(map);
  if (p->env_allow_count + n > MANIFEST_MAX_ENV) {
    return cpi_manifest_fail(c, path, "more than %d variables",
                             MANIFEST_MAX_ENV);
  }
  if (n == 0) {
    return 0;
  }
  manifest_env_var *vars;
  int rc = cpi_manifest_alloc_items(c, n, sizeof *vars, (void **)&vars);
  if (rc != 0) {
    return rc;
  }
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach(map, key, value) {
    rc = check_name(c, base, key,
                    seen(p->env_allow, p->env_allow_count, vars, i, key));
    if (rc != 0) {
      break;
    }
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_key(where, base, key);
    rc = cpi_manifest_copy_string(c, value, where, MANIFEST_STRING_MAX,
                                  &vars[i].value);
    if (rc != 0) {
      break;
    }
    vars[i].name = cpi_arena_strndup(c->arena, key, strlen(key));
    if (vars[i].name == NULL) {
      rc = cpi_manifest_fail_nomem(c);
      break;
    }
    i++;
  }
  p->env_set = vars;
  p->env_set_count = rc == 0 ? n : 0;
  return rc;
}

int cpi_manifest_read_env(manifest_ctx *c, json_t *env, const char *path,
                          manifest_plugin *p) {
  static const char *const keys[] = {"allow", "set", NULL};
  int rc = cpi_manifest_check_object(c, env, path, keys);
  if (rc == 0) {
    rc = read_allow(c, env, path, p);
  }
  if (rc == 0) {
    rc = read_set(c, env, path, p);
  }
  return rc;
}
