/* Shared pieces of the replicas' syncs; see replica_util.h. */
#include "replica/replica_util.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "etcd/etcd_call.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"

enum { RETRY_MAX_MS = 2000, KEY_SHOWN = 400 };

void cpi_replica_reject(_Atomic uint64_t *count, const char *who,
                        const ProtobufCBinaryData *key, const char *why) {
  uint64_t n = atomic_fetch_add(count, 1) + 1;
  if ((n & (n - 1)) != 0) {
    return; /* logged at the 1st, 2nd, 4th, 8th... */
  }
  char shown[KEY_SHOWN + 1];
  snprintf(shown, sizeof shown, "%.*s",
           (int)(key->len < KEY_SHOWN ? key->len : KEY_SHOWN),
           (const char *)key->data);
  char message[96];
  snprintf(message, sizeof message, "%s: value rejected", who);
  char total[24];
  snprintf(total, sizeof total, "%" PRIu64, n);
  cp_log(CP_LOG_WARN, message, "key", shown, "reason", why, "rejected_total",
         total, CP_LOG_END);
}

void cpi_write_retry_init(cpi_write_retry *r, const char *who,
                          int64_t first_ms) {
  r->who = who;
  r->first_ms = first_ms;
  r->backoff_ms = first_ms;
  r->at_ns = 0;
  r->failing = false;
}

bool cpi_write_retry_due(const cpi_write_retry *r) {
  return cpi_clock_monotonic_ns() >= r->at_ns;
}

void cpi_write_retry_failed(cpi_write_retry *r, int rc,
                            _Atomic uint64_t *failures) {
  atomic_fetch_add(failures, 1);
  r->at_ns = cpi_clock_monotonic_ns() + cpi_ms_to_ns(r->backoff_ms);
  r->backoff_ms =
      r->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->backoff_ms * 2;
  if (!r->failing) {
    r->failing = true;
    char message[96];
    snprintf(message, sizeof message, "%s: etcd write failed, retrying",
             r->who);
    cp_log(CP_LOG_WARN, message, "error", cp_strerror(rc), CP_LOG_END);
  }
}

void cpi_write_retry_ok(cpi_write_retry *r) {
  r->backoff_ms = r->first_ms;
  if (r->failing) {
    r->failing = false;
    char message[96];
    snprintf(message, sizeof message, "%s: etcd writes resumed", r->who);
    cp_log(CP_LOG_INFO, message, CP_LOG_END);
  }
}

int cpi_etcd_delete(cp_client *etcd, int64_t timeout_ms, const void *key,
                    size_t len) {
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = timeout_ms;
  Etcdserverpb__DeleteRangeRequest req =
      ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  req.key = cpi_etcd_bytes(key, len);
  Etcdserverpb__DeleteRangeResponse *resp = NULL;
  cp_status st;
  int rc = cp_etcdserverpb__kv__delete_range__call(etcd, &req, &resp, &o, &st);
  cpi_etcd_free(resp);
  return rc;
}
