/* Input validation rules shared by the services. */
#include "core/validate.h"

#include <stdio.h>
#include <string.h>

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool cpi_identifier_chars_valid(const char *s, size_t len) {
  if (len == 0 || !is_alpha(s[0])) {
    return false;
  }
  for (size_t i = 1; i < len; i++) {
    char c = s[i];
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

const char *cpi_check_length(const char *s, size_t max) {
  if (s != NULL && strnlen(s, max + 1) > max) {
    return "too long";
  }
  return NULL;
}

const char *cpi_check_metadata_entry(const char *key, const char *value) {
  size_t klen = key != NULL ? strnlen(key, CP_METADATA_MAX_KEY + 1) : 0;
  if (klen == 0) {
    return "key cannot be empty";
  }
  if (klen > CP_METADATA_MAX_KEY) {
    return "key too long";
  }
  if (!cpi_identifier_chars_valid(key, klen)) {
    return "key contains invalid characters";
  }
  size_t vlen = value != NULL ? strnlen(value, CP_METADATA_MAX_VALUE + 1) : 0;
  if (vlen > CP_METADATA_MAX_VALUE) {
    return "value too long";
  }
  if (!cpi_utf8_valid(value, vlen)) {
    return "value is not valid UTF-8";
  }
  return NULL;
}

bool cpi_path_reserved(const char *path) {
  static const char *const reserved[] = {"/connectplugin.", "/grpc."};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    if (strncmp(path, reserved[i], strlen(reserved[i])) == 0) {
      return true;
    }
  }
  return false;
}

/* One or more digits (upstream's pattern allows leading zeros). */
static const char *skip_number(const char *p) {
  if (!is_digit(*p)) {
    return NULL;
  }
  while (is_digit(*p)) {
    p++;
  }
  return p;
}

const char *cpi_check_version(const char *version) {
  if (version == NULL || version[0] == '\0') {
    return "cannot be empty";
  }
  if (strnlen(version, CP_VERSION_MAX + 1) > CP_VERSION_MAX) {
    return "too long";
  }
  const char *p = version;
  for (int part = 0; part < 3; part++) {
    p = skip_number(p);
    if (p == NULL || (part < 2 && *p++ != '.')) {
      return "must be semantic version (e.g., 1.0.0, 2.1.3-beta)";
    }
  }
  if (*p == '\0') {
    return NULL;
  }
  if (*p++ != '-' || *p == '\0') {
    return "must be semantic version (e.g., 1.0.0, 2.1.3-beta)";
  }
  for (; *p != '\0'; p++) {
    if (!is_alpha(*p) && !is_digit(*p) && *p != '.' && *p != '-') {
      return "must be semantic version (e.g., 1.0.0, 2.1.3-beta)";
    }
  }
  return NULL;
}

const char *cpi_check_service_type(const char *type) {
  size_t len = type != NULL ? strnlen(type, CP_SERVICE_TYPE_MAX + 1) : 0;
  if (len == 0) {
    return "cannot be empty";
  }
  if (len > CP_SERVICE_TYPE_MAX) {
    return "too long";
  }
  if (!cpi_identifier_chars_valid(type, len)) {
    return "contains invalid characters";
  }
  /* The pattern already excludes the slashes; ".." passes it. Checked
   * separately, as upstream does, so the reason names the attack. */
  if (strstr(type, "..") != NULL || strchr(type, '/') != NULL ||
      strchr(type, '\\') != NULL) {
    return "contains path traversal characters";
  }
  return NULL;
}

const char *cpi_check_endpoint_path(const char *path) {
  if (path == NULL || path[0] == '\0') {
    return "cannot be empty";
  }
  if (path[0] != '/') {
    return "must start with /";
  }
  size_t len = strnlen(path, CP_ENDPOINT_PATH_MAX + 1);
  if (len > CP_ENDPOINT_PATH_MAX) {
    return "too long";
  }
  if (!cpi_utf8_valid(path, len)) {
    return "is not valid UTF-8";
  }
  if (cpi_path_reserved(path)) {
    return "names a service the framework reserves (connectplugin.*, grpc.*)";
  }
  return NULL;
}

const char *cpi_check_health_report(int state, const char *reason,
                                    const char *const *deps, size_t n,
                                    char *buf, size_t cap) {
  if (state < 1 || state > 3) {
    snprintf(buf, cap, "state: must be HEALTHY, DEGRADED or UNHEALTHY");
    return buf;
  }
  if (reason != NULL && strnlen(reason, CP_HEALTH_REPORT_REASON_MAX + 1) >
                            CP_HEALTH_REPORT_REASON_MAX) {
    snprintf(buf, cap, "reason: too long (max %d bytes)",
             CP_HEALTH_REPORT_REASON_MAX);
    return buf;
  }
  if (reason != NULL && !cpi_utf8_valid(reason, strlen(reason))) {
    snprintf(buf, cap, "reason: not valid UTF-8");
    return buf;
  }
  if (n > CP_HEALTH_REPORT_MAX_DEPS || (n > 0 && deps == NULL)) {
    snprintf(buf, cap,
             "unavailable_dependencies: too many entries: %zu (max: %d)", n,
             CP_HEALTH_REPORT_MAX_DEPS);
    return buf;
  }
  for (size_t i = 0; i < n; i++) {
    if (deps[i] == NULL || strnlen(deps[i], CP_HEALTH_REPORT_DEP_MAX + 1) >
                               CP_HEALTH_REPORT_DEP_MAX) {
      snprintf(buf, cap,
               "unavailable_dependencies[%zu]: too long (max %d bytes)", i,
               CP_HEALTH_REPORT_DEP_MAX);
      return buf;
    }
    if (!cpi_utf8_valid(deps[i], strlen(deps[i]))) {
      snprintf(buf, cap, "unavailable_dependencies[%zu]: not valid UTF-8", i);
      return buf;
    }
  }
  return NULL;
}
