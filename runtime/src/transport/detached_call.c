/* Detached calls: the server's unary and server-streaming paths on bytes
 * from a buffer instead of a socket, so that fuzzers reach every host
 * handler through the same interceptors, decode budget and size caps as a
 * peer. */
#include "transport/detached_call.h"

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <string.h>

#include "core/clock.h"
#include "transport/server_internal.h"
#include "transport/server_reply.h"

static cp_registered_method *find_method(cp_server *s, const char *path,
                                         cp_method_kind kind) {
  for (size_t i = 0; s != NULL && path != NULL && i < s->method_count; i++) {
    cp_registered_method *rm = &s->methods[i];
    if (rm->desc->kind == kind && strcmp(rm->desc->path, path) == 0) {
      return rm;
    }
  }
  return NULL;
}

/* Copies of the metadata, released by cpi_call_free (call->detached). */
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

/* A call of `rm` as it arrives from `peer` with `md`: its interceptors run
 * and, when they let it through, the request bytes become its payload.
 * *code says which (OK or the refusal). NULL when out of memory. */
static cp_call *arrive(cp_server *server, cp_registered_method *rm,
                       const char *peer, const cp_metadata *md, size_t md_count,
                       const uint8_t *request, size_t len,
                       cp_status_code *code) {
  cp_call *call = cpi_call_new(server, NULL, rm);
  if (call == NULL) {
    return NULL;
  }
  call->detached = true;
  call->start_ns = cpi_clock_monotonic_ns();
  call->deadline_ns = CP_DEADLINE_NONE;
  call->path = rm->desc->path;
  call->peer = cpi_arena_strndup(&call->arena, peer != NULL ? peer : "",
                                 peer != NULL ? strlen(peer) : 0);
  *code = CP_STATUS_RESOURCE_EXHAUSTED;
  if (call->peer != NULL && set_metadata(call, md, md_count)) {
    *code = cpi_call_run_interceptors(call);
  }
  if (*code == CP_STATUS_OK) {
    grpc_slice bytes =
        grpc_slice_from_copied_buffer((const char *)request, len);
    call->payload = grpc_raw_byte_buffer_create(&bytes, 1);
    grpc_slice_unref(bytes);
  }
  return call;
}

cp_status_code cpi_server_invoke_detached(cp_server *server, const char *path,
                                          const char *peer,
                                          const cp_metadata *md,
                                          size_t md_count,
                                          const uint8_t *request, size_t len,
                                          size_t *response_bytes) {
  if (response_bytes != NULL) {
    *response_bytes = 0;
  }
  cp_registered_method *rm = find_method(server, path, CP_METHOD_UNARY);
  if (rm == NULL) {
    return CP_STATUS_UNIMPLEMENTED;
  }
  cp_status_code code;
  cp_call *call = arrive(server, rm, peer, md, md_count, request, len, &code);
  if (call == NULL) {
    return CP_STATUS_RESOURCE_EXHAUSTED;
  }
  if (code == CP_STATUS_OK) {
    grpc_byte_buffer *resp = NULL;
    code = cpi_call_run_unary(call, &resp);
    cpi_call_release_request(call);
    if (resp != NULL) {
      if (response_bytes != NULL) {
        *response_bytes = grpc_byte_buffer_length(resp);
      }
      grpc_byte_buffer_destroy(resp);
    }
  }
  cpi_call_run_post_hooks(call, code);
  cpi_call_free(call);
  return code;
}

cp_status_code cpi_server_open_detached_stream(
    cp_server *server, const char *path, const char *peer,
    const cp_metadata *md, size_t md_count, const uint8_t *request, size_t len,
    cp_detached_stream **out) {
  *out = NULL;
  cp_registered_method *rm =
      find_method(server, path, CP_METHOD_SERVER_STREAMING);
  if (rm == NULL) {
    return CP_STATUS_UNIMPLEMENTED;
  }
  cp_status_code code;
  cp_call *call = arrive(server, rm, peer, md, md_count, request, len, &code);
  if (call == NULL) {
    return CP_STATUS_RESOURCE_EXHAUSTED;
  }
  cp_stream *s =
      code == CP_STATUS_OK ? cpi_serve_stream_detached(call, &code) : NULL;
  if (s == NULL) {
    cpi_call_run_post_hooks(call, code);
    cpi_call_free(call);
    return code;
  }
  *out = (cp_detached_stream *)s;
  return code;
}

size_t cpi_detached_stream_written(cp_detached_stream *stream, bool *ended,
                                   cp_status_code *code) {
  return cpi_stream_detached_written((cp_stream *)stream, ended, code);
}

void cpi_detached_stream_close(cp_detached_stream *stream) {
  if (stream != NULL) {
    cpi_stream_detached_close((cp_stream *)stream);
  }
}
