/* Validation of metric names, label names and UTF-8 text. */
#include "metrics/names.h"

#include <stdint.h>
#include <string.h>

#include "cplugin/metrics.h"

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool cpi_metric_name_valid(const char *name) {
  if (name == NULL) {
    return false;
  }
  size_t n = strnlen(name, CP_METRIC_NAME_MAX + 1);
  if (n == 0 || n > CP_METRIC_NAME_MAX) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(is_alpha(c) || c == ':' || (i > 0 && is_digit(c)))) {
      return false;
    }
  }
  return true;
}

bool cpi_metric_label_name_valid(const char *name) {
  if (name == NULL) {
    return false;
  }
  size_t n = strnlen(name, CP_METRIC_NAME_MAX + 1);
  if (n == 0 || n > CP_METRIC_NAME_MAX ||
      (n >= 2 && name[0] == '_' && name[1] == '_')) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (!(is_alpha(name[i]) || (i > 0 && is_digit(name[i])))) {
      return false;
    }
  }
  return true;
}

bool cpi_metric_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned char c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t extra;
    uint32_t cp;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1Fu;
      min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0Fu;
      min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07u;
      min = 0x10000;
    } else {
      return false;
    }
    if (len - i <= extra) {
      return false;
    }
    for (size_t k = 1; k <= extra; k++) {
      unsigned char cc = p[i + k];
      if ((cc & 0xC0u) != 0x80u) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}
