/* A host's link to etcd for its replicas; see replicas.h. */
#include "replica/replicas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/client.h"
#include "cplugin/errors.h"
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
  cp_etcd_options opts; /* prefix and secret: the caller's, used at once */
  cpi_identity_sync *identities;
  cpi_registration_sync *registrations; /* NULL until shared */
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

int cpi_replicas_start(cpi_replicas **out, const cp_etcd_options *o,
                       cp_token_store *tokens) {
  *out = NULL;
  if (o->endpoints == NULL || o->endpoints[0] == '\0' || o->prefix == NULL ||
      o->secret == NULL || o->secret_len < CP_REPLICA_SECRET_MIN) {
    return CP_EINVAL;
  }
  cpi_replicas *r = calloc(1, sizeof *r);
  char *target = target_of(o->endpoints);
  if (r == NULL || target == NULL) {
    free(r);
    free(target);
    return CP_ENOMEM;
  }
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = o->tls;
  co.max_reconnect_backoff_ms = RECONNECT_MAX_MS;
  int rc = cp_client_create(&r->etcd, target, &co);
  free(target);
  if (rc == 0) {
    cpi_identity_sync_options so;
    cpi_identity_sync_options_init(&so);
    so.etcd = r->etcd;
    so.tokens = tokens;
    so.prefix = o->prefix;
    so.secret = o->secret;
    so.secret_len = o->secret_len;
    so.stale_ms = o->stale_ms;
    so.call_timeout_ms = o->call_timeout_ms;
    rc = cpi_identity_sync_start(&r->identities, &so);
  }
  r->opts = *o;
  if (rc != 0) {
    cpi_replicas_stop(r);
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

int cpi_replicas_share_registry(cpi_replicas *r, cp_registry *registry,
                                cp_token_store *tokens) {
  cpi_registration_sync_options so;
  cpi_registration_sync_options_init(&so);
  so.etcd = r->etcd;
  so.registry = registry;
  so.tokens = tokens;
  so.prefix = r->opts.prefix;
  so.secret = r->opts.secret;
  so.secret_len = r->opts.secret_len;
  so.call_timeout_ms = r->opts.call_timeout_ms;
  so.secret_state = secret_state;
  so.secret_user = r->identities;
  int rc = cpi_registration_sync_start(&r->registrations, &so);
  r->opts.prefix = NULL; /* not kept past the calls that copy them */
  r->opts.secret = NULL;
  return rc;
}

void cpi_replicas_stop(cpi_replicas *r) {
  if (r == NULL) {
    return;
  }
  cpi_registration_sync_stop(r->registrations);
  cpi_identity_sync_stop(r->identities);
  cp_client_destroy(r->etcd);
  free(r);
}

void cpi_replicas_stats(cpi_replicas *r, cp_replica_stats *out) {
  cpi_identity_sync_stats s;
  cpi_identity_sync_get_stats(r->identities, &s);
  memset(out, 0, sizeof *out);
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
}
