/* The address a served plugin reports, and the one it registers
 * (internal; cp_plugin_serve). */
#ifndef CPLUGIN_PLUGIN_SERVE_ADDRESS_H
#define CPLUGIN_PLUGIN_SERVE_ADDRESS_H

enum { SERVE_ADDRESS_MAX = 256 };

/* From the listen address ("host:port" or "unix:/path") and the port bound:
 * `address` = where it serves, with that port; `base_url` = the given one,
 * else `address` with a wildcard host (0.0.0.0, [::], none) replaced by the
 * loopback address of its family. Returns 0, or CP_EINVAL when a result
 * does not fit SERVE_ADDRESS_MAX. */
int cpi_serve_address_resolve(const char *listen, int port, const char *given,
                              char address[SERVE_ADDRESS_MAX],
                              char base_url[SERVE_ADDRESS_MAX]);

#endif /* CPLUGIN_PLUGIN_SERVE_ADDRESS_H */
