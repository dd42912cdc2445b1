/* Where a plugin may say it serves: the base_url policy applied when a plugin
 * registers (the router later connects wherever base_url points, so an
 * unchecked one would make the host an open proxy). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/ratelimit_policy.h"
#include "cplugin/registry.h"
#include "registry/base_url.h"

enum { HOST_MAX = 256 };

typedef struct parsed_url {
  char host[HOST_MAX]; /* without brackets */
  bool ip_literal;
  unsigned char ip[16];
  int family;
} parsed_url;

static bool has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

static bool port_valid(const char *p, size_t n) {
  if (n == 0 || n > 5) {
    return false;
  }
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') {
      return false;
    }
    v = v * 10 + (unsigned)(p[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

static bool hostname_valid(const char *h, size_t n) {
  if (n == 0 || n >= HOST_MAX || h[0] == '-' || h[0] == '.') {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

/* "host:port" or "[v6]:port", after the scheme and without trailing '/'. */
static bool parse_authority(const char *a, size_t len, parsed_url *out) {
  memset(out, 0, sizeof *out);
  const char *host = a;
  size_t host_len;
  const char *port;
  if (len > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', len);
    if (close == NULL || (size_t)(close - a) + 1 >= len || close[1] != ':') {
      return false;
    }
    host = a + 1;
    host_len = (size_t)(close - host);
    port = close + 2;
  } else {
    const char *colon = NULL;
    for (size_t i = len; i-- > 0;) {
      if (a[i] == ':') {
        colon = a + i;
        break;
      }
    }
    if (colon == NULL) {
      return false;
    }
    host_len = (size_t)(colon - a);
    port = colon + 1;
  }
  if (!port_valid(port, len - (size_t)(port - a)) || host_len == 0 ||
      host_len >= HOST_MAX) {
    return false;
  }
  memcpy(out->host, host, host_len);
  out->host[host_len] = '\0';
  if (inet_pton(AF_INET6, out->host, out->ip) == 1) {
    out->family = AF_INET6;
    out->ip_literal = true;
  } else if (a[0] != '[' && inet_pton(AF_INET, out->host, out->ip) == 1) {
    out->family = AF_INET;
    out->ip_literal = true;
  } else if (a[0] == '[' || !hostname_valid(out->host, host_len)) {
    return false;
  }
  return true;
}

static bool is_loopback(const parsed_url *u) {
  static const unsigned char v6_loopback[16] = {[15] = 1};
  static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
  if (!u->ip_literal) {
    return strcmp(u->host, "localhost") == 0;
  }
  if (u->family == AF_INET) {
    return u->ip[0] == 127;
  }
  return memcmp(u->ip, v6_loopback, 16) == 0 ||
         (memcmp(u->ip, v4_mapped, 12) == 0 && u->ip[12] == 127);
}

/* The IP address the registration came from, canonical as the rate limiter
 * writes it, against the URL's literal in the same form. */
static bool is_peer(const parsed_url *u, const char *peer) {
  char from[64];
  if (!u->ip_literal || peer == NULL ||
      cp_rate_peer_address(peer, 128, from, sizeof from) < 0) {
    return false;
  }
  char host[INET6_ADDRSTRLEN];
  const unsigned char *ip = u->ip;
  int family = u->family;
  static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
  if (family == AF_INET6 && memcmp(ip, v4_mapped, 12) == 0) {
    ip += 12;
    family = AF_INET;
  }
  if (inet_ntop(family, ip, host, sizeof host) == NULL) {
    return false;
  }
  return strcmp(host, from) == 0;
}

reg_base_url_verdict cpi_reg_check_base_url(unsigned allow, const char *url,
                                            const char *peer, char *why,
                                            size_t cap) {
  static const char *const schemes[] = {"http://", "https://", "grpc://"};
  const char *rest = url;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    if (has_prefix(url, schemes[i])) {
      rest = url + strlen(schemes[i]);
      break;
    }
  }
  if (has_prefix(url, "inproc:")) {
    /* Names an in-process plugin: no scheme, and never a gRPC target. */
    if (!(allow & CP_BASE_URL_INPROC)) {
      snprintf(why, cap,
               "base_url: in-process plugins are not allowed by this host");
      return REG_URL_DENIED;
    }
    if (url[7] == '\0') {
      snprintf(why, cap, "base_url: inproc: needs a plugin name");
      return REG_URL_INVALID;
    }
    return REG_URL_OK;
  }
  size_t len = strlen(rest);
  while (len > 0 && rest[len - 1] == '/') {
    len--;
  }
  bool unix_socket =
      has_prefix(rest, "unix:") || has_prefix(rest, "unix-abstract:");
  parsed_url u;
  bool authority = !unix_socket && strstr(rest, "://") == NULL &&
                   memchr(rest, ',', len) == NULL &&
                   memchr(rest, '/', len) == NULL &&
                   parse_authority(rest, len, &u);
  if (rest != url && !authority) {
    snprintf(why, cap, "base_url: a URL must be scheme://host:port");
    return REG_URL_INVALID;
  }
  if (unix_socket) {
    if (allow & CP_BASE_URL_UNIX) {
      return REG_URL_OK;
    }
    snprintf(why, cap, "base_url: unix sockets are not allowed by this host");
    return REG_URL_DENIED;
  }
  if (!authority) {
    /* A gRPC target in resolver syntax (dns:///name:443, ipv4: lists,
     * xds:...), when the operator opted in. */
    if ((allow & CP_BASE_URL_GRPC_TARGET) && len > 0) {
      return REG_URL_OK;
    }
    snprintf(why, cap,
             "base_url: must be host:port or http(s)://host:port (port "
             "1-65535)");
    return REG_URL_INVALID;
  }
  if ((allow & CP_BASE_URL_ANY_HOST) ||
      ((allow & CP_BASE_URL_LOOPBACK) && is_loopback(&u)) ||
      ((allow & CP_BASE_URL_PEER) && is_peer(&u, peer))) {
    return REG_URL_OK;
  }
  snprintf(why, cap,
           "base_url: host %.64s is not allowed by this host's base_url "
           "policy",
           u.host);
  return REG_URL_DENIED;
}
