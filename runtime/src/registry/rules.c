/* What a registration must satisfy (upstream's validation rules, in
 * upstream's order: type, version, path, metadata), and the "weight"
 * metadata weighted selection reads. */
#include <stdio.h>
#include <string.h>

#include "core/validate.h"
#include "registry/registry_internal.h"
#include "core/semver.h"

/* A positive decimal integer up to CP_REGISTRY_MAX_WEIGHT, no sign, no
 * spaces. */
static bool parse_weight(const char *s, uint32_t *out) {
  uint32_t v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    v = v * 10 + (uint32_t)(s[i] - '0');
    if (v > CP_REGISTRY_MAX_WEIGHT) {
      return false;
    }
  }
  if (i == 0 || s[i] != '\0' || v == 0) {
    return false;
  }
  *out = v;
  return true;
}

static const char *fail(char *buf, size_t cap, const char *field,
                        const char *why) {
  snprintf(buf, cap, "%s: %s", field, why);
  return buf;
}

static const char *check_metadata(const cp_registry_service *svc,
                                  uint32_t *weight, char *buf, size_t cap) {
  if (svc->metadata_count > CP_METADATA_MAX_ENTRIES) {
    snprintf(buf, cap, "metadata: too many metadata entries: %zu (max: %d)",
             svc->metadata_count, CP_METADATA_MAX_ENTRIES);
    return buf;
  }
  if (svc->metadata_count > 0 && svc->metadata == NULL) {
    return fail(buf, cap, "metadata", "missing entries");
  }
  for (size_t i = 0; i < svc->metadata_count; i++) {
    const cp_metadata *m = &svc->metadata[i];
    const char *why = m->value == NULL
                          ? "value missing"
                          : cpi_check_metadata_entry(m->key, m->value);
    if (why != NULL) {
      return fail(buf, cap, "metadata", why);
    }
    if (strcmp(m->key, "weight") == 0 && !parse_weight(m->value, weight)) {
      snprintf(buf, cap, "metadata: weight must be a positive integer (max %d)",
               CP_REGISTRY_MAX_WEIGHT);
      return buf;
    }
  }
  return NULL;
}

const char *cpi_reg_validate(const cp_registry_service *svc, uint32_t *weight,
                             char *buf, size_t cap) {
  const char *why = cpi_check_service_type(svc->type);
  if (why != NULL) {
    return fail(buf, cap, "service_type", why);
  }
  why = cpi_check_version(svc->version);
  if (why == NULL && !cpi_semver_valid(svc->version)) {
    /* Upstream's pattern lets "1.0.0-a..b" through; it has no precedence. */
    why = "must be semantic version (e.g., 1.0.0, 2.1.3-beta)";
  }
  if (why != NULL) {
    return fail(buf, cap, "version", why);
  }
  why = cpi_check_endpoint_path(svc->endpoint_path);
  if (why != NULL) {
    return fail(buf, cap, "endpoint_path", why);
  }
  *weight = 1;
  return check_metadata(svc, weight, buf, cap);
}
