/* What the replicas' syncs (identities.c, registrations.c) share
 * (internal): counting and logging refused values, the publisher's
 * retry pace, and a delete of one etcd key. */
#ifndef CPLUGIN_REPLICA_REPLICA_UTIL_H
#define CPLUGIN_REPLICA_REPLICA_UTIL_H

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"

/* Counts a refused value under `key` and logs the 1st, 2nd, 4th, 8th...
 * as "<who>: value rejected" with `why`. */
void cpi_replica_reject(_Atomic uint64_t *count, const char *who,
                        const ProtobufCBinaryData *key, const char *why);

/* A publisher's pace after failed writes: the first retry after
 * first_ms, doubling up to 2 s; one WARN when writes start failing and
 * one INFO when they resume. One thread only. */
typedef struct cpi_write_retry {
  const char *who; /* "identity replication", ... (static) */
  int64_t first_ms;
  int64_t backoff_ms;
  int64_t at_ns; /* monotonic: no write before */
  bool failing;
} cpi_write_retry;

void cpi_write_retry_init(cpi_write_retry *r, const char *who,
                          int64_t first_ms);
bool cpi_write_retry_due(const cpi_write_retry *r);
/* A write (or check) failed with `rc`: counts it, waits longer. */
void cpi_write_retry_failed(cpi_write_retry *r, int rc,
                            _Atomic uint64_t *failures);
/* One succeeded: the pace is back to first_ms. */
void cpi_write_retry_ok(cpi_write_retry *r);

/* Deletes key[0..len). Returns 0 or the call's error. */
int cpi_etcd_delete(cp_client *etcd, int64_t timeout_ms, const void *key,
                    size_t len);

#endif /* CPLUGIN_REPLICA_REPLICA_UTIL_H */
