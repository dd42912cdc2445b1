/* A local copy of every key under an etcd prefix, kept current by a watch
 * (internal): what host replicas will read their shared registry and
 * identities from, so that no call waits on etcd.
 *
 * One thread lists the prefix (Range, in pages, at one revision), then
 * watches it from the next revision. Whenever the watch breaks (etcd
 * restarted, the connection dropped) or etcd says the revision it resumes
 * from was compacted away, the thread lists again and resumes from there:
 * events missed meanwhile are never replayed, the listing replaces them.
 * After a failure it waits (retry_ms, doubling up to 5 s) before trying
 * again.
 *
 * A watch can also go silent without breaking (a peer or a network that
 * drops packets instead of closing the connection). So a second thread asks
 * etcd for a progress report every probe_ms on the open watch, and when
 * nothing at all came back for probe_timeout_ms it cancels the watch, which
 * counts as broken. heard_ns in the stats says how fresh the copy is.
 *
 * The sink sees a listing as resync_begin, put for every key, resync_end:
 * keys not put between the two are gone from etcd. A listing that fails
 * half-way is not ended; the next one begins again. Between listings, put
 * and remove follow the watch's events in revision order. Every sink call
 * runs on the mirror's thread, one at a time. */
#ifndef CPLUGIN_ETCD_MIRROR_H
#define CPLUGIN_ETCD_MIRROR_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "cplugin/client.h"

typedef struct cpi_etcd_sink {
  void (*resync_begin)(void *user);
  /* mod_revision: the revision that last changed the key. */
  void (*put)(const ProtobufCBinaryData *key, const ProtobufCBinaryData *value,
              int64_t mod_revision, void *user);
  void (*remove)(const ProtobufCBinaryData *key, void *user);
  /* Caught up with etcd at `revision`. */
  void (*resync_end)(int64_t revision, void *user);
  void *user;
} cpi_etcd_sink;

typedef struct cpi_etcd_mirror_options {
  cp_client *etcd;          /* not owned; outlives the mirror */
  const char *prefix;       /* non-empty, last byte below 0xff; copied */
  int64_t retry_ms;         /* first wait after a failure (default 100) */
  int64_t call_timeout_ms;  /* each listing page (default 2000) */
  uint32_t page_keys;       /* keys per listing page (default 500) */
  int64_t probe_ms;         /* progress request period (default 250) */
  int64_t probe_timeout_ms; /* silence that breaks the watch (default 1000) */
} cpi_etcd_mirror_options;

typedef struct cpi_etcd_mirror_stats {
  bool watching;     /* listed, and the watch is open */
  uint64_t listings; /* listings completed */
  uint64_t events;   /* watch events applied */
  uint64_t failures; /* listings or watches that failed */
  uint64_t silences; /* watches cancelled for saying nothing */
  int64_t revision;  /* the last revision applied */
  int64_t heard_ns;  /* monotonic time etcd last answered (0: never) */
} cpi_etcd_mirror_stats;

void cpi_etcd_mirror_options_init(cpi_etcd_mirror_options *opts);

typedef struct cpi_etcd_mirror cpi_etcd_mirror;

/* Starts the thread. Returns 0, CP_EINVAL, CP_ENOMEM or CP_ESYS. */
int cpi_etcd_mirror_start(cpi_etcd_mirror **out,
                          const cpi_etcd_mirror_options *opts,
                          const cpi_etcd_sink *sink);

/* Cancels the watch (or a wait), joins the thread, frees the mirror. The
 * sink is not called once this returns. NULL allowed. */
void cpi_etcd_mirror_stop(cpi_etcd_mirror *m);

/* Any thread. */
void cpi_etcd_mirror_get_stats(cpi_etcd_mirror *m, cpi_etcd_mirror_stats *out);

#endif /* CPLUGIN_ETCD_MIRROR_H */
