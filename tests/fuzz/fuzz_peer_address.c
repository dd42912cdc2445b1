/* gRPC peer strings as the rate limiter keys them. */
#include "cplugin/ratelimit_policy.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) {
    return 0;
  }
  char *peer = fuzz_string(data + 1, size - 1);
  char out[128];
  unsigned bits = data[0] % 140; /* includes invalid prefix lengths */
  int n = cp_rate_peer_address(peer, bits, out, sizeof out);
  if (n >= 0 && (size_t)n != strlen(out)) {
    abort();
  }
  (void)cp_rate_peer_address(peer, 64, out, 4);
  free(peer);
  return 0;
}
