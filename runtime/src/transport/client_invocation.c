/* What every client call kind shares, below all of them: its arguments
 * checked, its invocation prepared (deadline, metadata, trailers), and gRPC's
 * deadline and status converted. A leaf: it calls no other client file. */
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/trailers_internal.h"

gpr_timespec cpi_grpc_deadline(int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) {
    return gpr_inf_future(GPR_CLOCK_REALTIME);
  }
  int64_t left_ns = deadline_ns - cpi_clock_monotonic_ns();
  if (left_ns < 0) {
    left_ns = 0;
  }
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(left_ns, GPR_TIMESPAN));
}

void cpi_status_from_grpc(cp_status *st, grpc_status_code code,
                          grpc_slice details) {
  size_t len = GRPC_SLICE_LENGTH(details);
  if (len >= sizeof st->message) {
    len = sizeof st->message - 1;
  }
  memcpy(st->message, GRPC_SLICE_START_PTR(details), len);
  st->message[len] = '\0';
  st->code = ((int)code >= 0 && (int)code < CP_STATUS_CODE_COUNT)
                 ? (cp_status_code)code
                 : CP_STATUS_UNKNOWN;
}

static bool valid_key(const char *key) {
  if (key == NULL || key[0] == '\0') {
    return false;
  }
  for (const char *p = key; *p != '\0'; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
          ch == '_' || ch == '.')) {
      return false;
    }
  }
  return true;
}

int cp_invocation_add_metadata(cp_invocation *inv, const char *key,
                               const char *value) {
  if (inv == NULL || !valid_key(key) || value == NULL) {
    return CP_EINVAL;
  }
  if (inv->metadata_count == inv->metadata_cap) {
    size_t cap = inv->metadata_cap == 0 ? 8 : inv->metadata_cap * 2;
    grpc_metadata *md = cpi_arena_alloc(&inv->arena, cap * sizeof *md);
    if (md == NULL) {
      return CP_ENOMEM;
    }
    if (inv->metadata_count > 0) {
      memcpy(md, inv->metadata, inv->metadata_count * sizeof *md);
    }
    inv->metadata = md;
    inv->metadata_cap = cap;
  }
  char *k = cpi_arena_strndup(&inv->arena, key, strlen(key));
  char *v = cpi_arena_strndup(&inv->arena, value, strlen(value));
  if (k == NULL || v == NULL) {
    return CP_ENOMEM;
  }
  grpc_metadata *m = &inv->metadata[inv->metadata_count++];
  memset(m, 0, sizeof *m);
  m->key = grpc_slice_from_static_string(k);
  m->value = grpc_slice_from_static_string(v);
  return 0;
}

const cp_method_desc *cp_invocation_method(const cp_invocation *inv) {
  return inv->method;
}

const cp_status *cp_invocation_status(const cp_invocation *inv) {
  return &inv->status;
}

int cp_invocation_fail(cp_invocation *inv, cp_status_code code,
                       const char *message) {
  cp_status_set(&inv->status, code, "%s", message != NULL ? message : "");
  return code == CP_STATUS_OK ? 0 : CP_ERPC;
}

int64_t cp_invocation_deadline_ns(const cp_invocation *inv) {
  return inv->deadline_ns;
}

void cpi_invocation_keep_trailers(cp_invocation *inv,
                                  const grpc_metadata_array *md) {
  inv->trailers = NULL;
  inv->trailer_count = 0;
  if (md->count == 0) {
    return;
  }
  cp_metadata *out = cpi_arena_alloc(&inv->arena, md->count * sizeof *out);
  if (out == NULL) {
    return;
  }
  inv->trailers = out;
  for (size_t i = 0; i < md->count; i++) {
    const grpc_slice *k = &md->metadata[i].key;
    const grpc_slice *v = &md->metadata[i].value;
    size_t klen = GRPC_SLICE_LENGTH(*k);
    if (klen > 4 &&
        memcmp(GRPC_SLICE_START_PTR(*k) + klen - 4, "-bin", 4) == 0) {
      continue;
    }
    char *key = cpi_arena_strndup(&inv->arena,
                                  (const char *)GRPC_SLICE_START_PTR(*k), klen);
    char *value =
        cpi_arena_strndup(&inv->arena, (const char *)GRPC_SLICE_START_PTR(*v),
                          GRPC_SLICE_LENGTH(*v));
    if (key == NULL || value == NULL) {
      return;
    }
    out[inv->trailer_count].key = key;
    out[inv->trailer_count].value = value;
    inv->trailer_count++;
  }
}

const char *cp_invocation_trailer(const cp_invocation *inv, const char *key) {
  if (inv == NULL || key == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < inv->trailer_count; i++) {
    if (strcmp(inv->trailers[i].key, key) == 0) {
      return inv->trailers[i].value;
    }
  }
  return NULL;
}

int cpi_invocation_init(cp_invocation *inv, cp_client *client,
                        const cp_method_desc *method,
                        const ProtobufCMessage *req,
                        const cp_call_options *opts) {
  memset(inv, 0, sizeof *inv);
  cpi_arena_init(&inv->arena);
  inv->client = client;
  inv->method = method;
  inv->request = req;
  int64_t timeout_ms = client->opts.default_timeout_ms;
  if (opts != NULL && opts->timeout_ms > 0) {
    timeout_ms = opts->timeout_ms;
  }
  inv->deadline_ns =
      cpi_deadline_after_ms(cpi_clock_monotonic_ns(), timeout_ms);
  cp_status_clear(&inv->status);
  if (opts != NULL && opts->trailers != NULL) {
    inv->out_trailers = opts->trailers;
    cpi_trailers_clear(inv->out_trailers);
  }
  if (opts != NULL) {
    for (size_t i = 0; i < opts->metadata_count; i++) {
      int rc = cp_invocation_add_metadata(inv, opts->metadata[i].key,
                                          opts->metadata[i].value);
      if (rc != 0) {
        return rc;
      }
    }
  }
  return 0;
}

int cpi_client_check_call_args(cp_client *client, const cp_method_desc *method,
                               const ProtobufCMessage *req, cp_method_kind kind,
                               const cp_call_options *opts, cp_status *status) {
  if (status == NULL) {
    return CP_EINVAL;
  }
  cp_status_clear(status);
  /* Client-streaming and bidirectional calls start without a request. */
  bool no_request =
      kind == CP_METHOD_CLIENT_STREAMING || kind == CP_METHOD_BIDI_STREAMING;
  bool request_ok = no_request ? req == NULL
                               : req != NULL && method != NULL &&
                                     req->descriptor == method->request_type;
  if (client == NULL || method == NULL || method->kind != kind || !request_ok ||
      method->path == NULL || method->request_type == NULL ||
      method->response_type == NULL ||
      (opts != NULL && (opts->timeout_ms < 0 || (opts->metadata_count > 0 &&
                                                 opts->metadata == NULL)))) {
    cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "invalid call arguments");
    return CP_EINVAL;
  }
  if (atomic_load(&client->closed)) {
    cp_status_set(status, CP_STATUS_CANCELLED, "client is closed");
    return CP_ECLOSED;
  }
  atomic_store(&client->used, true);
  return 0;
}

bool cpi_client_chain_is_async(const cp_client *client) {
  for (size_t i = 0; i < client->interceptor_count; i++) {
    if (client->interceptors[i].async_fn == NULL) {
      return false;
    }
  }
  return true;
}

void cpi_invocation_discard_response(cp_invocation *inv) {
  inv->trailers = NULL;
  inv->trailer_count = 0;
  if (inv->response != NULL) {
    protobuf_c_message_free_unpacked(inv->response, NULL);
    inv->response = NULL;
  }
}

int cpi_client_live_enter(cp_client *client) {
  /* Counted under mu after checking `closed`: once close returned and the
   * count fell to 0, none can appear. */
  int rc = 0;
  pthread_mutex_lock(&client->mu);
  if (atomic_load(&client->closed)) {
    rc = CP_ECLOSED;
  } else {
    client->chains_live++;
  }
  pthread_mutex_unlock(&client->mu);
  return rc;
}

void cpi_client_live_leave(cp_client *client) {
  pthread_mutex_lock(&client->mu);
  if (--client->chains_live == 0) {
    pthread_cond_broadcast(&client->chains_cv);
  }
  pthread_mutex_unlock(&client->mu);
}
