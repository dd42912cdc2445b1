/* The key that per-address limits (identities per address, anonymous
 * watchers per address, the rate policy's per-peer buckets) count a caller
 * under (internal). */
#ifndef CPLUGIN_RATELIMIT_PEER_KEY_H
#define CPLUGIN_RATELIMIT_PEER_KEY_H

#include <stddef.h>

enum { CP_PEER_KEY_MAX = 128 };

/* Writes the key of the caller with gRPC peer string `peer` into `out`
 * (NUL-terminated) and returns its length: "uid:N" for a caller of a
 * plaintext Unix-socket listener, N being the user it connected as (all
 * processes of one user share the key: see docs/security.md), else the
 * address cp_rate_peer_address writes with IPv6 cut to `ipv6_prefix_bits`.
 * Returns CP_EINVAL when neither applies or `out` is too small. Call it
 * while the call that reported `peer` is live (cpi_peer_unix_uid). */
int cpi_peer_key_bits(const char *peer, unsigned ipv6_prefix_bits, char *out,
                      size_t out_cap);

/* cpi_peer_key_bits with an IPv6 /64 counted as one address; "?" for a peer
 * that does not parse, so that all such peers share one key rather than
 * escape the limit. */
void cpi_peer_key(const char *peer, char out[CP_PEER_KEY_MAX]);

#endif /* CPLUGIN_RATELIMIT_PEER_KEY_H */
