/* Address classification for the plaintext warning (internal). */
#ifndef CPLUGIN_TRANSPORT_ADDRESS_H
#define CPLUGIN_TRANSPORT_ADDRESS_H

#include <stdbool.h>

/* True when a gRPC target or listen address stays on this machine: a Unix
 * socket ("unix:", "unix-abstract:"), "localhost", an IPv4 address in
 * 127.0.0.0/8, or ::1 (also ::ffff:127.x.y.z), with or without a port, also
 * behind the "dns:", "dns:///", "ipv4:" and "ipv6:" schemes (for address
 * lists every entry must be local). Everything else is false: wildcard
 * addresses (0.0.0.0, [::], ":port"), other IPs, other host names, other
 * schemes, NULL and "". Pure: parses the text, never resolves a name.
 * Thread safety: none needed. */
bool cpi_address_is_local(const char *address);

#endif /* CPLUGIN_TRANSPORT_ADDRESS_H */
