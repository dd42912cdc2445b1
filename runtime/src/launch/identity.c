/* The launch secret, the published declaration and the identity handover
 * of a plugin launched in Model A (see identity.h). */
#include "launch/identity.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "crypto/crypto.h"
#include "launch/launched.h"

enum { SUFFIX_HEX = 16 };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_cv_once = PTHREAD_ONCE_INIT;
static pthread_cond_t g_cv; /* CLOCK_MONOTONIC */

static char g_secret[LAUNCH_SECRET_MAX + 1];
static size_t g_secret_len; /* 0 = none */

/* The publication: one malloc'd block per string, freed on replace. */
static bool g_published;
static launch_plugin_info g_info;
static launch_health_fn g_health;
static void *g_health_ctx;

static bool g_offered; /* an identity was set: never again */
static bool g_pending; /* ... and not yet taken */
static bool g_aborted;
static launch_identity g_ident;

static void init_cv(void) {
  cpi_cond_init_monotonic(&g_cv);
}

/* --- the secret ----------------------------------------------------------- */

static bool b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int cpi_launch_secret_check(const char *value) {
  if (value == NULL) {
    return CP_EINVAL;
  }
  size_t n = strnlen(value, LAUNCH_SECRET_MAX + 1);
  if (n < LAUNCH_SECRET_MIN || n > LAUNCH_SECRET_MAX) {
    return CP_EINVAL;
  }
  size_t body = n;
  while (body > 0 && n - body < 2 && value[body - 1] == '=') {
    body--;
  }
  for (size_t i = 0; i < body; i++) {
    if (!b64url_char(value[i])) {
      return CP_EINVAL;
    }
  }
  return 0;
}

int cpi_launch_secret_load(void) {
  const char *value = getenv(CP_LAUNCH_SECRET_ENV);
  if (value == NULL) {
    return 0;
  }
  if (cpi_launch_secret_check(value) != 0) {
    /* The value is a secret: say what is wrong, never what it is. */
    cp_log(CP_LOG_ERROR, "launched plugin cannot listen", "error",
           CP_LAUNCH_SECRET_ENV ": expected 16..128 base64url characters",
           CP_LOG_END);
    return CP_EINVAL;
  }
  pthread_mutex_lock(&g_mu);
  g_secret_len = strlen(value);
  memcpy(g_secret, value, g_secret_len + 1);
  pthread_mutex_unlock(&g_mu);
  return 0;
}

bool cpi_launch_secret_present(void) {
  pthread_mutex_lock(&g_mu);
  bool present = g_secret_len > 0;
  pthread_mutex_unlock(&g_mu);
  return present;
}

bool cpi_launch_secret_matches(const char *value, size_t len) {
  pthread_mutex_lock(&g_mu);
  /* The length is no secret (the launcher's format fixes it); the bytes
   * are compared in constant time. */
  bool ok = g_secret_len > 0 && value != NULL && len == g_secret_len &&
            cpi_ct_equal(value, g_secret, g_secret_len);
  pthread_mutex_unlock(&g_mu);
  return ok;
}

bool cpi_launch_identity_mode(void) {
  return cpi_launch_secret_present() && cpi_launch_endpoint(NULL);
}

bool cpi_launch_runtime_id_valid(const char *id) {
  if (id == NULL) {
    return false;
  }
  size_t n = strnlen(id, CP_RUNTIME_ID_MAX + 1);
  if (n > CP_RUNTIME_ID_MAX || n < SUFFIX_HEX + 2 ||
      id[n - SUFFIX_HEX - 1] != '-') {
    return false;
  }
  for (size_t i = n - SUFFIX_HEX; i < n; i++) {
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
      return false;
    }
  }
  char name[CP_SELF_ID_MAX + 1];
  size_t name_len = n - SUFFIX_HEX - 1;
  memcpy(name, id, name_len);
  name[name_len] = '\0';
  for (size_t i = 0; i < name_len; i++) {
    if (name[i] >= 'A' && name[i] <= 'Z') {
      return false; /* the host lower-cases the self_id */
    }
  }
  return cp_self_id_valid(name);
}

/* --- the publication ------------------------------------------------------ */

static char *dup_or_empty(const char *s, bool *ok) {
  char *d = strdup(s != NULL ? s : "");
  *ok = *ok && d != NULL;
  return d;
}

static void info_free(launch_plugin_info *info) {
  free((char *)info->self_id);
  free((char *)info->self_version);
  for (size_t i = 0; i < info->provides_count; i++) {
    free((char *)info->provides[i].type);
    free((char *)info->provides[i].version);
    free((char *)info->provides[i].path);
  }
  free((cp_service_decl *)info->provides);
  for (size_t i = 0; i < info->requires_count; i++) {
    free((char *)info->requires[i].type);
    free((char *)info->requires[i].min_version);
  }
  free((cp_service_dep *)info->requires);
  memset(info, 0, sizeof *info);
}

static int info_copy(const launch_plugin_info *in, launch_plugin_info *out) {
  memset(out, 0, sizeof *out);
  bool ok = true;
  out->self_id = dup_or_empty(in->self_id, &ok);
  out->self_version = dup_or_empty(in->self_version, &ok);
  cp_service_decl *p = calloc(in->provides_count + 1, sizeof *p);
  cp_service_dep *r = calloc(in->requires_count + 1, sizeof *r);
  out->provides = p;
  out->requires = r;
  ok = ok && p != NULL && r != NULL;
  for (size_t i = 0; ok && i < in->provides_count; i++) {
    p[i].type = dup_or_empty(in->provides[i].type, &ok);
    p[i].version = dup_or_empty(in->provides[i].version, &ok);
    p[i].path = dup_or_empty(in->provides[i].path, &ok);
    out->provides_count = i + 1;
  }
  for (size_t i = 0; ok && i < in->requires_count; i++) {
    r[i] = in->requires[i];
    r[i].type = dup_or_empty(in->requires[i].type, &ok);
    r[i].min_version = dup_or_empty(in->requires[i].min_version, &ok);
    out->requires_count = i + 1;
  }
  if (!ok) {
    info_free(out);
    return CP_ENOMEM;
  }
  return 0;
}

int cpi_launch_info_publish(const launch_plugin_info *info,
                            launch_health_fn health, void *ctx) {
  if (info == NULL) {
    return CP_EINVAL;
  }
  launch_plugin_info copy;
  int rc = info_copy(info, &copy);
  if (rc != 0) {
    return rc;
  }
  pthread_mutex_lock(&g_mu);
  launch_plugin_info old = g_info;
  g_info = copy;
  g_published = true;
  g_health = health;
  g_health_ctx = ctx;
  pthread_mutex_unlock(&g_mu);
  info_free(&old);
  return 0;
}

void cpi_launch_info_withdraw(void) {
  pthread_mutex_lock(&g_mu);
  launch_plugin_info old = g_info;
  memset(&g_info, 0, sizeof g_info);
  g_published = false;
  g_health = NULL;
  g_health_ctx = NULL;
  pthread_mutex_unlock(&g_mu);
  info_free(&old);
}

int cpi_launch_info_read(launch_info_fn fn, void *user) {
  pthread_mutex_lock(&g_mu);
  int rc = g_published ? fn(&g_info, user) : CP_ESTATE;
  pthread_mutex_unlock(&g_mu);
  return rc;
}

bool cpi_launch_runtime_health(cp_plugin_health *out) {
  /* Under the lock, so that withdraw (the runtime's stop) cannot free the
   * runtime while its health is read; the health takes only the runtime's
   * own lock, which is never held while calling into this module. */
  pthread_mutex_lock(&g_mu);
  bool has = g_published && g_health != NULL;
  if (has) {
    *out = g_health(g_health_ctx);
  }
  pthread_mutex_unlock(&g_mu);
  return has;
}

/* --- the handover --------------------------------------------------------- */

int cpi_launch_identity_offer(const launch_identity *ident) {
  pthread_once(&g_cv_once, init_cv);
  pthread_mutex_lock(&g_mu);
  int rc = 0;
  if (!g_published) {
    rc = CP_ESTATE;
  } else if (g_offered) {
    rc = CP_EEXIST;
  } else {
    g_ident = *ident;
    g_offered = true;
    g_pending = true;
    pthread_cond_broadcast(&g_cv);
  }
  pthread_mutex_unlock(&g_mu);
  return rc;
}

int cpi_launch_identity_wait(int64_t timeout_ms, launch_identity *out) {
  pthread_once(&g_cv_once, init_cv);
  struct timespec until = cpi_monotonic_after_ms(timeout_ms);
  pthread_mutex_lock(&g_mu);
  int wrc = 0;
  while (!g_pending && !g_aborted && wrc != ETIMEDOUT) {
    wrc = pthread_cond_timedwait(&g_cv, &g_mu, &until);
  }
  int rc;
  if (g_pending) {
    *out = g_ident;
    cpi_secure_zero(g_ident.token, sizeof g_ident.token);
    g_pending = false;
    rc = 0;
  } else {
    rc = g_aborted ? CP_ECANCELLED : CP_ETIMEDOUT;
  }
  pthread_mutex_unlock(&g_mu);
  return rc;
}

void cpi_launch_identity_abort(void) {
  pthread_once(&g_cv_once, init_cv);
  pthread_mutex_lock(&g_mu);
  g_aborted = true;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

void cpi_launch_identity_testing_reset(void) {
  cpi_launch_info_withdraw();
  pthread_mutex_lock(&g_mu);
  cpi_secure_zero(g_secret, sizeof g_secret);
  g_secret_len = 0;
  g_offered = false;
  g_pending = false;
  g_aborted = false;
  cpi_secure_zero(&g_ident, sizeof g_ident);
  pthread_mutex_unlock(&g_mu);
}
