/* cp_call: the server side of one call — accessors, per-call memory, the
 * authentication context, interceptors and post-call hooks. */
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"
#include "transport/server_testing.h"

/* cpi_server_testing_fail_call_allocs: allocations left to fail. */
static atomic_int fail_allocs;

void cpi_server_testing_fail_call_allocs(int n) {
  atomic_store(&fail_allocs, n > 0 ? n : 0);
}

static bool fail_this_alloc(void) {
  int n = atomic_load_explicit(&fail_allocs, memory_order_relaxed);
  while (n > 0) {
    if (atomic_compare_exchange_weak(&fail_allocs, &n, n - 1)) {
      return true;
    }
  }
  return false;
}

cp_call *cpi_call_new(cp_server *server, cp_server_cq *cq,
                      cp_registered_method *rm) {
  cp_call *call = fail_this_alloc() ? NULL : calloc(1, sizeof *call);
  if (call == NULL) {
    return NULL;
  }
  call->server = server;
  call->cq = cq;
  call->rm = rm;
  grpc_metadata_array_init(&call->md);
  grpc_call_details_init(&call->details);
  atomic_init(&call->cancelled, false);
  cpi_arena_init(&call->arena);
  cp_status_clear(&call->status);
  return call;
}

void cpi_call_free(cp_call *call) {
  if (call == NULL) {
    return;
  }
  if (call->payload != NULL) {
    grpc_byte_buffer_destroy(call->payload);
  }
  cpi_call_release_request(call);
  if (call->detached) {
    for (size_t i = 0; i < call->md.count; i++) {
      grpc_slice_unref(call->md.metadata[i].key);
      grpc_slice_unref(call->md.metadata[i].value);
    }
  }
  grpc_metadata_array_destroy(&call->md);
  grpc_call_details_destroy(&call->details);
  if (call->gcall != NULL) {
    grpc_call_unref(call->gcall);
  }
  cpi_arena_release(&call->arena);
  free(call);
}

static int64_t deadline_to_monotonic_ns(gpr_timespec deadline) {
  if (deadline.tv_sec == INT64_MAX) {
    return CP_DEADLINE_NONE;
  }
  /* gRPC's clocks do not share CLOCK_MONOTONIC's epoch: convert through the
   * time remaining. */
  gpr_timespec now = gpr_now(deadline.clock_type);
  gpr_timespec left = gpr_time_sub(deadline, now);
  int64_t left_ns = left.tv_sec * 1000000000 + left.tv_nsec;
  return cpi_clock_monotonic_ns() + left_ns;
}

int cpi_call_prepare(cp_call *call) {
  call->start_ns = cpi_clock_monotonic_ns();
  if (call->rm != NULL) {
    call->path = call->rm->desc->path;
    call->deadline_ns = deadline_to_monotonic_ns(call->grpc_deadline);
  } else {
    call->path = cpi_arena_strndup(
        &call->arena, (const char *)GRPC_SLICE_START_PTR(call->details.method),
        GRPC_SLICE_LENGTH(call->details.method));
    call->deadline_ns = deadline_to_monotonic_ns(call->details.deadline);
  }
  char *peer = grpc_call_get_peer(call->gcall);
  if (peer != NULL) {
    call->peer = cpi_arena_strndup(&call->arena, peer, strlen(peer));
    gpr_free(peer);
  }
  if (call->path == NULL) {
    return CP_ENOMEM;
  }
  if (call->peer == NULL) {
    call->peer = "";
  }
  call->peer =
      cpi_server_connection_peer(call->server, call->peer, &call->arena);
  return 0;
}

cp_status_code cpi_call_run_interceptors(cp_call *call) {
  const cp_server *s = call->server;
  for (size_t i = 0; i < s->interceptor_count; i++) {
    cp_status_code code = s->interceptors[i].fn(call, s->interceptors[i].user);
    if (code != CP_STATUS_OK) {
      if (code < CP_STATUS_OK || code >= CP_STATUS_CODE_COUNT) {
        /* An interceptor returned something that is not a status. */
        return cp_call_error(call, CP_STATUS_INTERNAL,
                             "interceptor returned an invalid status");
      }
      call->status.code = code;
      return code;
    }
  }
  return CP_STATUS_OK;
}

cp_status_code cpi_call_final_code(const cp_call *call, cp_status_code sent,
                                   bool batch_ok) {
  if (batch_ok && !call->close_cancelled) {
    return sent;
  }
  if (call->deadline_ns != CP_DEADLINE_NONE &&
      cpi_clock_monotonic_ns() >= call->deadline_ns) {
    return CP_STATUS_DEADLINE_EXCEEDED;
  }
  return CP_STATUS_CANCELLED;
}

void cpi_call_run_post_hooks(cp_call *call, cp_status_code code) {
  const cp_server *s = call->server;
  if (s->post_hook_count == 0) {
    return;
  }
  int64_t duration = cpi_clock_monotonic_ns() - call->start_ns;
  for (size_t i = 0; i < s->post_hook_count; i++) {
    s->post_hooks[i].fn(call, code, duration, s->post_hooks[i].user);
  }
}

/* --- public accessors ----------------------------------------------------- */

const cp_method_desc *cp_call_method(const cp_call *call) {
  return call->rm != NULL ? call->rm->desc : NULL;
}

const char *cp_call_path(const cp_call *call) {
  return call->path;
}

const char *cp_call_peer(const cp_call *call) {
  return call->peer;
}

int64_t cp_call_deadline_ns(const cp_call *call) {
  return call->deadline_ns;
}

bool cp_call_is_cancelled(const cp_call *call) {
  if (atomic_load_explicit(&call->cancelled, memory_order_acquire) ||
      atomic_load_explicit(&call->server->cancelling, memory_order_acquire)) {
    return true;
  }
  return call->deadline_ns != CP_DEADLINE_NONE &&
         cpi_clock_monotonic_ns() >= call->deadline_ns;
}

static bool slice_equals(grpc_slice s, const char *str, size_t len) {
  return GRPC_SLICE_LENGTH(s) == len &&
         memcmp(GRPC_SLICE_START_PTR(s), str, len) == 0;
}

bool cp_call_metadata(const cp_call *call, const char *key, cp_str *value) {
  size_t key_len = strlen(key);
  for (size_t i = 0; i < call->md.count; i++) {
    const grpc_metadata *m = &call->md.metadata[i];
    if (slice_equals(m->key, key, key_len)) {
      value->ptr = (const char *)GRPC_SLICE_START_PTR(m->value);
      value->len = GRPC_SLICE_LENGTH(m->value);
      return true;
    }
  }
  return false;
}

size_t cp_call_metadata_count(const cp_call *call) {
  return call->md.count;
}

void cp_call_metadata_at(const cp_call *call, size_t index, cp_str *key,
                         cp_str *value) {
  const grpc_metadata *m = &call->md.metadata[index];
  key->ptr = (const char *)GRPC_SLICE_START_PTR(m->key);
  key->len = GRPC_SLICE_LENGTH(m->key);
  value->ptr = (const char *)GRPC_SLICE_START_PTR(m->value);
  value->len = GRPC_SLICE_LENGTH(m->value);
}

void *cp_call_alloc(cp_call *call, size_t size) {
  return cpi_arena_alloc(&call->arena, size);
}

char *cp_call_strdup(cp_call *call, const char *s) {
  return s == NULL ? NULL : cpi_arena_strndup(&call->arena, s, strlen(s));
}

cp_status_code cp_call_error(cp_call *call, cp_status_code code,
                             const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cp_status_vset(&call->status, code, fmt, ap);
  va_end(ap);
  return code;
}

static bool valid_metadata_key(const char *key) {
  if (key[0] == '\0') {
    return false;
  }
  for (const char *p = key; *p != '\0'; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

int cpi_call_add_trailer_bytes(cp_call *call, const char *key, size_t key_len,
                               const void *value, size_t value_len) {
  enum { KEY_MAX = 127 };
  char k[KEY_MAX + 1];
  if (call == NULL || key == NULL || (value == NULL && value_len > 0) ||
      key_len == 0 || key_len > KEY_MAX) {
    return CP_EINVAL;
  }
  memcpy(k, key, key_len);
  k[key_len] = '\0';
  if (memchr(key, '\0', key_len) != NULL || !valid_metadata_key(k) ||
      strncmp(k, "grpc-", 5) == 0) {
    return CP_EINVAL;
  }
  if (call->trailer_count == call->trailer_cap) {
    size_t cap = call->trailer_cap == 0 ? 4 : call->trailer_cap * 2;
    grpc_metadata *t = cpi_arena_alloc(&call->arena, cap * sizeof *t);
    if (t == NULL) {
      return CP_ENOMEM;
    }
    if (call->trailer_count > 0) {
      memcpy(t, call->trailers, call->trailer_count * sizeof *t);
    }
    call->trailers = t;
    call->trailer_cap = cap;
  }
  char *kc = cp_call_strdup(call, k);
  char *vc = cp_call_alloc(call, value_len + 1);
  if (kc == NULL || vc == NULL) {
    return CP_ENOMEM;
  }
  if (value_len > 0) {
    memcpy(vc, value, value_len);
  }
  grpc_metadata *m = &call->trailers[call->trailer_count++];
  m->key = grpc_slice_from_static_string(kc);
  m->value = grpc_slice_from_static_buffer(vc, value_len);
  return 0;
}

int cp_call_add_trailer(cp_call *call, const char *key, const char *value) {
  if (key == NULL || value == NULL) {
    return CP_EINVAL;
  }
  return cpi_call_add_trailer_bytes(call, key, strlen(key), value,
                                    strlen(value));
}

int cp_call_set_identity(cp_call *call, const char *provider,
                         const char *identity) {
  if (call == NULL || identity == NULL) {
    return CP_EINVAL;
  }
  const char *id = cp_call_strdup(call, identity);
  const char *prov = cp_call_strdup(call, provider != NULL ? provider : "");
  if (id == NULL || prov == NULL) {
    return CP_ENOMEM;
  }
  call->identity = id;
  call->identity_provider = prov;
  return 0;
}

const char *cp_call_identity(const cp_call *call, const char **provider) {
  if (provider != NULL) {
    *provider = call->identity_provider;
  }
  return call->identity;
}

int cp_call_add_claim(cp_call *call, const char *key, const char *value) {
  if (call == NULL || key == NULL || value == NULL) {
    return CP_EINVAL;
  }
  if (call->claim_count == CP_CALL_MAX_CLAIMS) {
    return CP_EAGAIN;
  }
  const char *k = cp_call_strdup(call, key);
  const char *v = cp_call_strdup(call, value);
  if (k == NULL || v == NULL) {
    return CP_ENOMEM;
  }
  call->claim_keys[call->claim_count] = k;
  call->claim_values[call->claim_count] = v;
  call->claim_count++;
  return 0;
}

const char *cp_call_claim(const cp_call *call, const char *key) {
  for (size_t i = 0; i < call->claim_count; i++) {
    if (strcmp(call->claim_keys[i], key) == 0) {
      return call->claim_values[i];
    }
  }
  return NULL;
}
