/* Capability grants (internal): which runtime may call which capability,
 * with which bearer token, until when. The capability broker's store.
 *
 * A grant binds a random ID (16 bytes, base64url padded: 24 characters)
 * and a bearer token (32 bytes: 44 characters) to the runtime that asked
 * for it, a capability type and version, and an expiry. Verifying a call
 * compares the token in constant time and checks runtime, type and expiry
 * together; the caller learns only "granted" or "not", never which part was
 * wrong (the reason is returned for logs and metrics).
 *
 * Bounded: at most max_total live grants and max_per_runtime per runtime;
 * an issue that would pass a cap first sweeps the expired grants. Expired
 * grants also go at cpi_grant_sweep and when a verify finds them; all of a
 * runtime's grants go with cpi_grant_revoke_runtime (its identity was revoked
 * or expired, or its plugin removed).
 *
 * Time is the caller's (CLOCK_MONOTONIC nanoseconds, `now_ns`), so tests
 * expire grants without waiting.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * guards the table and is held only while the table is read or changed. */
#ifndef CPLUGIN_BROKER_GRANTS_H
#define CPLUGIN_BROKER_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/tokens.h"
#include "crypto/crypto.h"

enum {
  GRANT_ID_BYTES = 16,
  GRANT_ID_CHARS = CP_BASE64URL_ENCODED_LEN(GRANT_ID_BYTES), /* 24 */
  GRANT_TOKEN_CHARS = CP_RANDOM_TOKEN_CHARS,                 /* 44 */
  GRANT_TYPE_MAX = 128,
  GRANT_VERSION_MAX = 64
};

typedef struct grant_table grant_table;

typedef struct grant_limits {
  int64_t ttl_ms;         /* lifetime of a grant, > 0 */
  size_t max_total;       /* live grants in all, >= 1 */
  size_t max_per_runtime; /* live grants of one runtime, 1 .. max_total */
} grant_limits;

/* Why a verify failed (for logs and metrics only: callers of the broker
 * see one answer for all). */
typedef enum grant_refusal {
  GRANT_REFUSED_UNKNOWN = 1, /* no grant with that ID (or malformed) */
  GRANT_REFUSED_TOKEN,       /* the bearer token is not the grant's */
  GRANT_REFUSED_RUNTIME,     /* another runtime's grant */
  GRANT_REFUSED_TYPE,        /* the grant is for another capability type */
  GRANT_REFUSED_EXPIRED      /* past its expiry (and now removed) */
} grant_refusal;

/* A grant as issued or verified. */
typedef struct grant_info {
  char id[GRANT_ID_CHARS + 1];
  char token[GRANT_TOKEN_CHARS + 1]; /* issue only; "" after a verify */
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  char type[GRANT_TYPE_MAX + 1];
  char version[GRANT_VERSION_MAX + 1];
  int64_t expires_ns; /* CLOCK_MONOTONIC */
} grant_info;

/* Counters since creation, and the live count. */
typedef struct grant_stats {
  uint64_t issued;
  uint64_t refused_limit; /* issues refused by a cap */
  uint64_t expired;       /* removed as expired (sweep, verify, issue) */
  uint64_t revoked;       /* removed with their runtime */
  size_t live;
} grant_stats;

/* Returns 0, CP_EINVAL (limits out of range) or CP_ENOMEM. */
int cpi_grant_table_create(grant_table **out, const grant_limits *limits);

/* Frees the table (wiping the tokens). NULL allowed. */
void cpi_grant_table_destroy(grant_table *t);

/* Issues a grant for `runtime_id` (a runtime ID of the token store's
 * shape), `type` (1..GRANT_TYPE_MAX bytes) and `version` (at most
 * GRANT_VERSION_MAX bytes), expiring at now_ns + ttl; fills *out. Returns
 * 0; CP_EINVAL (bad arguments); CP_ELIMIT when the runtime holds
 * max_per_runtime live grants, CP_EAGAIN when the table holds max_total,
 * each after the expired grants were swept; CP_ESYS (no random bytes);
 * CP_ENOMEM. */
int cpi_grant_issue(grant_table *t, int64_t now_ns, const char *runtime_id,
                    const char *type, const char *version, grant_info *out);

/* Verifies a call that presents grant `id` with bearer `token` (token_len
 * bytes) for capability `type`, from runtime `runtime_id`. Returns true
 * and fills *out (its token left empty) when all of them match and the
 * grant has not expired; false otherwise with *why set (an expired grant
 * is removed). `out` and `why` may be NULL. */
bool cpi_grant_verify(grant_table *t, int64_t now_ns, const char *id,
                      const char *token, size_t token_len,
                      const char *runtime_id, const char *type, grant_info *out,
                      grant_refusal *why);

/* Removes every grant of `runtime_id`; returns how many. */
size_t cpi_grant_revoke_runtime(grant_table *t, const char *runtime_id);

/* Removes the grants expired at now_ns; returns how many. */
size_t cpi_grant_sweep(grant_table *t, int64_t now_ns);

/* A snapshot of the counters. */
grant_stats cpi_grant_table_stats(grant_table *t);

#endif /* CPLUGIN_BROKER_GRANTS_H */
