/* protoc-gen-cplugin — names. */
#include "names.h"

#include <stddef.h>
#include <string.h>

static bool cg_is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

static bool cg_is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

static bool cg_is_digit(char c) {
  return c >= '0' && c <= '9';
}

static char cg_lower(char c) {
  if (cg_is_upper(c)) {
    return (char)(c - 'A' + 'a');
  }
  return c;
}

static char cg_upper(char c) {
  if (cg_is_lower(c)) {
    return (char)(c - 'a' + 'A');
  }
  return c;
}

void cg_camel_to_lower(cg_sbuf *out, const char *name) {
  bool was_upper = true; /* no '_' before a leading capital */
  for (const char *p = name; *p != '\0'; p++) {
    bool is_upper = cg_is_upper(*p);
    if (is_upper && !was_upper) {
      cg_sbuf_putc(out, '_');
    }
    cg_sbuf_putc(out, cg_lower(*p));
    was_upper = is_upper;
  }
}

void cg_to_camel(cg_sbuf *out, const char *name) {
  bool next_is_upper = true;
  for (const char *p = name; *p != '\0'; p++) {
    if (*p == '_') {
      next_is_upper = true;
    } else if (next_is_upper) {
      cg_sbuf_putc(out, cg_upper(*p));
      next_is_upper = false;
    } else {
      cg_sbuf_putc(out, *p);
    }
  }
}

/* Applies `convert` to each non-empty dot-separated component of `dotted`
 * and joins the results with "__". */
static void cg_convert_components(cg_sbuf *out, const char *dotted,
                                  void (*convert)(cg_sbuf *, const char *)) {
  cg_sbuf piece;
  cg_sbuf_init(&piece);
  bool first = true;
  const char *p = dotted;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t len = dot == NULL ? strlen(p) : (size_t)(dot - p);
    if (len > 0) {
      cg_sbuf_reset(&piece);
      cg_sbuf_putn(&piece, p, len);
      if (!first) {
        cg_sbuf_puts(out, "__");
      }
      convert(out, cg_sbuf_str(&piece));
      first = false;
    }
    p += len;
    if (*p == '.') {
      p++;
    }
  }
  cg_sbuf_free(&piece);
}

void cg_full_name_to_lower(cg_sbuf *out, const char *dotted) {
  cg_convert_components(out, dotted, cg_camel_to_lower);
}

void cg_full_name_to_c(cg_sbuf *out, const char *dotted) {
  cg_convert_components(out, dotted, cg_to_camel);
}

/* Length of the identifier at the start of `s`, 0 when there is none. */
static size_t cg_identifier_length(const char *s) {
  if (!cg_is_upper(s[0]) && !cg_is_lower(s[0]) && s[0] != '_') {
    return 0;
  }
  size_t n = 1;
  while (cg_is_upper(s[n]) || cg_is_lower(s[n]) || cg_is_digit(s[n]) ||
         s[n] == '_') {
    n++;
  }
  return n;
}

bool cg_is_identifier(const char *s) {
  size_t n = cg_identifier_length(s);
  return n > 0 && s[n] == '\0';
}

bool cg_is_package_name(const char *s) {
  if (*s == '\0') {
    return true;
  }
  for (;;) {
    size_t n = cg_identifier_length(s);
    if (n == 0) {
      return false;
    }
    s += n;
    if (*s == '\0') {
      return true;
    }
    if (*s != '.') {
      return false;
    }
    s++;
  }
}

bool cg_lower_name_is_reserved(const char *lower) {
  return strcmp(lower, "cp") == 0 || strncmp(lower, "cp_", 3) == 0;
}

char *cg_plugin_name(cg_arena *arena, const char *service_name) {
  static const char suffix[] = "Service";
  size_t len = strlen(service_name);
  size_t suffix_len = sizeof(suffix) - 1;
  if (len > suffix_len &&
      strcmp(service_name + len - suffix_len, suffix) == 0) {
    len -= suffix_len;
  }
  char *name = cg_arena_strndup(arena, service_name, len);
  for (char *p = name; *p != '\0'; p++) {
    *p = cg_lower(*p);
  }
  return name;
}

/* True when `s` ends with `suffix`. */
static bool cg_has_suffix(const char *s, const char *suffix) {
  size_t len = strlen(s);
  size_t suffix_len = strlen(suffix);
  return len >= suffix_len && strcmp(s + len - suffix_len, suffix) == 0;
}

char *cg_file_stem(cg_arena *arena, const char *proto_name) {
  size_t len = strlen(proto_name);
  if (cg_has_suffix(proto_name, ".protodevel")) {
    len -= strlen(".protodevel");
  } else if (cg_has_suffix(proto_name, ".proto")) {
    len -= strlen(".proto");
  }
  return cg_arena_strndup(arena, proto_name, len);
}

/* True when `name` has a path component equal to "..". */
static bool cg_has_parent_component(const char *name) {
  const char *p = name;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash == NULL ? strlen(p) : (size_t)(slash - p);
    if (len == 2 && p[0] == '.' && p[1] == '.') {
      return true;
    }
    if (slash == NULL) {
      return false;
    }
    p = slash + 1;
  }
}

bool cg_is_safe_file_name(const char *proto_name) {
  if (proto_name[0] == '\0' || proto_name[0] == '/') {
    return false;
  }
  for (const char *p = proto_name; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '?') {
      return false;
    }
  }
  return !cg_has_parent_component(proto_name);
}

char *cg_include_guard(cg_arena *arena, const char *proto_name) {
  static const char hex[] = "0123456789abcdef";
  cg_sbuf guard;
  cg_sbuf_init(&guard);
  cg_sbuf_puts(&guard, "CPLUGIN_");
  for (const char *p = proto_name; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (cg_is_upper(*p) || cg_is_lower(*p) || cg_is_digit(*p)) {
      cg_sbuf_putc(&guard, *p);
    } else {
      cg_sbuf_putc(&guard, '_');
      cg_sbuf_putc(&guard, hex[c >> 4]);
      cg_sbuf_putc(&guard, hex[c & 0x0f]);
    }
  }
  cg_sbuf_puts(&guard, "_CPLUGIN_H");
  char *result = cg_sbuf_to_arena(&guard, arena);
  cg_sbuf_free(&guard);
  return result;
}
