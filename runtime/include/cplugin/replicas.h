/* cplugin — host replicas sharing runtime identities and the service
 * registry through etcd.
 *
 * A host is one process. Several host replicas behind one address accept
 * each other's plugins when they share state: with cp_host_options.etcd
 * set, an identity issued (handshake), refreshed or revoked at one replica
 * is known at every replica given the same etcd, prefix and secret, so a
 * plugin whose host replica died continues at another with its token; and
 * a registration made or removed at one replica is made or removed at
 * every one, under the same registration ID and owner, so Discover,
 * WatchService and the router see every replica's plugins. (Rate limits
 * are shared through Redis: cplugin/ratelimit_redis.h.)
 *
 * Registrations need no network on any call either. They live in etcd
 * without a lease until removed or until their owner's identity ends; each
 * replica judges the liveness of the providers it knows for itself (it
 * probes those known through etcd) and keeps them while etcd is out of
 * sight. Registrations of in-process plugins ("inproc:" base_url) stay
 * with their host. docs/scaling.md has the details.
 *
 * Token validation never waits on etcd: each replica keeps every identity
 * in its own token store, fed by an etcd watch, and writes its own changes
 * from a background thread. An identity lives in etcd on a lease as long
 * as the identity itself, so etcd drops it when it expires.
 *
 * Revocations reach every replica within a second: a replica that has not
 * heard from etcd for stale_ms (900 by default; etcd down, a partition)
 * withdraws every identity it knows only through etcd — their calls get
 * UNAUTHENTICATED there, and plugins handshake again — and takes them back,
 * as etcd then has them, once it hears etcd again. Identities issued
 * meanwhile stay (nobody else can have revoked them) and are written once
 * etcd answers. stale_ms 0 keeps them instead: the replica then stays
 * available through an etcd outage but may accept, until etcd is back, an
 * identity revoked elsewhere.
 *
 * etcd never holds a token in clear: values are sealed (AES-256-GCM) under
 * a key derived from the replicas' shared secret and bound to their key.
 * A value under the prefix that does not open (another secret, altered,
 * copied to another key, not ours) is rejected with a warning and counted;
 * a replica started with another secret than the others logs an error and
 * keeps its identities to itself (cp_replica_stats.secret_ok = 0).
 *
 * Expiry crosses replicas as wall-clock time, so a replica whose clock is
 * off by d sees the others' identities expire d early or late; the etcd
 * lease, timed by etcd, bounds how long one outlives its expiry anywhere.
 *
 * Only IPv4 addresses may be listed as several endpoints ("a:p,b:p"); a
 * single endpoint may be a name. etcd's username/password auth is not
 * supported: use client certificates (tls->cert_chain, --client-cert-auth).
 */
#ifndef CPLUGIN_REPLICAS_H
#define CPLUGIN_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shortest shared secret accepted, in bytes. */
#define CP_REPLICA_SECRET_MIN 16

typedef struct cp_etcd_options {
  /* etcd's client endpoints: "HOST:PORT", or "A:PORT,B:PORT" (IPv4). */
  const char *endpoints;
  const cp_tls_client_options *tls; /* NULL = plaintext */
  const char *prefix;               /* default "/cplugin/" */
  const void *secret;               /* >= CP_REPLICA_SECRET_MIN bytes */
  size_t secret_len;
  int64_t stale_ms;        /* default 900; 0 = never withdraw */
  int64_t call_timeout_ms; /* each etcd call (default 2000) */
} cp_etcd_options;

CP_API void cp_etcd_options_init(cp_etcd_options *opts);

typedef struct cp_replica_stats {
  uint64_t adopted;   /* identities installed from etcd */
  uint64_t dropped;   /* revocations from other replicas applied */
  uint64_t rejected;  /* values under the prefix that were refused */
  uint64_t published; /* this replica's identity changes written */
  uint64_t failures;  /* writes that failed (retried) */
  size_t pending;     /* identity changes not written yet */
  size_t known;       /* identities known through etcd */
  bool in_sight;      /* heard etcd within stale_ms */
  int secret_ok;      /* 1 same secret, 0 another, -1 not checked yet */
  /* The shared registry. */
  uint64_t registrations_adopted;   /* other replicas' installed here */
  uint64_t registrations_dropped;   /* their removals applied here */
  uint64_t registrations_published; /* this replica's changes written */
  size_t registrations_pending;     /* its changes not written yet */
  size_t registrations_known;       /* registrations in etcd */
} cp_replica_stats;

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_REPLICAS_H */
