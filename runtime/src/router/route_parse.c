/* Parsing the target of a routed call. */
#include "router/route_parse.h"

#include <stdio.h>
#include <string.h>

static bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Copies `len` bytes of an identifier; false if empty, long or invalid. */
static bool copy_id(const char *s, size_t len, char *out) {
  if (len == 0 || len >= CPI_ROUTE_FIELD_MAX) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    if (!id_char(s[i])) {
      return false;
    }
  }
  memcpy(out, s, len);
  out[len] = '\0';
  return true;
}

/* "/pkg.Service/Method": exactly two non-empty identifier segments. */
static bool method_path_valid(const char *p) {
  if (p[0] != '/') {
    return false;
  }
  const char *slash = strchr(p + 1, '/');
  if (slash == NULL || slash == p + 1 || slash[1] == '\0' ||
      strchr(slash + 1, '/') != NULL) {
    return false;
  }
  for (const char *c = p + 1; *c != '\0'; c++) {
    if (*c != '/' && !id_char(*c)) {
      return false;
    }
  }
  return true;
}

bool cpi_route_from_path(const char *path, cp_route *out) {
  static const char prefix[] = "/services/";
  if (path == NULL || strncmp(path, prefix, sizeof prefix - 1) != 0) {
    return false;
  }
  const char *type = path + sizeof prefix - 1;
  const char *slash = strchr(type, '/');
  if (slash == NULL ||
      !copy_id(type, (size_t)(slash - type), out->service_type)) {
    return false;
  }
  const char *provider = slash + 1;
  slash = strchr(provider, '/');
  if (slash == NULL ||
      !copy_id(provider, (size_t)(slash - provider), out->provider_id)) {
    return false;
  }
  size_t rest = strlen(slash);
  if (rest >= CPI_ROUTE_PATH_MAX || !method_path_valid(slash)) {
    return false;
  }
  memcpy(out->method_path, slash, rest + 1);
  return true;
}

bool cpi_route_from_metadata(const char *path, const char *type,
                             size_t type_len, const char *provider,
                             size_t provider_len, cp_route *out) {
  if (path == NULL || type == NULL ||
      !copy_id(type, type_len, out->service_type)) {
    return false;
  }
  out->provider_id[0] = '\0';
  if (provider != NULL && provider_len > 0 &&
      !copy_id(provider, provider_len, out->provider_id)) {
    return false;
  }
  size_t len = strlen(path);
  if (len >= CPI_ROUTE_PATH_MAX || !method_path_valid(path)) {
    return false;
  }
  memcpy(out->method_path, path, len + 1);
  return true;
}

bool cpi_route_target_address(const char *address, char *out, size_t cap,
                              bool *tls) {
  static const char *const plain[] = {"http://", "grpc://"};
  *tls = false;
  const char *rest = address;
  if (address == NULL || address[0] == '\0') {
    return false;
  }
  if (strncmp(address, "https://", 8) == 0) {
    *tls = true;
    rest = address + 8;
  } else {
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
      if (strncmp(address, plain[i], strlen(plain[i])) == 0) {
        rest = address + strlen(plain[i]);
      }
    }
    if (rest == address && strstr(address, "://") != NULL) {
      return false; /* another scheme */
    }
  }
  size_t len = strlen(rest);
  while (len > 0 && rest[len - 1] == '/' && strncmp(rest, "unix:", 5) != 0) {
    len--;
  }
  if (len == 0 || len >= cap) {
    return false;
  }
  memcpy(out, rest, len);
  out[len] = '\0';
  return true;
}

bool cpi_route_path_under(const char *method_path, const char *endpoint_path) {
  if (endpoint_path == NULL || endpoint_path[0] != '/') {
    return false;
  }
  size_t n = strlen(endpoint_path);
  if (strncmp(method_path, endpoint_path, n) != 0) {
    return false;
  }
  return endpoint_path[n - 1] == '/' || method_path[n] == '\0' ||
         method_path[n] == '/';
}
