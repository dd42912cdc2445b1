/* Asynchronous unary calls: one batch per call on the client's own
 * completion queue, whose thread decodes the response and runs the caller's
 * callback.
 *
 * Exactly-once delivery rests on two rules. A call is linked into the
 * client's in-flight list and its batch started under client->mu, after
 * checking `closed` (which cp_client_close sets under the same mutex), so a
 * batch either starts before close — and is then in the list close cancels —
 * or not at all. And gRPC completes every started batch exactly once, also
 * when cancelled or when the queue shuts down, so each callback runs exactly
 * once and the queue's thread sees GRPC_QUEUE_SHUTDOWN only after the last
 * of them. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/codec.h"
#include "transport/tag.h"

struct cp_async_call {
  cp_tag tag; /* first: the queue hands back &call->tag */
  cp_client *client;
  cp_async_call *prev;
  cp_async_call *next;
  cp_invocation inv; /* method, metadata (in its arena), deadline */
  grpc_call *gcall;
  grpc_byte_buffer *request;
  grpc_byte_buffer *response;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code code;
  grpc_slice details;
  cp_unary_done_fn done;
  void *user;
};

static void *async_thread_main(void *arg) {
  grpc_completion_queue *cq = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      break;
    }
    if (ev.type == GRPC_OP_COMPLETE) {
      cp_tag *tag = ev.tag;
      tag->on_done(tag, ev.success != 0);
    }
  }
  return NULL;
}

/* Creates the queue and its thread on first use (client->mu held). */
static int ensure_started(cp_client *c) {
  if (c->async_started) {
    return 0;
  }
  c->async_cq = grpc_completion_queue_create_for_next(NULL);
  if (c->async_cq == NULL) {
    return CP_ENOMEM;
  }
  if (pthread_create(&c->async_thread, NULL, async_thread_main, c->async_cq) !=
      0) {
    grpc_completion_queue_shutdown(c->async_cq);
    grpc_completion_queue_destroy(c->async_cq);
    c->async_cq = NULL;
    return CP_ESYS;
  }
  c->async_started = true;
  return 0;
}

static void link_call(cp_client *c, cp_async_call *a) {
  a->next = c->async_calls;
  if (c->async_calls != NULL) {
    c->async_calls->prev = a;
  }
  c->async_calls = a;
}

static void unlink_call(cp_client *c, cp_async_call *a) {
  if (a->prev != NULL) {
    a->prev->next = a->next;
  } else {
    c->async_calls = a->next;
  }
  if (a->next != NULL) {
    a->next->prev = a->prev;
  }
  a->prev = NULL;
  a->next = NULL;
}

static void free_call(cp_async_call *a) {
  if (a->gcall != NULL) {
    grpc_call_unref(a->gcall);
  }
  if (a->request != NULL) {
    grpc_byte_buffer_destroy(a->request);
  }
  if (a->response != NULL) {
    grpc_byte_buffer_destroy(a->response);
  }
  grpc_metadata_array_destroy(&a->initial_md);
  grpc_metadata_array_destroy(&a->trailing_md);
  grpc_slice_unref(a->details);
  cp_arena_release(&a->inv.arena);
  free(a);
}

/* The batch completed (on the client's thread): decode, report, free. */
static void on_complete(cp_tag *tag, bool ok) {
  cp_async_call *a = (cp_async_call *)tag;
  cp_client *c = a->client;
  pthread_mutex_lock(&c->mu);
  unlink_call(c, a);
  pthread_mutex_unlock(&c->mu);

  cp_status status;
  ProtobufCMessage *resp = NULL;
  if (!ok) {
    /* A unary batch that includes RECV_STATUS always succeeds; keep the
     * contract even if gRPC ever says otherwise. */
    cp_status_set(&status, CP_STATUS_INTERNAL, "call batch failed");
  } else {
    cp_status_from_grpc(&status, a->code, a->details);
  }
  if (status.code == CP_STATUS_CANCELLED && atomic_load(&c->closed)) {
    cp_status_set(&status, CP_STATUS_CANCELLED, "client is closed");
  }
  if (status.code == CP_STATUS_OK &&
      (a->response == NULL ||
       cp_codec_decode(a->response, a->inv.method->response_type, NULL,
                       &resp) != 0)) {
    resp = NULL;
    cp_status_set(&status, CP_STATUS_INTERNAL, "response does not decode as %s",
                  a->inv.method->response_type->name);
  }
  cp_unary_done_fn done = a->done;
  void *user = a->user;
  free_call(a); /* before the callback: it may start the next call */
  done(&status, resp, user);
}

static cp_async_call *new_call(cp_client *c, cp_unary_done_fn done,
                               void *user) {
  cp_async_call *a = calloc(1, sizeof *a);
  if (a == NULL) {
    return NULL;
  }
  a->tag.on_done = on_complete;
  a->client = c;
  a->done = done;
  a->user = user;
  a->details = grpc_empty_slice();
  a->code = GRPC_STATUS_UNKNOWN;
  grpc_metadata_array_init(&a->initial_md);
  grpc_metadata_array_init(&a->trailing_md);
  return a;
}

/* Creates the gRPC call and starts its one batch (client->mu held). */
static int start_batch(cp_client *c, cp_async_call *a) {
  grpc_slice path = grpc_slice_from_static_string(a->inv.method->path);
  a->gcall = grpc_channel_create_call(
      c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->async_cq, path, NULL,
      cp_grpc_deadline(a->inv.deadline_ns), NULL);
  if (a->gcall == NULL) {
    return CP_ENOMEM;
  }
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = a->inv.metadata_count;
  ops[0].data.send_initial_metadata.metadata = a->inv.metadata;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = a->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &a->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &a->response;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &a->code;
  ops[5].data.recv_status_on_client.status_details = &a->details;
  ops[5].data.recv_status_on_client.trailing_metadata = &a->trailing_md;
  if (grpc_call_start_batch(a->gcall, ops, 6, &a->tag, NULL) != GRPC_CALL_OK) {
    return CP_ESYS;
  }
  return 0;
}

int cp_client_unary_async(cp_client *client, const cp_method_desc *method,
                          const ProtobufCMessage *req,
                          const cp_call_options *opts, cp_unary_done_fn done,
                          void *user) {
  if (done == NULL) {
    return CP_EINVAL;
  }
  cp_status status;
  int rc = cp_client_check_call_args(client, method, req, CP_METHOD_UNARY, opts,
                                     &status);
  if (rc != 0) {
    return rc;
  }
  if (client->interceptor_count > 0) {
    return CP_ESTATE;
  }
  cp_async_call *a = new_call(client, done, user);
  if (a == NULL) {
    return CP_ENOMEM;
  }
  rc = cp_invocation_init(&a->inv, client, method, req, opts);
  if (rc == 0) {
    rc = cp_codec_encode(req, client->opts.max_message_bytes, &a->request);
  }
  if (rc != 0) {
    free_call(a);
    return rc == CP_ENOMEM || rc == CP_ETOOBIG ? rc : CP_EINVAL;
  }
  pthread_mutex_lock(&client->mu);
  if (atomic_load(&client->closed)) {
    rc = CP_ECLOSED;
  } else {
    rc = ensure_started(client);
  }
  if (rc == 0) {
    rc = start_batch(client, a);
  }
  if (rc == 0) {
    link_call(client, a);
  }
  pthread_mutex_unlock(&client->mu);
  if (rc != 0) {
    free_call(a); /* no batch started: nothing will complete */
  }
  return rc;
}

void cp_client_async_cancel_all(cp_client *client) {
  for (cp_async_call *a = client->async_calls; a != NULL; a = a->next) {
    grpc_call_cancel(a->gcall, NULL);
  }
}

void cp_client_async_stop(cp_client *client) {
  pthread_mutex_lock(&client->mu);
  bool started = client->async_started;
  client->async_started = false;
  pthread_mutex_unlock(&client->mu);
  if (!started) {
    return;
  }
  grpc_completion_queue_shutdown(client->async_cq);
  pthread_join(client->async_thread, NULL);
  grpc_completion_queue_destroy(client->async_cq);
  client->async_cq = NULL;
}
