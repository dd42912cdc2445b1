/* Typed reads of manifest JSON values, each failure naming its JSON path. */
#include "platform/manifest_read.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/errors.h"

/* How much of a user's string a message repeats. */
enum { QUOTE_MAX = 48 };

int cpi_manifest_fail(manifest_ctx *c, const char *path, const char *fmt, ...) {
  if (c->errlen == 0) {
    return CP_EINVAL;
  }
  int n = path[0] != '\0'
              ? snprintf(c->err, c->errlen, "%s: %s: ", c->source, path)
              : snprintf(c->err, c->errlen, "%s: ", c->source);
  if (n >= 0 && (size_t)n < c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    /* The NOLINT: clang-tidy 14 wrongly reports the va_list as uninitialised
     * when it analyses several files in one run (as in core/status.c). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return CP_EINVAL;
}

int cpi_manifest_fail_nomem(manifest_ctx *c) {
  if (c->errlen > 0) {
    snprintf(c->err, c->errlen, "%s: out of memory", c->source);
  }
  return CP_ENOMEM;
}

void cpi_manifest_quote(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  /* Room for the worst escape ("\\u00XX", 6 bytes), "...", the closing
   * quote and the NUL. */
  if (cap < 16) {
    if (cap > 0) {
      buf[0] = '\0';
    }
    return;
  }
  buf[o++] = '"';
  size_t i = 0;
  for (; i < QUOTE_MAX && o + 11 < cap && s[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)ch;
    } else if (ch < 0x20 || ch == 0x7f) {
      o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", ch);
    } else {
      buf[o++] = (char)ch;
    }
  }
  if (s[i] != '\0') {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
}

void cpi_manifest_path_key(char *buf, const char *path, const char *key) {
  if (path[0] == '\0') {
    snprintf(buf, MANIFEST_JSON_PATH_MAX, "%s", key);
  } else {
    snprintf(buf, MANIFEST_JSON_PATH_MAX, "%s.%s", path, key);
  }
}

void cpi_manifest_path_index(char *buf, const char *path, size_t i) {
  snprintf(buf, MANIFEST_JSON_PATH_MAX, "%s[%zu]", path, i);
}

/* "an array", "a string", ... for "must be X, not Y" messages. */
static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    case JSON_NULL:
      return "null";
  }
  return "a value";
}

static int wrong_type(manifest_ctx *c, const char *path, const char *want,
                      const json_t *v) {
  return cpi_manifest_fail(c, path, "must be %s, not %s", want, type_name(v));
}

int cpi_manifest_check_object(manifest_ctx *c, json_t *v, const char *path,
                              const char *const *allowed) {
  if (!json_is_object(v)) {
    return wrong_type(c, path, "an object", v);
  }
  const char *key;
  json_t *value;
  json_object_foreach(v, key, value) {
    bool known = false;
    for (size_t i = 0; allowed[i] != NULL && !known; i++) {
      known = strcmp(key, allowed[i]) == 0;
    }
    if (!known) {
      char quoted[2 * QUOTE_MAX];
      cpi_manifest_quote(key, quoted, sizeof quoted);
      return cpi_manifest_fail(c, path, "unknown key %s", quoted);
    }
  }
  return 0;
}

int cpi_manifest_copy_string(manifest_ctx *c, json_t *v, const char *path,
                             size_t max, const char **out) {
  if (!json_is_string(v)) {
    return wrong_type(c, path, "a string", v);
  }
  size_t len = json_string_length(v);
  if (len > max) {
    return cpi_manifest_fail(c, path, "longer than %zu bytes", max);
  }
  char *copy = cpi_arena_strndup(c->arena, json_string_value(v), len);
  if (copy == NULL) {
    return cpi_manifest_fail_nomem(c);
  }
  *out = copy;
  return 0;
}

int cpi_manifest_read_string(manifest_ctx *c, json_t *obj, const char *path,
                             const char *key, bool required, size_t max,
                             const char **out) {
  char where[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(where, path, key);
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL) {
    return required ? cpi_manifest_fail(c, where, "required") : 0;
  }
  if (json_is_string(v) && json_string_length(v) == 0) {
    return cpi_manifest_fail(c, where, "cannot be empty");
  }
  return cpi_manifest_copy_string(c, v, where, max, out);
}

int cpi_manifest_read_int(manifest_ctx *c, json_t *obj, const char *path,
                          const char *key, int64_t min, int64_t max,
                          int64_t *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL) {
    return 0;
  }
  char where[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(where, path, key);
  if (!json_is_integer(v)) {
    return wrong_type(c, where, "an integer", v);
  }
  json_int_t n = json_integer_value(v);
  if (n < min || n > max) {
    return cpi_manifest_fail(
        c, where, "%" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
        (int64_t)n, min, max);
  }
  *out = n;
  return 0;
}

int cpi_manifest_read_bool(manifest_ctx *c, json_t *obj, const char *path,
                           const char *key, bool *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL) {
    return 0;
  }
  if (!json_is_boolean(v)) {
    char where[MANIFEST_JSON_PATH_MAX];
    cpi_manifest_path_key(where, path, key);
    return wrong_type(c, where, "true or false", v);
  }
  *out = json_is_true(v);
  return 0;
}

int cpi_manifest_read_array(manifest_ctx *c, json_t *obj, const char *path,
                            const char *key, size_t max, json_t **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL) {
    return 0;
  }
  char where[MANIFEST_JSON_PATH_MAX];
  cpi_manifest_path_key(where, path, key);
  if (!json_is_array(v)) {
    return wrong_type(c, where, "an array", v);
  }
  if (json_array_size(v) > max) {
    return cpi_manifest_fail(c, where, "more than %zu entries", max);
  }
  *out = v;
  return 0;
}

int cpi_manifest_alloc_items(manifest_ctx *c, size_t n, size_t size,
                             void **out) {
  *out = NULL;
  if (n == 0) {
    return 0;
  }
  /* n and size are bounded by the MANIFEST_MAX_* caps: no overflow. */
  *out = cpi_arena_alloc(c->arena, n * size);
  return *out != NULL ? 0 : cpi_manifest_fail_nomem(c);
}
