/* The process's launched state: whether a listener took CPLUGIN_LISTEN,
 * where it bound, and whether the handshake line went out. */
#include "launch/launched.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "launch/announce.h"
#include "launch/identity.h"

enum { UNIX_PATH_MAX = 107, PORT_MAX = 65535 };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_claimed;
static bool g_bound;
static bool g_announced;
static proc_endpoint g_endpoint;

static int fail(char *err, size_t errlen, const char *what) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, "%s: %s", CP_LAUNCH_LISTEN_ENV, what);
  }
  return CP_EINVAL;
}

/* The part after "host:" is a decimal port 0..65535. */
static bool port_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 5) {
    return false;
  }
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v <= PORT_MAX;
}

int cpi_launch_listen_check(const char *value, char *err, size_t errlen) {
  if (value == NULL || value[0] == '\0') {
    return fail(err, errlen, "empty");
  }
  if (strncmp(value, "unix:", 5) == 0) {
    const char *path = value + 5;
    if (path[0] != '/' || strlen(path) > UNIX_PATH_MAX) {
      return fail(err, errlen,
                  "unix:PATH needs an absolute path of at most 107 bytes");
    }
    for (const char *p = path; *p != '\0'; p++) {
      if ((unsigned char)*p <= ' ' || *p == '|' || (unsigned char)*p >= 0x7f) {
        return fail(err, errlen, "the path has spaces or control bytes");
      }
    }
    return 0;
  }
  /* Loopback only: a launched plugin serves its own host, never the net. */
  static const char *const hosts[] = {"127.0.0.1:", "[::1]:", "localhost:"};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    size_t n = strlen(hosts[i]);
    if (strncmp(value, hosts[i], n) == 0) {
      return port_valid(value + n)
                 ? 0
                 : fail(err, errlen, "the port is not 0..65535");
    }
  }
  return fail(err, errlen,
              "expected unix:/PATH or 127.0.0.1:PORT, [::1]:PORT, "
              "localhost:PORT");
}

int cpi_launch_listen_claim(char *address, size_t cap) {
  const char *value = getenv(CP_LAUNCH_LISTEN_ENV);
  if (value == NULL) {
    return 0;
  }
  char err[160];
  if (cpi_launch_listen_check(value, err, sizeof err) != 0) {
    cp_log(CP_LOG_ERROR, "launched plugin cannot listen", "error", err,
           CP_LOG_END);
    return CP_EINVAL;
  }
  if (strlen(value) >= cap) {
    return CP_EINVAL;
  }
  /* A launcher that sets a secret expects Model A (launch/identity.h): a
   * bad one must not quietly turn into a plugin that handshakes itself. */
  if (cpi_launch_secret_load() != 0) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&g_mu);
  bool mine = !g_claimed;
  g_claimed = true;
  pthread_mutex_unlock(&g_mu);
  if (!mine) {
    return 0;
  }
  memcpy(address, value, strlen(value) + 1);
  return 1;
}

int cpi_launch_listen_bound(const char *address, int port) {
  proc_endpoint ep;
  memset(&ep, 0, sizeof ep);
  if (address == NULL) {
    return CP_EINVAL;
  }
  if (strncmp(address, "unix:", 5) == 0) {
    ep.network = PROC_NETWORK_UNIX;
    snprintf(ep.address, sizeof ep.address, "%s", address + 5);
  } else {
    const char *colon = strrchr(address, ':');
    if (colon == NULL || port <= 0 || port > PORT_MAX) {
      return CP_EINVAL;
    }
    ep.network = PROC_NETWORK_TCP;
    snprintf(ep.address, sizeof ep.address, "%.*s:%d", (int)(colon - address),
             address, port);
  }
  pthread_mutex_lock(&g_mu);
  g_endpoint = ep;
  g_bound = true;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

void cpi_launch_listen_unclaim(void) {
  pthread_mutex_lock(&g_mu);
  g_claimed = false;
  g_bound = false;
  pthread_mutex_unlock(&g_mu);
}

bool cpi_launch_endpoint(proc_endpoint *out) {
  pthread_mutex_lock(&g_mu);
  bool bound = g_bound;
  if (bound && out != NULL) {
    *out = g_endpoint;
  }
  pthread_mutex_unlock(&g_mu);
  return bound;
}

bool cpi_launch_endpoint_url(char *out, size_t cap) {
  proc_endpoint ep;
  if (!cpi_launch_endpoint(&ep) || out == NULL) {
    return false;
  }
  int n = snprintf(out, cap, "%s%s",
                   ep.network == PROC_NETWORK_UNIX ? "unix:" : "", ep.address);
  return n > 0 && (size_t)n < cap;
}

int cpi_launch_announce_once(void) {
  proc_endpoint ep;
  pthread_mutex_lock(&g_mu);
  bool go = g_bound && !g_announced;
  g_announced = g_announced || go;
  ep = g_endpoint;
  pthread_mutex_unlock(&g_mu);
  if (!go) {
    return 0;
  }
  return cpi_launch_announce(&ep, stdout);
}

void cpi_launch_testing_reset(void) {
  pthread_mutex_lock(&g_mu);
  g_claimed = false;
  g_bound = false;
  g_announced = false;
  memset(&g_endpoint, 0, sizeof g_endpoint);
  pthread_mutex_unlock(&g_mu);
}
