/* protoc-gen-cplugin — generator parameters. */
#include "params.h"

#include <stddef.h>
#include <string.h>

static bool cg_is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool cg_is_semver_ident_char(char c) {
  return cg_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '-';
}

/* Consumes a numeric identifier (0 or no leading zero). Returns false when
 * there is none at *p. */
static bool cg_scan_number(const char **p) {
  const char *s = *p;
  if (!cg_is_digit(*s)) {
    return false;
  }
  if (*s == '0' && cg_is_digit(s[1])) {
    return false;
  }
  while (cg_is_digit(*s)) {
    s++;
  }
  *p = s;
  return true;
}

/* Consumes dot-separated identifiers of [0-9A-Za-z-]+. With `strict_numbers`
 * (pre-release), an all-digit identifier must not have a leading zero. */
static bool cg_scan_dotted(const char **p, bool strict_numbers) {
  const char *s = *p;
  for (;;) {
    const char *start = s;
    bool all_digits = true;
    while (cg_is_semver_ident_char(*s)) {
      all_digits = all_digits && cg_is_digit(*s);
      s++;
    }
    size_t len = (size_t)(s - start);
    if (len == 0) {
      return false;
    }
    if (strict_numbers && all_digits && len > 1 && *start == '0') {
      return false;
    }
    if (*s != '.') {
      break;
    }
    s++;
  }
  *p = s;
  return true;
}

bool cg_semver_is_valid(const char *s) {
  const char *p = s;
  if (!cg_scan_number(&p) || *p++ != '.') {
    return false;
  }
  if (!cg_scan_number(&p) || *p++ != '.') {
    return false;
  }
  if (!cg_scan_number(&p)) {
    return false;
  }
  if (*p == '-') {
    p++;
    if (!cg_scan_dotted(&p, true)) {
      return false;
    }
  }
  if (*p == '+') {
    p++;
    if (!cg_scan_dotted(&p, false)) {
      return false;
    }
  }
  return *p == '\0';
}

/* Applies one non-empty "key=value" item. */
static bool cg_params_apply(cg_params *params, const char *item,
                            bool *version_seen, cg_arena *arena, cg_sbuf *err) {
  const char *eq = strchr(item, '=');
  size_t key_len = eq == NULL ? strlen(item) : (size_t)(eq - item);
  if (key_len != strlen("version") || strncmp(item, "version", key_len) != 0) {
    cg_sbuf_printf(err,
                   "unknown parameter \"%.*s\" (the only parameter is "
                   "version=<semver>)",
                   (int)key_len, item);
    return false;
  }
  if (eq == NULL) {
    cg_sbuf_puts(err, "parameter \"version\" needs a value: version=<semver>");
    return false;
  }
  if (*version_seen) {
    cg_sbuf_puts(err, "parameter \"version\" is given more than once");
    return false;
  }
  const char *value = eq + 1;
  if (!cg_semver_is_valid(value)) {
    cg_sbuf_printf(err,
                   "version=%s: \"%s\" is not a semantic version "
                   "(MAJOR.MINOR.PATCH[-pre][+build], e.g. 1.2.0)",
                   value, value);
    return false;
  }
  *version_seen = true;
  params->version = cg_arena_strdup(arena, value);
  return true;
}

bool cg_params_parse(cg_params *params, const char *parameter, cg_arena *arena,
                     cg_sbuf *err) {
  params->version = CG_DEFAULT_VERSION;
  if (parameter == NULL) {
    return true;
  }
  bool version_seen = false;
  const char *p = parameter;
  while (*p != '\0') {
    const char *comma = strchr(p, ',');
    size_t len = comma == NULL ? strlen(p) : (size_t)(comma - p);
    if (len > 0) {
      char *item = cg_arena_strndup(arena, p, len);
      if (!cg_params_apply(params, item, &version_seen, arena, err)) {
        return false;
      }
    }
    p += len;
    if (*p == ',') {
      p++;
    }
  }
  return true;
}
