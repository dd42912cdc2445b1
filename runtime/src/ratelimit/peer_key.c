/* cpi_peer_key: who a per-address limit counts a caller as.
 *
 * Unix-socket callers are keyed by user, not process: pids are free to mint
 * (fork), so a per-process key would let one user take any number of
 * budgets, while the uid is what the kernel vouches for and what an
 * operator can act on. */
#include "ratelimit/peer_key.h"

#include <stdio.h>

#include "cplugin/errors.h"
#include "cplugin/ratelimit_policy.h"
#include "transport/peer_cred.h"

int cpi_peer_key_bits(const char *peer, unsigned ipv6_prefix_bits, char *out,
                      size_t out_cap) {
  uid_t uid;
  if (out != NULL && out_cap > 0 && cpi_peer_unix_uid(peer, &uid)) {
    int n = snprintf(out, out_cap, "uid:%lu", (unsigned long)uid);
    return n > 0 && (size_t)n < out_cap ? n : CP_EINVAL;
  }
  return cp_rate_peer_address(peer, ipv6_prefix_bits, out, out_cap);
}

void cpi_peer_key(const char *peer, char out[CP_PEER_KEY_MAX]) {
  if (cpi_peer_key_bits(peer, 64, out, CP_PEER_KEY_MAX) < 0) {
    snprintf(out, CP_PEER_KEY_MAX, "%s", "?");
  }
}
