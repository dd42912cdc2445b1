/* The manifest's entry points: read the file (bounded), let jansson parse
 * it, then check the top level and each plugin entry into an arena that the
 * result owns. */
#define _GNU_SOURCE /* realpath */
#include "platform/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "cplugin/errors.h"
#include "platform/manifest_parts.h"

/* The result and the arena holding everything it points to. */
typedef struct manifest_owned {
  manifest pub; /* first: cpi_manifest_free casts back */
  cp_arena arena;
} manifest_owned;

static int read_plugins(manifest_ctx *c, json_t *root, manifest *m) {
  json_t *list;
  int rc = cpi_manifest_read_array(c, root, "", "plugins", MANIFEST_MAX_PLUGINS,
                                   &list);
  if (rc == 0 && list == NULL) {
    return cpi_manifest_fail(c, "plugins", "required (it may be empty: [])");
  }
  size_t n = rc == 0 ? json_array_size(list) : 0;
  manifest_plugin *plugins = NULL;
  if (rc == 0) {
    rc = cpi_manifest_alloc_items(c, n, sizeof *plugins, (void **)&plugins);
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char path[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_index(path, "plugins", i);
    rc =
        cpi_manifest_read_plugin(c, json_array_get(list, i), path, &plugins[i]);
    for (size_t j = 0; rc == 0 && j < i; j++) {
      if (strcmp(plugins[j].name, plugins[i].name) == 0) {
        char where[MANIFEST_JSON_PATH_MAX];
        char quoted[96];
        cpi_manifest_path_key(where, path, "name");
        cpi_manifest_quote(plugins[i].name, quoted, sizeof quoted);
        rc = cpi_manifest_fail(
            c, where, "%s is already the name of plugins[%zu]", quoted, j);
      }
    }
  }
  m->plugins = plugins;
  m->plugins_count = rc == 0 ? n : 0;
  return rc;
}

static int read_root(manifest_ctx *c, json_t *root, manifest *m) {
  static const char *const keys[] = {"version", "plugins", NULL};
  int rc = cpi_manifest_check_object(c, root, "", keys);
  if (rc != 0) {
    return rc;
  }
  json_t *version = json_object_get(root, "version");
  if (version == NULL) {
    return cpi_manifest_fail(c, "version",
                             "required (this host reads version %d)",
                             MANIFEST_FORMAT_VERSION);
  }
  if (!json_is_integer(version) ||
      json_integer_value(version) != MANIFEST_FORMAT_VERSION) {
    return cpi_manifest_fail(c, "version",
                             "unsupported (this host reads version %d only)",
                             MANIFEST_FORMAT_VERSION);
  }
  m->version = MANIFEST_FORMAT_VERSION;
  return read_plugins(c, root, m);
}

/* One plugin object, checked as an item of "plugins" is. */
static int read_entry(manifest_ctx *c, json_t *root, manifest *m) {
  manifest_plugin *plugin = NULL;
  int rc = cpi_manifest_alloc_items(c, 1, sizeof *plugin, (void **)&plugin);
  if (rc == 0) {
    rc = cpi_manifest_read_plugin(c, root, "", plugin);
  }
  m->version = MANIFEST_FORMAT_VERSION;
  m->plugins = plugin;
  m->plugins_count = rc == 0 ? 1 : 0;
  return rc;
}

typedef int (*read_fn)(manifest_ctx *c, json_t *root, manifest *m);

/* jansson's position ("7:12") leads, as compilers print it, so editors can
 * jump to it. */
static int syntax_error(manifest_ctx *c, const json_error_t *e) {
  if (json_error_code(e) == json_error_out_of_memory) {
    return cpi_manifest_fail_nomem(c);
  }
  if (c->errlen > 0) {
    snprintf(c->err, c->errlen, "%s:%d:%d: syntax error: %s", c->source,
             e->line, e->column, e->text);
  }
  return CP_EINVAL;
}

static int parse(manifest_ctx *c, const char *text, size_t len, read_fn read,
                 manifest **out) {
  manifest_owned *owned = calloc(1, sizeof *owned);
  if (owned == NULL) {
    return cpi_manifest_fail_nomem(c);
  }
  cpi_arena_init(&owned->arena);
  c->arena = &owned->arena;
  json_error_t e;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
  int rc = root != NULL ? read(c, root, &owned->pub) : syntax_error(c, &e);
  json_decref(root);
  if (rc != 0) {
    cpi_manifest_free(&owned->pub);
    return rc;
  }
  *out = &owned->pub;
  return 0;
}

static int parse_text(const char *json, const char *source,
                      const char *base_dir, read_fn read, manifest **out,
                      char *err, size_t errlen) {
  manifest_ctx c = {NULL, source, base_dir, err, errlen};
  *out = NULL;
  if (json == NULL) {
    return cpi_manifest_fail(&c, "", "no text");
  }
  size_t len = strnlen(json, (size_t)MANIFEST_FILE_MAX + 1);
  if (len > MANIFEST_FILE_MAX) {
    return cpi_manifest_fail(&c, "", "larger than %d bytes", MANIFEST_FILE_MAX);
  }
  return parse(&c, json, len, read, out);
}

int cpi_manifest_parse_string(const char *json, const char *base_dir,
                              manifest **out, char *err, size_t errlen) {
  return parse_text(json, "<string>", base_dir, read_root, out, err, errlen);
}

int cpi_manifest_parse_entry(const char *json, const char *base_dir,
                             manifest **out, char *err, size_t errlen) {
  return parse_text(json, "<entry>", base_dir, read_entry, out, err, errlen);
}

/* The whole file, at most MANIFEST_FILE_MAX bytes: read here rather than by
 * json_load_file, which would read a file (or a FIFO) of any size. */
static int read_file(manifest_ctx *c, const char *path, char **text,
                     size_t *len) {
  FILE *f = fopen(path, "rbe");
  if (f == NULL) {
    int saved = errno;
    snprintf(c->err, c->errlen, "%s: cannot open: %s", path, strerror(saved));
    return CP_ESYS;
  }
  char *buf = malloc((size_t)MANIFEST_FILE_MAX + 1);
  size_t n = buf != NULL ? fread(buf, 1, (size_t)MANIFEST_FILE_MAX + 1, f) : 0;
  int rc = 0;
  if (buf == NULL) {
    rc = cpi_manifest_fail_nomem(c);
  } else if (ferror(f)) {
    snprintf(c->err, c->errlen, "%s: cannot read: %s", path, strerror(errno));
    rc = CP_ESYS;
  } else if (n > MANIFEST_FILE_MAX) {
    rc = cpi_manifest_fail(c, "", "larger than %d bytes", MANIFEST_FILE_MAX);
  }
  fclose(f);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *text = buf;
  *len = n;
  return 0;
}

/* The directory holding `path`, absolute, so plugin paths do not depend on
 * the host's working directory. */
static int manifest_dir(manifest_ctx *c, const char *path, char *dir) {
  char copy[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    snprintf(copy, sizeof copy, ".");
  } else if (slash == path) {
    snprintf(copy, sizeof copy, "/");
  } else {
    snprintf(copy, sizeof copy, "%.*s", (int)(slash - path), path);
  }
  if (realpath(copy, dir) == NULL) {
    int saved = errno;
    snprintf(c->err, c->errlen, "%s: cannot resolve its directory: %s", path,
             strerror(saved));
    return CP_ESYS;
  }
  return 0;
}

int cpi_manifest_base_dir(const char *path, char *dir, char *err,
                          size_t errlen) {
  manifest_ctx c = {NULL, path, NULL, err, errlen};
  if (path == NULL || strlen(path) >= PATH_MAX) {
    c.source = "manifest";
    return cpi_manifest_fail(&c, "", "no file name, or one too long");
  }
  return manifest_dir(&c, path, dir);
}

int cpi_manifest_load_file(const char *path, manifest **out, char *err,
                           size_t errlen) {
  manifest_ctx c = {NULL, path, NULL, err, errlen};
  *out = NULL;
  if (errlen > 0) {
    err[0] = '\0';
  }
  if (path == NULL || strlen(path) >= PATH_MAX) {
    c.source = "manifest";
    return cpi_manifest_fail(&c, "", "no file name, or one too long");
  }
  char dir[PATH_MAX];
  char *text = NULL;
  size_t len = 0;
  int rc = read_file(&c, path, &text, &len);
  if (rc == 0) {
    rc = manifest_dir(&c, path, dir);
  }
  if (rc == 0) {
    c.base_dir = dir;
    rc = parse(&c, text, len, read_root, out);
  }
  free(text);
  return rc;
}

void cpi_manifest_free(manifest *m) {
  if (m == NULL) {
    return;
  }
  manifest_owned *owned = (manifest_owned *)m;
  cpi_arena_release(&owned->arena);
  free(owned);
}

const manifest_plugin *cpi_manifest_find(const manifest *m, const char *name) {
  for (size_t i = 0; i < m->plugins_count; i++) {
    if (strcmp(m->plugins[i].name, name) == 0) {
      return &m->plugins[i];
    }
  }
  return NULL;
}
