/* cpi_address_is_local: is a gRPC address loopback or a Unix socket? Errs
 * towards "not local", which only costs a warning. */
#include "transport/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static bool has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A host without port or brackets: "localhost", an IPv4 or IPv6 literal. */
static bool host_is_loopback(const char *host, size_t len) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (len == 0 || len >= sizeof buf) {
    return false;
  }
  memcpy(buf, host, len);
  buf[len] = '\0';
  if (strcasecmp(buf, "localhost") == 0) {
    return true;
  }
  struct in_addr v4;
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  struct in6_addr v6;
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) ||
           (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

/* "host:port", "host", "[v6]:port", "[v6]" or a bare IPv6 literal. */
static bool hostport_is_loopback(const char *s, size_t len) {
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL) {
      return false;
    }
    size_t after = len - (size_t)(close - s) - 1;
    if (after > 0 && close[1] != ':') {
      return false;
    }
    return host_is_loopback(s + 1, (size_t)(close - s) - 1);
  }
  const char *colon = memchr(s, ':', len);
  if (colon == NULL) {
    return host_is_loopback(s, len);
  }
  size_t rest = len - (size_t)(colon - s) - 1;
  if (memchr(colon + 1, ':', rest) != NULL) {
    return host_is_loopback(s, len); /* unbracketed IPv6, no port */
  }
  return host_is_loopback(s, (size_t)(colon - s));
}

/* "a:1,b:2" (the ipv4:/ipv6: schemes): local only if every entry is. */
static bool list_is_loopback(const char *s) {
  if (*s == '\0') {
    return false;
  }
  for (;;) {
    const char *comma = strchr(s, ',');
    size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
    if (!hostport_is_loopback(s, len)) {
      return false;
    }
    if (comma == NULL) {
      return true;
    }
    s = comma + 1;
  }
}

bool cpi_address_is_local(const char *address) {
  if (address == NULL || address[0] == '\0') {
    return false;
  }
  if (has_prefix(address, "unix:") || has_prefix(address, "unix-abstract:")) {
    return true;
  }
  if (has_prefix(address, "ipv4:") || has_prefix(address, "ipv6:")) {
    return list_is_loopback(address + 5);
  }
  const char *name = address;
  if (has_prefix(address, "dns:")) {
    name = address + 4;
    if (has_prefix(name, "//")) {
      /* "dns://[authority]/host:port": skip the DNS server's authority. */
      name = strchr(name + 2, '/');
      if (name == NULL) {
        return false;
      }
      name++;
    }
  }
  return hostport_is_loopback(name, strlen(name));
}
