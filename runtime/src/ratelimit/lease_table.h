/* A replica's share of rate-limit buckets kept in a shared store (internal;
 * cplugin/ratelimit_redis.h): per bucket, the tokens this replica has
 * leased and may still admit.
 *
 * Calls spend leased tokens under a shard mutex and never wait on the
 * store. When a bucket's allowance runs low it is queued, and the store's
 * thread leases more (cpi_lease_collect, then cpi_lease_apply). A bucket
 * this replica has not seen starts with one lease on credit, so its first
 * calls are not refused while the lease is on its way; the credit is
 * charged with the next lease. Buckets unused for a while return their
 * unspent tokens and are dropped (cpi_lease_sweep).
 *
 * Every function takes the time as an argument (ns, one monotonic scale),
 * so tests drive it without a clock. take may run on any thread; collect,
 * apply and sweep on one thread at a time (the store's), which is also the
 * only one that frees entries. */
#ifndef CPLUGIN_RATELIMIT_LEASE_TABLE_H
#define CPLUGIN_RATELIMIT_LEASE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/ratelimit.h"

/* Longest key: a prefix, a rule path, a NUL and a bucket key. */
#define CPI_LEASE_KEY_MAX (64 + 512 + 1 + CP_RATE_KEY_MAX)

typedef struct cpi_lease_table cpi_lease_table;
typedef struct cpi_lease cpi_lease;

typedef enum cpi_lease_verdict {
  CPI_LEASE_ALLOW = 0,      /* a leased token was spent */
  CPI_LEASE_DENY = 1,       /* none left here; *retry_ns says when to retry */
  CPI_LEASE_FULL = 2,       /* a new bucket, and the table is full */
  CPI_LEASE_STORE_DOWN = 3, /* none left and the store is unreachable */
} cpi_lease_verdict;

/* One lease to ask the store for, or (entry NULL) unspent tokens to return. */
typedef struct cpi_lease_request {
  cpi_lease *entry;
  char key[CPI_LEASE_KEY_MAX];
  size_t key_len;
  int64_t interval_us;
  uint32_t burst;
  uint32_t wanted;
  int64_t debt;
} cpi_lease_request;

/* The tokens a replica leases at once for `limit`: `lease_ms` worth of its
 * rate, at least min(burst, 8) so that a low-rate method's burst is not cut
 * into single tokens, at most the burst. */
uint32_t cpi_lease_size(cp_rate_limit limit, int64_t lease_ms);

/* Whether `limit` can be shared: rate and burst both above 0 (a one-time
 * budget or a closed method stays local). */
bool cpi_lease_shareable(cp_rate_limit limit);

/* Returns 0, CP_ENOMEM or CP_ESYS (no random hash key). */
int cpi_lease_table_create(cpi_lease_table **out, size_t max_entries,
                           int64_t lease_ms);

/* Frees every entry. No other call may be running. */
void cpi_lease_table_destroy(cpi_lease_table *t);

/* Spends one token of the bucket `key` (at most CPI_LEASE_KEY_MAX bytes;
 * `limit` shareable). `store_up` false: no bucket is created and an empty
 * one answers CPI_LEASE_STORE_DOWN. *queued is set when the bucket was
 * queued for a lease (wake the store's thread). */
cpi_lease_verdict cpi_lease_take(cpi_lease_table *t, const char *key,
                                 size_t key_len, cp_rate_limit limit,
                                 bool store_up, int64_t now_ns,
                                 int64_t *retry_ns, bool *queued);

/* Moves up to `max` queued buckets into `reqs` (each then in flight until
 * cpi_lease_apply) and returns how many. Buckets the store said were empty
 * stay queued until then; *wake_ns gets the earliest such time (INT64_MAX
 * when none). */
size_t cpi_lease_collect(cpi_lease_table *t, cpi_lease_request *reqs,
                         size_t max, int64_t now_ns, int64_t *wake_ns);

/* The store's answer to `req` (ok false: it was not reached, and the
 * bucket's credit is kept to be charged later). */
void cpi_lease_apply(cpi_lease_table *t, const cpi_lease_request *req, bool ok,
                     int64_t granted, int64_t retry_after_us, int64_t now_ns);

/* Drops up to `max` buckets unused for `idle_ns`, writing into `reqs` the
 * returns of those that hold unspent tokens or owe credit; returns how
 * many requests were written (entries dropped may be more). */
size_t cpi_lease_sweep(cpi_lease_table *t, int64_t idle_ns, int64_t now_ns,
                       cpi_lease_request *reqs, size_t max);

/* Buckets held. */
size_t cpi_lease_count(cpi_lease_table *t);

#endif /* CPLUGIN_RATELIMIT_LEASE_TABLE_H */
