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
#include "transport/client_loop.h"
#include "transport/trailers_internal.h"
#include "transport/codec.h"
#include "transport/tag.h"

struct cp_async_call {
  cp_tag tag; /* first: the queue hands back &call->tag */
  cp_client *client;
  cp_async_call *prev;
  cp_async_call *next;
  /* A direct call owns its invocation (method, metadata in its arena,
   * deadline); an attempt of a chain (client_async_chain.c) points to the
   * chain's, which outlives it. */
  cp_invocation own;
  cp_invocation *inv;
  grpc_call *gcall;
  cp_unary_batch batch;
  cp_unary_done_fn done; /* direct calls */
  void *user;
};

static void *async_thread_main(void *arg) {
  cp_tag_run_queue(arg);
  return NULL;
}

/* Creates the queue and its thread on first use (client->mu held); a
 * client of a loop uses the loop's. */
static int ensure_started(cp_client *c) {
  if (c->async_started) {
    return 0;
  }
  if (c->opts.loop != NULL) {
    c->async_cq = cpi_client_loop_cq(c->opts.loop);
    c->async_started = true;
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
  c->async_unary_live++;
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
  cpi_unary_batch_release(&a->batch);
  cpi_arena_release(&a->own.arena);
  free(a);
}

/* The last thing a completion does: a destroy waiting for the client's
 * calls may free the client once this returned. */
static void call_finished(cp_client *c) {
  pthread_mutex_lock(&c->mu);
  if (--c->async_unary_live == 0) {
    pthread_cond_broadcast(&c->chains_cv);
  }
  pthread_mutex_unlock(&c->mu);
}

/* An attempt of a chain ended: leave its outcome in the chain's invocation
 * and hand over to the chain (whose continuation runs on the callback
 * thread, not this one). */
static void on_attempt_complete(cp_tag *tag, bool ok) {
  cp_async_call *a = (cp_async_call *)tag;
  cp_client *c = a->client;
  cp_invocation *inv = a->inv;
  pthread_mutex_lock(&c->mu);
  unlink_call(c, a);
  pthread_mutex_unlock(&c->mu);
  int rc = cpi_unary_batch_outcome(&a->batch, inv->method, ok, &inv->status,
                                   &inv->response);
  cpi_invocation_keep_trailers(inv, &a->batch.trailing_md);
  if (inv->out_trailers != NULL) {
    cpi_trailers_fill(inv->out_trailers, &a->batch.trailing_md);
  }
  if (inv->status.code == CP_STATUS_CANCELLED && atomic_load(&c->closed)) {
    cp_status_set(&inv->status, CP_STATUS_CANCELLED, "client is closed");
  }
  free_call(a);
  cpi_async_chain_attempt_done(inv->chain, rc);
  call_finished(c);
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
  cpi_unary_batch_outcome(&a->batch, a->inv->method, ok, &status, &resp);
  if (a->inv->out_trailers != NULL) {
    cpi_trailers_fill(a->inv->out_trailers, &a->batch.trailing_md);
  }
  if (status.code == CP_STATUS_CANCELLED && atomic_load(&c->closed)) {
    cp_status_set(&status, CP_STATUS_CANCELLED, "client is closed");
  }
  cp_unary_done_fn done = a->done;
  void *user = a->user;
  free_call(a); /* before the callback: it may start the next call */
  done(&status, resp, user);
  call_finished(c);
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
  a->inv = &a->own;
  cpi_arena_init(&a->own.arena);
  cpi_unary_batch_init(&a->batch);
  return a;
}

/* Creates the gRPC call and starts its one batch (client->mu held). */
static int start_batch(cp_client *c, cp_async_call *a) {
  grpc_slice path = grpc_slice_from_static_string(a->inv->method->path);
  a->gcall = cpi_client_open_call(c, NULL, c->async_cq, path,
                                  cpi_grpc_deadline(a->inv->deadline_ns));
  if (a->gcall == NULL) {
    return CP_ENOMEM;
  }
  if (cpi_unary_batch_start(&a->batch, a->gcall, a->inv, &a->tag) !=
      GRPC_CALL_OK) {
    return CP_ESYS;
  }
  return 0;
}

static int attempt_start(cp_invocation *inv, grpc_byte_buffer *request,
                         void *unused);

int cp_client_unary_async(cp_client *client, const cp_method_desc *method,
                          const ProtobufCMessage *req,
                          const cp_call_options *opts, cp_unary_done_fn done,
                          void *user) {
  if (done == NULL) {
    return CP_EINVAL;
  }
  cp_status status;
  int rc = cpi_client_check_call_args(client, method, req, CP_METHOD_UNARY,
                                      opts, &status);
  if (rc != 0) {
    return rc;
  }
  if (client->interceptor_count > 0) {
    if (!cpi_client_chain_is_async(client)) {
      return CP_ESTATE; /* an interceptor that can only block */
    }
    rc = cpi_async_start_threads(client);
    if (rc != 0) {
      return rc;
    }
    cpi_chain_ends ends = {
        .attempt = attempt_start, .done = done, .user = user};
    return cpi_async_chain_start(client, method, req, opts, &ends);
  }
  cp_async_call *a = new_call(client, done, user);
  if (a == NULL) {
    return CP_ENOMEM;
  }
  rc = cpi_invocation_init(&a->own, client, method, req, opts);
  if (rc == 0) {
    rc = cpi_codec_encode(req, client->opts.max_message_bytes,
                          &a->batch.request);
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

/* One transport attempt of a chain (cpi_chain_attempt_fn): its completion
 * goes to on_attempt_complete. */
static int attempt_start(cp_invocation *inv, grpc_byte_buffer *request,
                         void *unused) {
  (void)unused;
  cp_client *c = inv->client;
  cp_async_call *a = new_call(c, NULL, NULL);
  grpc_byte_buffer *copy = a != NULL ? grpc_byte_buffer_copy(request) : NULL;
  if (a == NULL || copy == NULL) {
    if (a != NULL) {
      free_call(a);
    }
    cp_status_set(&inv->status, CP_STATUS_INTERNAL, "out of memory");
    return CP_ENOMEM;
  }
  a->tag.on_done = on_attempt_complete;
  a->inv = inv;
  a->batch.request = copy;
  int rc;
  pthread_mutex_lock(&c->mu);
  if (atomic_load(&c->closed)) {
    rc = CP_ECLOSED;
  } else {
    rc = ensure_started(c);
  }
  if (rc == 0) {
    rc = start_batch(c, a);
  }
  if (rc == 0) {
    link_call(c, a);
  }
  pthread_mutex_unlock(&c->mu);
  if (rc != 0) {
    free_call(a);
    if (rc == CP_ECLOSED) {
      cp_status_set(&inv->status, CP_STATUS_CANCELLED, "client is closed");
    } else {
      cp_status_set(&inv->status, CP_STATUS_INTERNAL, "cannot start call: %s",
                    cp_strerror(rc));
    }
  }
  return rc;
}

int cpi_async_start_threads(cp_client *client) {
  pthread_mutex_lock(&client->mu);
  int rc = atomic_load(&client->closed) ? CP_ECLOSED : ensure_started(client);
  pthread_mutex_unlock(&client->mu);
  if (rc == 0) {
    rc = cpi_exec_start(&client->exec);
  }
  return rc;
}

void cpi_client_async_cancel_all(cp_client *client) {
  for (cp_async_call *a = client->async_calls; a != NULL; a = a->next) {
    grpc_call_cancel(a->gcall, NULL);
  }
}

void cpi_client_async_stop(cp_client *client) {
  pthread_mutex_lock(&client->mu);
  /* Closed, so every chain ends soon: its attempts are cancelled and its
   * timers fire; both threads must run until the last one did. */
  while (client->chains_live > 0) {
    pthread_cond_wait(&client->chains_cv, &client->mu);
  }
  pthread_mutex_unlock(&client->mu);
  cpi_exec_stop(&client->exec);
  pthread_mutex_lock(&client->mu);
  bool started = client->async_started;
  client->async_started = false;
  /* A shared queue is not this client's to drain: wait for its calls.
   * (Its streams were counted as live above.) */
  while (client->opts.loop != NULL && client->async_unary_live > 0) {
    pthread_cond_wait(&client->chains_cv, &client->mu);
  }
  pthread_mutex_unlock(&client->mu);
  if (!started || client->opts.loop != NULL) {
    client->async_cq = NULL;
    return;
  }
  grpc_completion_queue_shutdown(client->async_cq);
  pthread_join(client->async_thread, NULL);
  grpc_completion_queue_destroy(client->async_cq);
  client->async_cq = NULL;
}
