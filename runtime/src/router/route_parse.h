/* Parsing the target of a routed call (internal, pure). */
#ifndef CPLUGIN_ROUTER_ROUTE_PARSE_H
#define CPLUGIN_ROUTER_ROUTE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum { CPI_ROUTE_FIELD_MAX = 160, CPI_ROUTE_PATH_MAX = 512 };

typedef struct cp_route {
  char service_type[CPI_ROUTE_FIELD_MAX];
  char provider_id[CPI_ROUTE_FIELD_MAX]; /* "" = host's choice */
  char method_path[CPI_ROUTE_PATH_MAX];  /* "/pkg.Service/Method" */
} cp_route;

/* "/services/<type>/<provider>/<pkg.Service>/<Method>" → route. False when
 * the path does not have that shape or a part is empty, too long or holds
 * characters outside [A-Za-z0-9_.-]. */
bool cpi_route_from_path(const char *path, cp_route *out);

/* The metadata form: `path` is the method's own path; `type` and `provider`
 * (may be NULL) come from the routing metadata (not NUL-terminated). */
bool cpi_route_from_metadata(const char *path, const char *type,
                             size_t type_len, const char *provider,
                             size_t provider_len, cp_route *out);

/* Strips "http://" or "grpc://" (plaintext) or "https://" (sets *tls) from a
 * provider address and any trailing '/'; writes "host:port" or "unix:...".
 * False for other schemes or an address that does not fit. */
bool cpi_route_target_address(const char *address, char *out, size_t cap,
                              bool *tls);

/* True when `method_path` lies under the provider's registered
 * `endpoint_path`: "/" covers every method; "/pkg.Svc/" (or "/pkg.Svc")
 * covers "/pkg.Svc/<Method>"; a full method path covers itself. Empty or
 * NULL covers nothing. */
bool cpi_route_path_under(const char *method_path, const char *endpoint_path);

#endif /* CPLUGIN_ROUTER_ROUTE_PARSE_H */
