/* One connection to the Redis that holds shared rate-limit buckets
 * (internal; hiredis, blocking, with timeouts). Used by one thread: the
 * shared store's. */
#ifndef CPLUGIN_RATELIMIT_REDIS_LINK_H
#define CPLUGIN_RATELIMIT_REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "ratelimit/lease_table.h"

typedef struct cpi_redis_link cpi_redis_link;

/* What the store answered to one request. */
typedef struct cpi_lease_reply {
  bool ok;
  bool foreign; /* the key held something else, now replaced */
  int64_t granted;
  int64_t retry_after_us;
} cpi_lease_reply;

/* Whether `address` is one cpi_redis_link_open accepts: "HOST:PORT",
 * "[IPV6]:PORT" or "unix:PATH". */
bool cpi_redis_address_valid(const char *address);

/* Connects, authenticates (when `password` is not NULL; `username` NULL for
 * the default user) and loads the GCRA script, each step within
 * `timeout_ms`. Returns 0 and sets *out; otherwise CP_ETIMEDOUT, CP_ESYS,
 * CP_EDENIED (AUTH refused) or CP_ERPC, with the reason in `err`. */
int cpi_redis_link_open(cpi_redis_link **out, const char *address,
                        const char *username, const char *password,
                        int64_t timeout_ms, char *err, size_t errlen);

void cpi_redis_link_close(cpi_redis_link *link);

/* Sends every request in one pipeline and reads the answers into
 * `replies`. A request the script refused has ok false. Reloads the script
 * once when Redis lost it (a restart, SCRIPT FLUSH). Returns 0, or an
 * error when the connection failed (the link is then unusable: close it),
 * with the reason in `err`. */
int cpi_redis_link_lease(cpi_redis_link *link, const cpi_lease_request *reqs,
                         size_t n, cpi_lease_reply *replies, char *err,
                         size_t errlen);

#endif /* CPLUGIN_RATELIMIT_REDIS_LINK_H */
