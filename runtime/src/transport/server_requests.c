/* Requested calls: each queue keeps REQUESTS_PER_METHOD calls requested per
 * method (and one for unregistered methods) so that an arriving call finds a
 * slot. A slot whose request could not be made (out of memory, or gRPC
 * refused it) is counted as lost and requested again after the queue's next
 * event; without that, a method whose slots were all lost would never be
 * served again. */
#include <stdlib.h>

#include "cplugin/log.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"
#include "transport/server_testing.h"

static void on_call_arrived(cp_tag *tag, bool ok);

static size_t method_index(const cp_server *s, const cp_registered_method *rm) {
  return rm == NULL ? s->method_count : (size_t)(rm - s->methods);
}

static void note_lost(cp_server_cq *cq, cp_registered_method *rm) {
  cp_server *s = cq->server;
  if (!atomic_load(&s->accepting)) {
    return; /* shutting down: nothing to keep serving */
  }
  atomic_fetch_add(&cq->lost[method_index(s, rm)], 1);
  atomic_fetch_add(&cq->lost_total, 1);
  if (!atomic_exchange(&s->lost_slot_warned, true)) {
    cp_log(CP_LOG_WARN,
           "a requested call was lost (out of memory); requesting it again",
           "method", rm != NULL ? rm->desc->path : "(unregistered)",
           CP_LOG_END);
  }
}

static bool request_slot(cp_server_cq *cq, cp_registered_method *rm) {
  cp_call *call = cpi_call_new(cq->server, cq, rm);
  if (call == NULL) {
    return false;
  }
  call->tag.on_done = on_call_arrived;
  grpc_call_error err;
  if (rm != NULL) {
    err = grpc_server_request_registered_call(
        cq->server->grpc, rm->grpc_handle, &call->gcall, &call->grpc_deadline,
        &call->md, NULL, cq->cq, cq->cq, &call->tag);
  } else {
    err =
        grpc_server_request_call(cq->server->grpc, &call->gcall, &call->details,
                                 &call->md, cq->cq, cq->cq, &call->tag);
  }
  if (err != GRPC_CALL_OK) {
    cpi_call_free(call);
    return false;
  }
  return true;
}

void cpi_server_request_next(cp_server_cq *cq, cp_registered_method *rm) {
  if (!request_slot(cq, rm)) {
    note_lost(cq, rm);
  }
}

void cpi_server_refill(cp_server_cq *cq) {
  if (atomic_load_explicit(&cq->lost_total, memory_order_relaxed) == 0) {
    return; /* the common case: one load per event */
  }
  cp_server *s = cq->server;
  if (!atomic_load(&s->accepting)) {
    return;
  }
  for (size_t i = 0; i <= s->method_count; i++) {
    /* Taken all at once: a request that fails again is counted again and
     * waits for the next event, so a lasting failure cannot spin here. */
    unsigned n = atomic_exchange(&cq->lost[i], 0);
    if (n == 0) {
      continue;
    }
    atomic_fetch_sub(&cq->lost_total, n);
    cp_registered_method *rm = i < s->method_count ? &s->methods[i] : NULL;
    for (unsigned k = 0; k < n; k++) {
      cpi_server_request_next(cq, rm);
    }
  }
}

size_t cpi_server_testing_lost_slots(cp_server *server) {
  size_t n = 0;
  for (size_t i = 0; i < server->cq_count; i++) {
    n += atomic_load(&server->cqs[i].lost_total);
  }
  return n;
}

static void on_call_arrived(cp_tag *tag, bool ok) {
  cp_call *call = (cp_call *)tag;
  if (!ok) {
    /* The server is shutting down: the request was never filled. */
    cpi_call_free(call);
    return;
  }
  /* Keep a request outstanding for the next call before serving this one. */
  cpi_server_request_next(call->cq, call->rm);
  if (cpi_call_prepare(call) != 0) {
    cpi_call_reply_status(call, CP_STATUS_RESOURCE_EXHAUSTED);
    return;
  }
  if (call->rm == NULL) {
    cpi_serve_unknown(call);
    return;
  }
  /* Decide from the headers before reading the request. */
  cp_status_code code = cpi_call_run_interceptors(call);
  if (code != CP_STATUS_OK) {
    cpi_call_send_final(call, code, NULL);
    return;
  }
  cpi_call_read_request(call);
}
