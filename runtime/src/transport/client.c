/* cp_client: one channel, unary calls and the client interceptor chain. */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/trailers_internal.h"
#include "transport/client_ref.h"
#include "transport/client_stream_internal.h"
#include "transport/plaintext_warning.h"
#include "transport/tls_internal.h"

enum { DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024 };

void cp_client_options_init(cp_client_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES;
  opts->default_timeout_ms = 0;
}

void cp_call_options_init(cp_call_options *opts) {
  memset(opts, 0, sizeof *opts);
}

int cpi_client_check_options(const cp_client_options *opts,
                             cp_client_options *out) {
  if (opts != NULL) {
    *out = *opts;
  } else {
    cp_client_options_init(out);
  }
  if (out->max_message_bytes == 0 || out->max_message_bytes > INT32_MAX ||
      out->default_timeout_ms < 0 || out->max_reconnect_backoff_ms < 0 ||
      out->max_reconnect_backoff_ms > INT32_MAX) {
    return CP_EINVAL;
  }
  return 0;
}

size_t cpi_client_message_args(const cp_client_options *o, grpc_arg *args) {
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = (int)o->max_message_bytes;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = (int)o->max_message_bytes;
  return 2;
}

int cpi_client_from_channel(cp_client **out, const cp_client_options *o,
                            grpc_channel *channel) {
  cp_client *c = calloc(1, sizeof *c);
  if (c == NULL) {
    grpc_channel_destroy(channel);
    grpc_shutdown();
    return CP_ENOMEM;
  }
  c->opts = *o;
  c->opts.tls = NULL; /* the caller's struct is not kept */
  c->channel = channel;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->chains_cv, NULL);
  cpi_exec_init(&c->exec);
  atomic_init(&c->closed, false);
  atomic_init(&c->used, false);
  atomic_init(&c->refs, 1);
  *out = c;
  return 0;
}

int cp_client_create(cp_client **out, const char *target,
                     const cp_client_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  if (target == NULL || target[0] == '\0') {
    return CP_EINVAL;
  }
  cp_client_options o;
  if (cpi_client_check_options(opts, &o) != 0) {
    return CP_EINVAL;
  }
  grpc_init();
  grpc_arg args[5];
  grpc_channel_args chargs = {cpi_client_message_args(&o, args), args};
  if (o.dedicated_connection) {
    /* A subchannel pool of this channel's own: gRPC's global pool would hand
     * it the connection of any channel with the same target and settings. */
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[chargs.num_args].value.integer = 1;
    chargs.num_args++;
  }
  if (o.max_reconnect_backoff_ms > 0) {
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[chargs.num_args].value.integer = (int)o.max_reconnect_backoff_ms;
    chargs.num_args++;
  }
  grpc_channel_credentials *creds = NULL;
  int rc = 0;
  if (o.tls != NULL) {
    rc = cpi_tls_channel_credentials(o.tls, &creds);
    if (rc == 0 && o.tls->server_name != NULL) {
      /* gRPC copies channel args, so the caller's string may go away. */
      args[chargs.num_args].type = GRPC_ARG_STRING;
      args[chargs.num_args].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
      args[chargs.num_args].value.string = (char *)o.tls->server_name;
      chargs.num_args++;
    }
  } else {
    creds = grpc_insecure_credentials_create();
  }
  grpc_channel *channel = NULL;
  if (rc == 0) {
    channel = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    if (channel == NULL) {
      rc = CP_EINVAL;
    }
  }
  if (rc != 0) {
    grpc_shutdown();
    return rc;
  }
  if (o.tls == NULL) {
    cpi_plaintext_warn(CP_PLAINTEXT_CLIENT, target);
  }
  return cpi_client_from_channel(out, &o, channel);
}

void cp_client_close(cp_client *client) {
  if (client == NULL) {
    return;
  }
  /* `closed` is set under mu: an asynchronous call checks it under mu before
   * starting its batch, so none can start after this section. */
  pthread_mutex_lock(&client->mu);
  atomic_store(&client->closed, true);
  for (cp_client_stream *s = client->streams; s != NULL;
       s = cpi_client_stream_next_open(s)) {
    cp_client_stream_cancel(s);
  }
  cpi_client_async_cancel_all(client);
  pthread_mutex_unlock(&client->mu);
  cpi_exec_close(&client->exec); /* backoff timers end at once */
}

void cpi_client_retain(cp_client *client) {
  atomic_fetch_add_explicit(&client->refs, 1, memory_order_relaxed);
}

void cpi_client_release(cp_client *client) {
  if (client == NULL ||
      atomic_fetch_sub_explicit(&client->refs, 1, memory_order_acq_rel) != 1) {
    return;
  }
  cpi_client_async_stop(client);
  grpc_channel_destroy(client->channel);
  cpi_client_dialer_free(client->dialer);
  free(client->interceptors);
  cpi_exec_destroy(&client->exec);
  pthread_cond_destroy(&client->chains_cv);
  pthread_mutex_destroy(&client->mu);
  free(client);
  grpc_shutdown();
}

void cp_client_destroy(cp_client *client) {
  if (client == NULL) {
    return;
  }
  cp_client_close(client);
  cpi_client_release(client);
}

int cp_client_add_interceptor(cp_client *client, cp_client_interceptor_fn fn,
                              void *user) {
  return cp_client_add_interceptor_async(client, fn, NULL, user);
}

int cp_client_add_interceptor_async(cp_client *client,
                                    cp_client_interceptor_fn fn,
                                    cp_client_async_interceptor_fn async_fn,
                                    void *user) {
  if (client == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  if (atomic_load(&client->used)) {
    return CP_ESTATE;
  }
  size_t n = client->interceptor_count;
  cp_client_interceptor_entry *p =
      realloc(client->interceptors, (n + 1) * sizeof *p);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  p[n].fn = fn;
  p[n].async_fn = async_fn;
  p[n].user = user;
  client->interceptors = p;
  client->interceptor_count = n + 1;
  return 0;
}

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

/* --- invocations and the interceptor chain -------------------------------- */

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

int cp_invocation_await_first_message(cp_invocation *inv) {
  if (inv == NULL || inv->stream == NULL) {
    return CP_EINVAL;
  }
  int rc = cpi_client_stream_await_first(inv->stream, &inv->status);
  if (rc == CP_ERPC) {
    /* Refused before any data: the caller may proceed again. */
    cpi_invocation_keep_trailers(inv, cpi_client_stream_trailers(inv->stream));
    cp_client_stream_destroy(inv->stream);
    inv->stream = NULL;
  }
  return rc;
}

void cpi_invocation_discard_attempt(cp_invocation *inv) {
  inv->trailers = NULL;
  inv->trailer_count = 0;
  if (inv->response != NULL) {
    protobuf_c_message_free_unpacked(inv->response, NULL);
    inv->response = NULL;
  }
  if (inv->stream != NULL) {
    cp_client_stream_destroy(inv->stream);
    inv->stream = NULL;
  }
}

bool cpi_client_chain_is_async(const cp_client *client) {
  for (size_t i = 0; i < client->interceptor_count; i++) {
    if (client->interceptors[i].async_fn == NULL) {
      return false;
    }
  }
  return true;
}

int cp_invocation_proceed(cp_invocation *inv) {
  if (inv->chain != NULL) {
    /* Blocking here would hold the caller's or the callback thread. */
    cp_status_set(&inv->status, CP_STATUS_INTERNAL,
                  "blocking proceed in an asynchronous call");
    return CP_ESTATE;
  }
  cp_client *c = inv->client;
  size_t i = inv->depth;
  if (i < c->interceptor_count) {
    inv->depth = i + 1;
    int rc = c->interceptors[i].fn(inv, c->interceptors[i].user);
    inv->depth = i;
    return rc;
  }
  cpi_invocation_discard_attempt(inv);
  if (atomic_load(&c->closed)) {
    cp_status_set(&inv->status, CP_STATUS_CANCELLED, "client is closed");
    return CP_ECLOSED;
  }
  switch (inv->method->kind) {
    case CP_METHOD_UNARY:
      return cpi_transport_unary(inv);
    case CP_METHOD_SERVER_STREAMING:
      return cpi_transport_stream_start(inv);
    case CP_METHOD_CLIENT_STREAMING:
    case CP_METHOD_BIDI_STREAMING:
      return cpi_transport_duplex_open(inv);
  }
  cp_status_set(&inv->status, CP_STATUS_INTERNAL, "unknown method kind");
  return CP_EINVAL;
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

int cp_client_unary(cp_client *client, const cp_method_desc *method,
                    const ProtobufCMessage *req, ProtobufCMessage **resp,
                    const cp_call_options *opts, cp_status *status) {
  if (resp == NULL) {
    if (status != NULL) {
      cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "resp is NULL");
    }
    return CP_EINVAL;
  }
  *resp = NULL;
  int rc = cpi_client_check_call_args(client, method, req, CP_METHOD_UNARY,
                                      opts, status);
  if (rc != 0) {
    return rc;
  }
  cp_invocation inv;
  rc = cpi_invocation_init(&inv, client, method, req, opts);
  if (rc == 0) {
    rc = cp_invocation_proceed(&inv);
  } else {
    cp_status_set(&inv.status, CP_STATUS_INVALID_ARGUMENT,
                  "invalid call metadata");
  }
  *status = inv.status;
  if (rc == 0 && inv.response != NULL && status->code == CP_STATUS_OK) {
    *resp = inv.response;
    inv.response = NULL;
  } else if (rc == 0) {
    /* An interceptor reported success without a response. */
    cp_status_set(status, CP_STATUS_INTERNAL, "no response");
    rc = CP_ERPC;
  }
  cpi_invocation_discard_attempt(&inv);
  cpi_arena_release(&inv.arena);
  return rc;
}

/* Starts a stream of `kind` (its request NULL for client-streaming and
 * bidirectional methods) through the interceptor chain. */
static int open_stream(cp_client *client, const cp_method_desc *method,
                       const ProtobufCMessage *req, cp_method_kind kind,
                       const cp_call_options *opts, cp_client_stream **out,
                       cp_status *status) {
  if (out == NULL) {
    if (status != NULL) {
      cp_status_set(status, CP_STATUS_INVALID_ARGUMENT, "out is NULL");
    }
    return CP_EINVAL;
  }
  *out = NULL;
  int rc = cpi_client_check_call_args(client, method, req, kind, opts, status);
  if (rc != 0) {
    return rc;
  }
  cp_invocation inv;
  rc = cpi_invocation_init(&inv, client, method, req, opts);
  if (rc == 0) {
    rc = cp_invocation_proceed(&inv);
  } else {
    cp_status_set(&inv.status, CP_STATUS_INVALID_ARGUMENT,
                  "invalid call metadata");
  }
  *status = inv.status;
  if (rc == 0 && inv.stream != NULL) {
    *out = inv.stream;
    inv.stream = NULL;
  } else if (rc == 0) {
    cp_status_set(status, CP_STATUS_INTERNAL, "no stream");
    rc = CP_ERPC;
  }
  cpi_invocation_discard_attempt(&inv);
  cpi_arena_release(&inv.arena);
  return rc;
}

int cp_client_stream_start(cp_client *client, const cp_method_desc *method,
                           const ProtobufCMessage *req,
                           const cp_call_options *opts, cp_client_stream **out,
                           cp_status *status) {
  return open_stream(client, method, req, CP_METHOD_SERVER_STREAMING, opts, out,
                     status);
}

int cp_client_stream_open(cp_client *client, const cp_method_desc *method,
                          const cp_call_options *opts, cp_client_stream **out,
                          cp_status *status) {
  /* Either duplex kind; anything else fails the kind check below. */
  cp_method_kind kind = CP_METHOD_CLIENT_STREAMING;
  if (method != NULL && method->kind == CP_METHOD_BIDI_STREAMING) {
    kind = CP_METHOD_BIDI_STREAMING;
  }
  return open_stream(client, method, NULL, kind, opts, out, status);
}
