/* Parsing the handshake line a plugin prints when it serves. */
#include "launch/handshake_line.h"

#include <stdio.h>
#include <string.h>

#include "cplugin/errors.h"

enum { UNIX_PATH_MAX = 107 }; /* sun_path holds 108 bytes with the NUL */

static bool printable_no_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

/* "host:port": a non-empty host and a decimal port 1..65535. */
static bool tcp_address_valid(const char *s, size_t len) {
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == ':') {
      colon = s + i; /* the last one: an IPv6 host is "[::1]:port" */
    }
  }
  if (colon == NULL || colon == s) {
    return false;
  }
  size_t digits = len - (size_t)(colon + 1 - s);
  if (digits == 0 || digits > 5) {
    return false;
  }
  long port = 0;
  for (const char *p = colon + 1; p < s + len; p++) {
    if (*p < '0' || *p > '9') {
      return false;
    }
    port = port * 10 + (*p - '0');
  }
  return port >= 1 && port <= 65535;
}

bool cpi_proc_handshake_line_claimed(const char *line, size_t len) {
  size_t n = strlen(PROC_HANDSHAKE_PREFIX);
  return len >= n && memcmp(line, PROC_HANDSHAKE_PREFIX, n) == 0;
}

static int fail(char *err, size_t errlen, const char *what) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, "malformed handshake line: %s", what);
  }
  return CP_EDECODE;
}

int cpi_proc_handshake_line_parse(const char *line, size_t len,
                                  proc_endpoint *out, char *err,
                                  size_t errlen) {
  if (!cpi_proc_handshake_line_claimed(line, len)) {
    return fail(err, errlen, "does not start with \"cplugin|\"");
  }
  if (!printable_no_space(line, len)) {
    return fail(err, errlen, "spaces or control bytes");
  }
  /* After the prefix: version '|' network '|' address (the rest). */
  const char *field[3];
  size_t flen[3];
  const char *p = line + strlen(PROC_HANDSHAKE_PREFIX);
  const char *end = line + len;
  for (size_t i = 0; i < 2; i++) {
    const char *bar = memchr(p, '|', (size_t)(end - p));
    if (bar == NULL) {
      return fail(err, errlen,
                  "expected cplugin|<version>|<network>|<address>");
    }
    field[i] = p;
    flen[i] = (size_t)(bar - p);
    p = bar + 1;
  }
  field[2] = p;
  flen[2] = (size_t)(end - p);
  if (memchr(field[2], '|', flen[2]) != NULL) {
    return fail(err, errlen, "more than four fields");
  }
  if (flen[0] != strlen(PROC_HANDSHAKE_VERSION) ||
      memcmp(field[0], PROC_HANDSHAKE_VERSION, flen[0]) != 0) {
    char what[64];
    snprintf(
        what, sizeof what,
        "unsupported version \"%.*s\" (this host speaks " PROC_HANDSHAKE_VERSION
        ")",
        flen[0] > 16 ? 16 : (int)flen[0], field[0]);
    return fail(err, errlen, what);
  }
  proc_network network;
  if (flen[1] == 4 && memcmp(field[1], "unix", 4) == 0) {
    network = PROC_NETWORK_UNIX;
  } else if (flen[1] == 3 && memcmp(field[1], "tcp", 3) == 0) {
    network = PROC_NETWORK_TCP;
  } else {
    return fail(err, errlen, "network is neither \"unix\" nor \"tcp\"");
  }
  const char *addr = field[2];
  size_t alen = flen[2];
  if (alen == 0) {
    return fail(err, errlen, "empty address");
  }
  if (alen > PROC_ADDRESS_MAX) {
    return fail(err, errlen, "address too long");
  }
  if (network == PROC_NETWORK_UNIX &&
      (addr[0] != '/' || alen > UNIX_PATH_MAX)) {
    return fail(err, errlen,
                "a unix address is an absolute path of at most 107 bytes");
  }
  if (network == PROC_NETWORK_TCP && !tcp_address_valid(addr, alen)) {
    return fail(err, errlen, "a tcp address is host:port, port 1..65535");
  }
  out->network = network;
  memcpy(out->address, addr, alen);
  out->address[alen] = '\0';
  return 0;
}
