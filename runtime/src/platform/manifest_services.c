/* A plugin's "provides" and "requires" in the manifest: the same
 * declarations the plugin answers GetPluginInfo with, checked by the rules
 * the registry applies to them. */
#include <string.h>

#include "core/validate.h"
#include "platform/manifest_parts.h"
#include "core/semver.h"

static int check_type(manifest_ctx *c, const char *item, const char *type) {
  const char *why = cpi_check_service_type(type);
  if (why != NULL) {
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_key(where, item, "type");
    return cpi_manifest_fail(c, where, "%s", why);
  }
  return 0;
}

/* version or min_version: SemVer 2.0.0, as the registry compares them. */
static int read_version(manifest_ctx *c, json_t *obj, const char *item,
                        const char *key, bool required, const char **out) {
  int rc = cpi_manifest_read_string(c, obj, item, key, required,
                                    MANIFEST_STRING_MAX, out);
  if (rc != 0 || *out == NULL) {
    return rc;
  }
  if (strlen(*out) > CP_VERSION_MAX || !cpi_semver_valid(*out)) {
    char where[MANIFEST_JSON_PATH_MAX];
    char quoted[96];
    cpi_manifest_path_key(where, item, key);
    cpi_manifest_quote(*out, quoted, sizeof quoted);
    return cpi_manifest_fail(c, where,
                             "%s is not a semantic version of at most %d bytes "
                             "(MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])",
                             quoted, CP_VERSION_MAX);
  }
  return 0;
}

/* A type listed twice in one list: the plugin declares each once. */
static int check_unique(manifest_ctx *c, const char *item, const char *type,
                        bool duplicate) {
  if (!duplicate) {
    return 0;
  }
  char where[MANIFEST_JSON_PATH_MAX];
  char quoted[96];
  cpi_manifest_path_key(where, item, "type");
  cpi_manifest_quote(type, quoted, sizeof quoted);
  return cpi_manifest_fail(c, where, "%s is listed twice", quoted);
}

static int read_provide(manifest_ctx *c, json_t *v, const char *item,
                        const cp_service_decl *earlier, size_t n,
                        cp_service_decl *out) {
  static const char *const keys[] = {"type", "version", "path", NULL};
  int rc = cpi_manifest_check_object(c, v, item, keys);
  if (rc == 0) {
    rc = cpi_manifest_read_string(c, v, item, "type", true, MANIFEST_STRING_MAX,
                                  &out->type);
  }
  if (rc == 0) {
    rc = check_type(c, item, out->type);
  }
  bool dup = false;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    dup = dup || strcmp(earlier[i].type, out->type) == 0;
  }
  if (rc == 0) {
    rc = check_unique(c, item, out->type, dup);
  }
  if (rc == 0) {
    rc = read_version(c, v, item, "version", true, &out->version);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_string(c, v, item, "path", false,
                                  MANIFEST_STRING_MAX, &out->path);
  }
  const char *why =
      rc == 0 && out->path != NULL ? cpi_check_endpoint_path(out->path) : NULL;
  if (why != NULL) {
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_key(where, item, "path");
    rc = cpi_manifest_fail(c, where, "%s", why);
  }
  return rc;
}

static int read_require(manifest_ctx *c, json_t *v, const char *item,
                        const cp_service_dep *earlier, size_t n,
                        cp_service_dep *out) {
  static const char *const keys[] = {
      "type", "min_version", "required_for_startup", "watch_for_changes", NULL};
  int rc = cpi_manifest_check_object(c, v, item, keys);
  if (rc == 0) {
    rc = cpi_manifest_read_string(c, v, item, "type", true, MANIFEST_STRING_MAX,
                                  &out->type);
  }
  if (rc == 0) {
    rc = check_type(c, item, out->type);
  }
  bool dup = false;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    dup = dup || strcmp(earlier[i].type, out->type) == 0;
  }
  if (rc == 0) {
    rc = check_unique(c, item, out->type, dup);
  }
  if (rc == 0) {
    rc = read_version(c, v, item, "min_version", false, &out->min_version);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_bool(c, v, item, "required_for_startup",
                                &out->required_for_startup);
  }
  if (rc == 0) {
    rc = cpi_manifest_read_bool(c, v, item, "watch_for_changes",
                                &out->watch_for_changes);
  }
  return rc;
}

/* Reads item i of a list into out, checking it against the items before it
 * (earlier points at the list's first item). */
typedef int (*read_item_fn)(manifest_ctx *c, json_t *v, const char *item,
                            const void *earlier, size_t i, void *out);

static int read_provide_item(manifest_ctx *c, json_t *v, const char *item,
                             const void *earlier, size_t i, void *out) {
  return read_provide(c, v, item, earlier, i, out);
}

static int read_require_item(manifest_ctx *c, json_t *v, const char *item,
                             const void *earlier, size_t i, void *out) {
  return read_require(c, v, item, earlier, i, out);
}

/* plugin.<key>: an array of at most MANIFEST_MAX_SERVICES objects, each
 * read by `read` into an arena array of item_size-byte items. *count is 0
 * on failure. */
static int read_list(manifest_ctx *c, json_t *plugin, const char *path,
                     const char *key, size_t item_size, read_item_fn read,
                     void **items, size_t *count) {
  json_t *list;
  int rc = cpi_manifest_read_array(c, plugin, path, key, MANIFEST_MAX_SERVICES,
                                   &list);
  size_t n = list != NULL ? json_array_size(list) : 0;
  char *all = NULL;
  if (rc == 0) {
    rc = cpi_manifest_alloc_items(c, n, item_size, (void **)&all);
  }
  char base[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(base, path, key);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char item[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_index(item, base, i);
    rc = read(c, json_array_get(list, i), item, all, i, all + i * item_size);
  }
  *items = all;
  *count = rc == 0 ? n : 0;
  return rc;
}

static int read_provides(manifest_ctx *c, json_t *plugin, const char *path,
                         manifest_plugin *p) {
  void *items;
  int rc = read_list(c, plugin, path, "provides", sizeof(cp_service_decl),
                     read_provide_item, &items, &p->provides_count);
  p->provides = items;
  return rc;
}

static int read_requires(manifest_ctx *c, json_t *plugin, const char *path,
                         manifest_plugin *p) {
  void *items;
  int rc = read_list(c, plugin, path, "requires", sizeof(cp_service_dep),
                     read_require_item, &items, &p->requires_count);
  p->requires = items;
  return rc;
}

int cpi_manifest_read_services(manifest_ctx *c, json_t *plugin,
                               const char *path, manifest_plugin *p) {
  int rc = read_provides(c, plugin, path, p);
  if (rc == 0) {
    rc = read_requires(c, plugin, path, p);
  }
  return rc;
}
