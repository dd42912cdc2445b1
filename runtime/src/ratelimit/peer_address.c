/* The address part of a gRPC peer string, for per-address rate limits.
 *
 * gRPC writes peers as URIs: "ipv4:10.0.0.7:5000", "ipv6:[::1]:5000" (newer
 * releases percent-encode the brackets: "ipv6:%5B::1%5D:5000"), "unix:/path",
 * "unix-abstract:name". The port changes with every connection, so keying on
 * it would give each connection a fresh budget. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "cplugin/errors.h"
#include "cplugin/ratelimit_policy.h"

enum { IPV6_BYTES = 16, ZONE_MAX = 64 };

static bool has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True when s is ":" followed by 1..5 digits and nothing else. */
static bool is_port(const char *s) {
  if (s[0] != ':') {
    return false;
  }
  size_t n = 0;
  for (s++; *s != '\0'; s++, n++) {
    if (*s < '0' || *s > '9' || n == 5) {
      return false;
    }
  }
  return n > 0;
}

/* Copies s[0..n) into out as a string; false if it does not fit. */
static bool copy_out(const char *s, size_t n, char *out, size_t cap) {
  if (n >= cap) {
    return false;
  }
  memcpy(out, s, n);
  out[n] = '\0';
  return true;
}

/* Returns the length written, or CP_EINVAL. */
static int finish(const char *s, char *out, size_t cap) {
  size_t n = strlen(s);
  return n < INT_MAX && copy_out(s, n, out, cap) ? (int)n : CP_EINVAL;
}

static int parse_ipv4(const char *rest, char *out, size_t cap) {
  const char *colon = strrchr(rest, ':');
  char text[INET_ADDRSTRLEN];
  struct in_addr a;
  if (colon == NULL || !is_port(colon) ||
      !copy_out(rest, (size_t)(colon - rest), text, sizeof text) ||
      inet_pton(AF_INET, text, &a) != 1 ||
      inet_ntop(AF_INET, &a, text, sizeof text) == NULL) {
    return CP_EINVAL;
  }
  return finish(text, out, cap);
}

/* Keeps the first `bits` bits of an IPv6 address. */
static void mask_ipv6(unsigned char *a, unsigned bits) {
  for (unsigned i = 0; i < IPV6_BYTES; i++) {
    unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
    if (keep < 8) {
      a[i] &= (unsigned char)(0xffU << (8 - keep));
    }
  }
}

static bool is_v4_mapped(const unsigned char *a) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a, prefix, sizeof prefix) == 0;
}

/* The text between the brackets of "[addr]:port" or "%5Baddr%5D:port". */
static bool bracketed(const char *rest, const char **addr, size_t *len) {
  const char *end = NULL;
  if (rest[0] == '[') {
    *addr = rest + 1;
    end = strchr(*addr, ']');
    if (end == NULL || !is_port(end + 1)) {
      return false;
    }
  } else if (strncasecmp(rest, "%5B", 3) == 0) {
    *addr = rest + 3;
    end = strstr(*addr, "%5D");
    if (end == NULL) {
      end = strstr(*addr, "%5d");
    }
    if (end == NULL || !is_port(end + 3)) {
      return false;
    }
  } else {
    return false;
  }
  *len = (size_t)(end - *addr);
  return true;
}

static int parse_ipv6(const char *rest, unsigned prefix_bits, char *out,
                      size_t cap) {
  const char *addr = NULL;
  size_t len = 0;
  char text[INET6_ADDRSTRLEN + ZONE_MAX];
  if (!bracketed(rest, &addr, &len) ||
      !copy_out(addr, len, text, sizeof text)) {
    return CP_EINVAL;
  }
  char *zone = strchr(text, '%'); /* "fe80::1%eth0" or "fe80::1%25eth0" */
  if (zone != NULL) {
    *zone = '\0';
  }
  unsigned char a[IPV6_BYTES];
  if (inet_pton(AF_INET6, text, a) != 1) {
    return CP_EINVAL;
  }
  if (is_v4_mapped(a)) {
    /* A dual-stack listener reports IPv4 clients this way: same client,
     * same bucket as over IPv4. */
    if (inet_ntop(AF_INET, a + 12, text, sizeof text) == NULL) {
      return CP_EINVAL;
    }
    return finish(text, out, cap);
  }
  mask_ipv6(a, prefix_bits);
  if (inet_ntop(AF_INET6, a, text, sizeof text) == NULL) {
    return CP_EINVAL;
  }
  return finish(text, out, cap);
}

int cp_rate_peer_address(const char *peer, unsigned ipv6_prefix_bits, char *out,
                         size_t out_cap) {
  if (peer == NULL || out == NULL || out_cap == 0 || ipv6_prefix_bits > 128) {
    return CP_EINVAL;
  }
  out[0] = '\0';
  if (has_prefix(peer, "ipv4:")) {
    return parse_ipv4(peer + 5, out, out_cap);
  }
  if (has_prefix(peer, "ipv6:")) {
    return parse_ipv6(peer + 5, ipv6_prefix_bits, out, out_cap);
  }
  if (has_prefix(peer, "unix:") || has_prefix(peer, "unix-abstract:") ||
      has_prefix(peer, "inproc:")) {
    return finish(peer, out, out_cap);
  }
  return CP_EINVAL;
}
