/* cp_server_invoke_detached: the server's unary path on bytes from a
 * buffer instead of a socket, so that fuzzers reach every host handler
 * through the same interceptors, decode budget and size caps as a peer. */
#include "transport/detached_call.h"

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <string.h>

#include "core/clock.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

static cp_registered_method *unary_method(cp_server *s, const char *path) {
  for (size_t i = 0; i < s->method_count; i++) {
    cp_registered_method *rm = &s->methods[i];
    if (rm->desc->kind == CP_METHOD_UNARY &&
        strcmp(rm->desc->path, path) == 0) {
      return rm;
    }
  }
  return NULL;
}

static bool set_metadata(cp_call *call, const cp_metadata *md, size_t n) {
  if (n == 0) {
    return true;
  }
  call->md.metadata = gpr_malloc(n * sizeof *call->md.metadata);
  if (call->md.metadata == NULL) {
    return false;
  }
  memset(call->md.metadata, 0, n * sizeof *call->md.metadata);
  call->md.capacity = n;
  for (size_t i = 0; i < n; i++) {
    call->md.metadata[i].key = grpc_slice_from_copied_string(md[i].key);
    call->md.metadata[i].value = grpc_slice_from_copied_string(md[i].value);
    call->md.count++;
  }
  return true;
}

static void drop_metadata(cp_call *call) {
  for (size_t i = 0; i < call->md.count; i++) {
    grpc_slice_unref(call->md.metadata[i].key);
    grpc_slice_unref(call->md.metadata[i].value);
  }
  call->md.count = 0;
}

cp_status_code cp_server_invoke_detached(cp_server *server, const char *path,
                                         const char *peer,
                                         const cp_metadata *md, size_t md_count,
                                         const uint8_t *request, size_t len,
                                         size_t *response_bytes) {
  if (response_bytes != NULL) {
    *response_bytes = 0;
  }
  cp_registered_method *rm =
      server != NULL && path != NULL ? unary_method(server, path) : NULL;
  if (rm == NULL) {
    return CP_STATUS_UNIMPLEMENTED;
  }
  cp_call *call = cp_call_new(server, NULL, rm);
  if (call == NULL) {
    return CP_STATUS_RESOURCE_EXHAUSTED;
  }
  call->start_ns = cp_clock_monotonic_ns();
  call->deadline_ns = CP_DEADLINE_NONE;
  call->path = rm->desc->path;
  call->peer = cp_arena_strndup(&call->arena, peer != NULL ? peer : "",
                                peer != NULL ? strlen(peer) : 0);
  cp_status_code code = CP_STATUS_RESOURCE_EXHAUSTED;
  if (call->peer != NULL && set_metadata(call, md, md_count)) {
    code = cp_call_run_interceptors(call);
  }
  if (code == CP_STATUS_OK) {
    grpc_slice bytes =
        grpc_slice_from_copied_buffer((const char *)request, len);
    call->payload = grpc_raw_byte_buffer_create(&bytes, 1);
    grpc_slice_unref(bytes);
    grpc_byte_buffer *resp = NULL;
    code = cp_call_run_unary(call, &resp);
    cp_call_release_request(call);
    if (resp != NULL) {
      if (response_bytes != NULL) {
        *response_bytes = grpc_byte_buffer_length(resp);
      }
      grpc_byte_buffer_destroy(resp);
    }
  }
  cp_call_run_post_hooks(call, code);
  drop_metadata(call);
  cp_call_free(call);
  return code;
}
