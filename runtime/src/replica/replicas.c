/* A host's link to etcd for its replicas; see replicas.h. */
#include "replica/replicas.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "crypto/crypto.h"
#include "replica/identities.h"
#include "replica/registrations.h"

_Static_assert(CP_REPLICA_SECRET_MIN == CPI_REPLICA_SECRET_MIN,
               "one minimum secret length");

enum {
  /* The watch must come back soon after etcd does (etcd/mirror.h). */
  RECONNECT_MAX_MS = 500
};

struct cpi_replicas {
  cp_client *etcd;
  char *prefix;
  uint8_t *secret;
  size_t secret_len;
  int64_t stale_ms;
  int64_t call_timeout_ms;
  /* Guards the two pointers against a stats reader (a metrics scrape)
   * while they are set or cleared. */
  pthread_mutex_t mu;
  cpi_identity_sync *identities;        /* NULL while not running */
  cpi_registration_sync *registrations; /* NULL while not running */
};

void cp_etcd_options_init(cp_etcd_options *o) {
  memset(o, 0, sizeof *o);
  o->prefix = "/cplugin/";
  o->stale_ms = 900;
  o->call_timeout_ms = 2000;
}

/* gRPC's target for the endpoints: several need the ipv4: scheme. */
static char *target_of(const char *endpoints) {
  size_t n = strlen(endpoints);
  bool several = strchr(endpoints, ',') != NULL;
  char *t = malloc(n + 6);
  if (t != NULL) {
    snprintf(t, n + 6, "%s%s", several ? "ipv4:" : "", endpoints);
  }
  return t;
}

int cpi_replicas_create(cpi_replicas **out, const cp_etcd_options *o) {
  *out = NULL;
  if (o->endpoints == NULL || o->endpoints[0] == '\0' || o->prefix == NULL ||
      o->prefix[0] == '\0' || strlen(o->prefix) > 512 || o->secret == NULL ||
      o->secret_len < CP_REPLICA_SECRET_MIN || o->stale_ms < 0 ||
      o->call_timeout_ms <= 0) {
    return CP_EINVAL;
  }
  cpi_replicas *r = calloc(1, sizeof *r);
  if (r != NULL) {
    pthread_mutex_init(&r->mu, NULL);
  }
  char *target = target_of(o->endpoints);
  if (r == NULL || target == NULL || (r->prefix = strdup(o->prefix)) == NULL ||
      (r->secret = malloc(o->secret_len)) == NULL) {
    free(target);
    cpi_replicas_destroy(r);
    return CP_ENOMEM;
  }
  memcpy(r->secret, o->secret, o->secret_len);
  r->secret_len = o->secret_len;
  r->stale_ms = o->stale_ms;
  r->call_timeout_ms = o->call_timeout_ms;
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = o->tls;
  co.max_reconnect_backoff_ms = RECONNECT_MAX_MS;
  co.non_polling = true; /* the host's server threads poll */
  int rc = cp_client_create(&r->etcd, target, &co);
  free(target);
  if (rc != 0) {
    cpi_replicas_destroy(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* Registrations are written only by replicas whose secret the identity
 * sync found to be the others'. */
static int secret_state(void *user) {
  return cpi_identity_sync_secret(user);
}

int cpi_replicas_run(cpi_replicas *r, cp_token_store *tokens,
                     cp_registry *registry) {
  if (r->identities != NULL) {
    return CP_ESTATE;
  }
  cpi_identity_sync_options io;
  cpi_identity_sync_options_init(&io);
  io.etcd = r->etcd;
  io.tokens = tokens;
  io.prefix = r->prefix;
  io.secret = r->secret;
  io.secret_len = r->secret_len;
  io.stale_ms = r->stale_ms;
  io.call_timeout_ms = r->call_timeout_ms;
  cpi_identity_sync *ids = NULL;
  int rc = cpi_identity_sync_start(&ids, &io);
  if (rc != 0) {
    return rc;
  }
  cpi_registration_sync_options ro;
  cpi_registration_sync_options_init(&ro);
  ro.etcd = r->etcd;
  ro.registry = registry;
  ro.tokens = tokens;
  ro.prefix = r->prefix;
  ro.secret = r->secret;
  ro.secret_len = r->secret_len;
  ro.call_timeout_ms = r->call_timeout_ms;
  ro.secret_state = secret_state;
  ro.secret_user = ids;
  cpi_registration_sync *regs = NULL;
  rc = cpi_registration_sync_start(&regs, &ro);
  if (rc != 0) {
    cpi_identity_sync_stop(ids);
    return rc;
  }
  pthread_mutex_lock(&r->mu);
  r->identities = ids;
  r->registrations = regs;
  pthread_mutex_unlock(&r->mu);
  return 0;
}

void cpi_replicas_halt(cpi_replicas *r) {
  if (r == NULL) {
    return;
  }
  pthread_mutex_lock(&r->mu);
  cpi_identity_sync *ids = r->identities;
  cpi_registration_sync *regs = r->registrations;
  r->identities = NULL;
  r->registrations = NULL;
  pthread_mutex_unlock(&r->mu);
  cpi_registration_sync_stop(regs);
  cpi_identity_sync_stop(ids);
}

void cpi_replicas_destroy(cpi_replicas *r) {
  if (r == NULL) {
    return;
  }
  cpi_replicas_halt(r);
  cp_client_destroy(r->etcd);
  if (r->secret != NULL) {
    cpi_secure_zero(r->secret, r->secret_len);
  }
  free(r->secret);
  free(r->prefix);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

void cpi_replicas_stats(cpi_replicas *r, cp_replica_stats *out) {
  memset(out, 0, sizeof *out);
  out->secret_ok = -1;
  pthread_mutex_lock(&r->mu);
  if (r->identities == NULL) {
    pthread_mutex_unlock(&r->mu);
    return;
  }
  cpi_identity_sync_stats s;
  cpi_identity_sync_get_stats(r->identities, &s);
  out->adopted = s.adopted;
  out->dropped = s.dropped;
  out->rejected = s.rejected;
  out->published = s.published;
  out->failures = s.failures;
  out->pending = s.pending;
  out->known = s.known;
  out->in_sight = !s.stale;
  out->secret_ok = s.secret;
  if (r->registrations != NULL) {
    cpi_registration_sync_stats g;
    cpi_registration_sync_get_stats(r->registrations, &g);
    out->rejected += g.rejected;
    out->failures += g.failures;
    out->registrations_adopted = g.adopted;
    out->registrations_dropped = g.dropped;
    out->registrations_published = g.published;
    out->registrations_pending = g.pending;
    out->registrations_known = g.known;
  }
  pthread_mutex_unlock(&r->mu);
}
