/* Client options checked and a client built around a channel: shared by
 * every way of creating a client (client.c, client_connection.c,
 * client_dialing.c). A leaf: it calls no other client file. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_loop.h"

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
  if (c->opts.loop != NULL) {
    cpi_client_loop_attach(c->opts.loop);
  }
  *out = c;
  return 0;
}
