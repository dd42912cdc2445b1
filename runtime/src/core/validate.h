/* Input validation rules shared by the services (internal), matching
 * connect-plugin-go's validation.go limits and patterns. Each check returns
 * NULL when the input is valid, or a static reason ("too long", ...) that the
 * caller puts after the field name in an INVALID_ARGUMENT message. */
#ifndef CPLUGIN_CORE_VALIDATE_H
#define CPLUGIN_CORE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

enum {
  CP_METADATA_MAX_ENTRIES = 100,
  CP_METADATA_MAX_KEY = 256,
  CP_METADATA_MAX_VALUE = 4096,
  CP_SERVICE_TYPE_MAX = 128,
  CP_VERSION_MAX = 64,
  CP_ENDPOINT_PATH_MAX = 256
};

/* Well-formed UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF): proto3 string fields must be. */
bool cpi_utf8_valid(const char *s, size_t len);

/* The length (1..4) of the well-formed UTF-8 sequence that starts s[0..n),
 * or 0 when s starts with a byte that begins none (or n is 0). */
size_t cpi_utf8_sequence_len(const char *s, size_t n);

/* True for a method path "/pkg.Service/Method" (or an endpoint path) in the
 * packages the framework reserves for itself, "connectplugin." and "grpc."
 * (the host's services, plugin control and identity, health, reflection):
 * never routed to a plugin, never registered as a plugin's endpoint. */
bool cpi_path_reserved(const char *path);

/* ^[a-zA-Z][a-zA-Z0-9_.\-]*$ */
bool cpi_identifier_chars_valid(const char *s, size_t len);

/* One metadata entry: non-empty key of at most 256 bytes matching the
 * identifier pattern; value of at most 4096 bytes of valid UTF-8. */
const char *cpi_check_metadata_entry(const char *key, const char *value);

/* Semantic version "MAJOR.MINOR.PATCH[-PRERELEASE]", at most 64 bytes. */
const char *cpi_check_version(const char *version);

/* A bounded string: NULL reason when strlen(s) <= max. */
const char *cpi_check_length(const char *s, size_t max);

/* A service type: 1..128 bytes matching the identifier pattern, and no path
 * traversal ("..", "/", "\\"). */
const char *cpi_check_service_type(const char *type);

/* An endpoint path: non-empty, starting with "/", at most 256 bytes, valid
 * UTF-8, not under a reserved package (cpi_path_reserved). */
const char *cpi_check_endpoint_path(const char *path);

/* A health report (ReportHealth, GetHealth): state HEALTHY (1), DEGRADED
 * (2) or UNHEALTHY (3); reason at most 1024 bytes; at most 64 dependencies
 * of at most 128 bytes; every string valid UTF-8. Returns NULL or a message naming the field, written
 * to buf. */
enum {
  CP_HEALTH_REPORT_REASON_MAX = 1024,
  CP_HEALTH_REPORT_MAX_DEPS = 64,
  CP_HEALTH_REPORT_DEP_MAX = 128
};
const char *cpi_check_health_report(int state, const char *reason,
                                    const char *const *deps, size_t n,
                                    char *buf, size_t cap);

#endif /* CPLUGIN_CORE_VALIDATE_H */
