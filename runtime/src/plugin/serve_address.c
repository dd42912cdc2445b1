/* A served plugin's bound and registered addresses. */
#include "plugin/serve_address.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/errors.h"

static int copy(char out[SERVE_ADDRESS_MAX], const char *s) {
  size_t n = strlen(s);
  if (n >= SERVE_ADDRESS_MAX) {
    return CP_EINVAL;
  }
  memcpy(out, s, n + 1);
  return 0;
}

static int host_port(char out[SERVE_ADDRESS_MAX], const char *host,
                     size_t host_len, int port) {
  int n =
      snprintf(out, SERVE_ADDRESS_MAX, "%.*s:%d", (int)host_len, host, port);
  return n > 0 && n < SERVE_ADDRESS_MAX ? 0 : CP_EINVAL;
}

static bool is(const char *s, size_t len, const char *word) {
  return len == strlen(word) && strncmp(s, word, len) == 0;
}

int cpi_serve_address_resolve(const char *listen, int port, const char *given,
                              char address[SERVE_ADDRESS_MAX],
                              char base_url[SERVE_ADDRESS_MAX]) {
  const char *colon = strrchr(listen, ':');
  if (strncmp(listen, "unix", 4) == 0 || colon == NULL) {
    int rc = copy(address, listen);
    return rc != 0 ? rc : copy(base_url, given != NULL ? given : listen);
  }
  size_t host_len = (size_t)(colon - listen);
  int rc = host_port(address, listen, host_len, port);
  if (rc != 0 || given != NULL) {
    return rc != 0 ? rc : copy(base_url, given);
  }
  /* A wildcard is where to listen, not where to call. */
  if (host_len == 0 || is(listen, host_len, "0.0.0.0")) {
    return host_port(base_url, "127.0.0.1", 9, port);
  }
  if (is(listen, host_len, "[::]")) {
    return host_port(base_url, "[::1]", 5, port);
  }
  return host_port(base_url, listen, host_len, port);
}
