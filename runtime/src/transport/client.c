/* cp_client: the facade. Creating, closing and destroying a client, its
 * interceptor chain, and the blocking calls run through that chain down to
 * a transport attempt of each call kind. */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdlib.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_loop.h"
#include "transport/client_ref.h"
#include "transport/client_stream_internal.h"
#include "transport/plaintext_warning.h"
#include "transport/tls_internal.h"

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
  cp_client_loop *loop = client->opts.loop;
  free(client);
  if (loop != NULL) {
    cpi_client_loop_detach(loop); /* last: the loop may go now */
  }
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
  cpi_invocation_discard_response(inv);
  if (inv->stream != NULL) {
    cp_client_stream_destroy(inv->stream);
    inv->stream = NULL;
  }
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
