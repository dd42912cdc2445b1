/* Typed, path-aware reads of a parsed manifest's JSON values (internal to
 * platform/manifest*.c). Every reader returns 0, or CP_EINVAL / CP_ENOMEM
 * after writing "<source>: <path>: <reason>" into the context's error
 * buffer, so callers only propagate a non-zero result. `path` is the JSON
 * path of the object being read ("plugins[1].restart"); "" for the root.
 * Strings are copied into the context's arena. */
#ifndef CPLUGIN_PLATFORM_MANIFEST_READ_H
#define CPLUGIN_PLATFORM_MANIFEST_READ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef struct manifest_ctx {
  cp_arena *arena;
  const char *source;   /* file name, or "<string>" */
  const char *base_dir; /* for relative plugin paths; may be NULL */
  char *err;
  size_t errlen;
} manifest_ctx;

/* Longest JSON path a message names; longer ones are truncated. */
enum { MANIFEST_JSON_PATH_MAX = 256 };

/* Writes the error for `path` (printf-style reason) and returns CP_EINVAL. */
int cpi_manifest_fail(manifest_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the out-of-memory error and returns CP_ENOMEM. */
int cpi_manifest_fail_nomem(manifest_ctx *c);

/* `s` as a double-quoted string for a message: control characters, quotes
 * and backslashes escaped, cut after a few dozen bytes ("..." added). */
void cpi_manifest_quote(const char *s, char *buf, size_t cap);

/* `path` + "." + key, or `path` + "[i]", into buf (MANIFEST_JSON_PATH_MAX). */
void cpi_manifest_path_key(char *buf, const char *path, const char *key);
void cpi_manifest_path_index(char *buf, const char *path, size_t i);

/* `v` is an object whose keys are all in the NULL-terminated `allowed`. */
int cpi_manifest_check_object(manifest_ctx *c, json_t *v, const char *path,
                              const char *const *allowed);

/* obj[key] as a non-empty string of at most `max` bytes. Absent: an error
 * when required, else *out = NULL. */
int cpi_manifest_read_string(manifest_ctx *c, json_t *obj, const char *path,
                             const char *key, bool required, size_t max,
                             const char **out);

/* `v` itself as a string, possibly empty, of at most `max` bytes (array
 * items and map values); `path` names `v`. */
int cpi_manifest_copy_string(manifest_ctx *c, json_t *v, const char *path,
                             size_t max, const char **out);

/* obj[key] as an integer in [min, max]; absent leaves *out unchanged. */
int cpi_manifest_read_int(manifest_ctx *c, json_t *obj, const char *path,
                          const char *key, int64_t min, int64_t max,
                          int64_t *out);

/* obj[key] as a boolean; absent leaves *out unchanged. */
int cpi_manifest_read_bool(manifest_ctx *c, json_t *obj, const char *path,
                           const char *key, bool *out);

/* obj[key] as an array of at most max items; absent gives *out = NULL. */
int cpi_manifest_read_array(manifest_ctx *c, json_t *obj, const char *path,
                            const char *key, size_t max, json_t **out);

/* Zeroed room for n items of `size` bytes in the arena (NULL when n is 0);
 * CP_ENOMEM with the error written when it fails. */
int cpi_manifest_alloc_items(manifest_ctx *c, size_t n, size_t size,
                             void **out);

#endif /* CPLUGIN_PLATFORM_MANIFEST_READ_H */
