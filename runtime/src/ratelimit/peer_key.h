/* The key that per-address limits (identities per address, anonymous
 * watchers per address) count a caller under (internal). */
#ifndef CPLUGIN_RATELIMIT_PEER_KEY_H
#define CPLUGIN_RATELIMIT_PEER_KEY_H

enum { CP_PEER_KEY_MAX = 128 };

/* Writes the address of gRPC peer string `peer` with an IPv6 /64 counted as
 * one address (cp_rate_peer_address); "?" for a peer that does not parse,
 * so that all such peers share one key rather than escape the limit. */
void cp_peer_key(const char *peer, char out[CP_PEER_KEY_MAX]);

#endif /* CPLUGIN_RATELIMIT_PEER_KEY_H */
