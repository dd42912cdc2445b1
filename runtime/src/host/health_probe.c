/* The host's liveness prober: is anything still serving at a provider's
 * base_url? One grpc.health.v1 Check per address, asynchronous, so a pass
 * over many providers takes about one timeout, not one per provider. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/server_answered.h"
#include "cplugin/client.h"
#include "grpc/health/v1/health.cplugin.h"
#include "host/host_liveness.h"
#include "router/route_parse.h"

/* Probes in flight at once: each holds a connection and a completion
 * thread. */
#define PROBE_BATCH 16

typedef struct probe_batch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t pending;
} probe_batch;

typedef struct probe_slot {
  probe_batch *batch;
  cp_client *client;
  cp_probe_result *result;
} probe_slot;

static cp_probe_result classify(cp_status_code code) {
  if (cp_status_server_silent(code)) {
    return CP_PROBE_DEAD;
  }
  /* OK, or any answer the server itself gave (UNIMPLEMENTED when it does
   * not serve health, NOT_FOUND, ...): it is up. */
  return cp_status_server_answered(code) ? CP_PROBE_ALIVE : CP_PROBE_UNKNOWN;
}

static void on_checked(const cp_status *status, ProtobufCMessage *resp,
                       void *user) {
  probe_slot *slot = user;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  probe_batch *b = slot->batch;
  pthread_mutex_lock(&b->mu);
  *slot->result = classify(status->code);
  if (--b->pending == 0) {
    pthread_cond_signal(&b->cv);
  }
  pthread_mutex_unlock(&b->mu);
}

/* Starts one probe; on failure to start, the result stays as it was
 * (UNKNOWN) unless the address itself cannot be probed. */
static void start_one(probe_batch *b, probe_slot *slot, const char *base_url,
                      int64_t timeout_ms) {
  char target[CP_REGISTRY_VALUE_MAX + 1];
  bool tls = false;
  if (strncmp(base_url, "inproc:", 7) == 0) {
    /* An in-process plugin lives as long as the host: nothing to probe, and
     * never dead (gRPC cannot dial the name). */
    *slot->result = CP_PROBE_UNKNOWN;
    return;
  }
  if (!cpi_route_target_address(base_url, target, sizeof target, &tls) || tls) {
    return;
  }
  cp_client_options co;
  cp_client_options_init(&co);
  /* Its own connection: a shared one may be in reconnect backoff from an
   * earlier failure while a restarted server already listens. */
  co.dedicated_connection = true;
  if (cp_client_create(&slot->client, target, &co) != 0) {
    slot->client = NULL;
    return;
  }
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  pthread_mutex_lock(&b->mu);
  b->pending++;
  pthread_mutex_unlock(&b->mu);
  if (cp_client_unary_async(slot->client,
                            &cp_grpc__health__v1__health__check__method,
                            &req.base, &opts, on_checked, slot) != 0) {
    pthread_mutex_lock(&b->mu);
    b->pending--;
    pthread_mutex_unlock(&b->mu);
  }
}

static void probe_batch_run(const char *const *urls, size_t n,
                            cp_probe_result *results, int64_t timeout_ms) {
  probe_batch b;
  pthread_mutex_init(&b.mu, NULL);
  pthread_cond_init(&b.cv, NULL);
  b.pending = 0;
  probe_slot slots[PROBE_BATCH];
  for (size_t i = 0; i < n; i++) {
    slots[i].batch = &b;
    slots[i].client = NULL;
    slots[i].result = &results[i];
    start_one(&b, &slots[i], urls[i], timeout_ms);
  }
  /* Every started call ends by its deadline: done runs exactly once. */
  pthread_mutex_lock(&b.mu);
  while (b.pending > 0) {
    pthread_cond_wait(&b.cv, &b.mu);
  }
  pthread_mutex_unlock(&b.mu);
  for (size_t i = 0; i < n; i++) {
    cp_client_destroy(slots[i].client);
  }
  pthread_cond_destroy(&b.cv);
  pthread_mutex_destroy(&b.mu);
}

void cpi_host_probe_health(const char *const *base_urls, size_t n,
                           cp_probe_result *results, int64_t timeout_ms,
                           void *user) {
  (void)user;
  for (size_t at = 0; at < n; at += PROBE_BATCH) {
    size_t count = n - at < PROBE_BATCH ? n - at : PROBE_BATCH;
    probe_batch_run(base_urls + at, count, results + at, timeout_ms);
  }
}
