/* Formatting and printing the handshake line a launched plugin announces. */
#include "launch/announce.h"

#include <string.h>

#include "cplugin/errors.h"
#include "launch/handshake_line.h"

int cpi_launch_announce_format(const proc_endpoint *ep, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return CP_EINVAL;
  }
  out[0] = '\0'; /* never a half line on failure */
  if (ep == NULL) {
    return CP_EINVAL;
  }
  const char *network = ep->network == PROC_NETWORK_UNIX  ? "unix"
                        : ep->network == PROC_NETWORK_TCP ? "tcp"
                                                          : NULL;
  if (network == NULL ||
      memchr(ep->address, '\0', sizeof ep->address) == NULL) {
    return CP_EINVAL;
  }
  int n =
      snprintf(out, cap, PROC_HANDSHAKE_PREFIX PROC_HANDSHAKE_VERSION "|%s|%s",
               network, ep->address);
  if (n < 0) {
    return CP_EINVAL;
  }
  if ((size_t)n >= cap) {
    out[0] = '\0';
    return CP_ELIMIT;
  }
  proc_endpoint check;
  if (cpi_proc_handshake_line_parse(out, (size_t)n, &check, NULL, 0) != 0) {
    out[0] = '\0';
    return CP_EINVAL;
  }
  return 0;
}

int cpi_launch_announce(const proc_endpoint *ep, FILE *stream) {
  if (stream == NULL) {
    return CP_EINVAL;
  }
  char line[LAUNCH_ANNOUNCE_LINE_MAX + 1];
  int rc = cpi_launch_announce_format(ep, line, sizeof line - 1);
  if (rc != 0) {
    return rc;
  }
  size_t len = strlen(line);
  line[len] = '\n';
  /* One fwrite: the launcher reads the line whole even if other threads
   * print around it. */
  if (fwrite(line, 1, len + 1, stream) != len + 1 || fflush(stream) != 0) {
    return CP_ESYS;
  }
  return 0;
}
