/* Asynchronous client streams: started (through the asynchronous
 * interceptor chain) without blocking, and read by a callback on the
 * client's callback thread.
 *
 * gRPC binds a call to one completion queue when it is created, and a
 * blocking stream's private queue is drained only by a thread waiting in
 * it; so a stream is asynchronous from its start: its call completes on the
 * client's queue, whose thread records each completion here. Deliveries
 * run on the callback thread (cp_exec), one message at a time: the next
 * receive starts only once the callback returned, so a slow reader slows
 * its server through HTTP/2 flow control. Sends stay blocking: a sender
 * waits on the stream's condition variable for its batch instead of
 * plucking.
 *
 * Exactly once: the final callback runs when the receives ran dry and the
 * status arrived, or when the chain failed; `final_done` (under mu) makes
 * it the only one. The stream is freed once the caller released it and the
 * machinery is done with it: final callback returned, no batch pending, no
 * delivery queued. Lock order: client->mu before a->mu. */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/client_stream_internal.h"
#include "transport/codec.h"
#include "transport/tag.h"
#include "transport/trailers_internal.h"

typedef enum tag_kind {
  T_START,
  T_RECV,
  T_STATUS,
  T_SEND,
  T_CLOSE,
  T_COUNT
} tag_kind;

typedef struct astream_tag {
  cp_tag base; /* first: the queue hands back &tag->base */
  struct cp_astream *a;
  tag_kind kind;
  bool done; /* T_SEND, T_CLOSE: for the waiting sender (under mu) */
  bool ok;
} astream_tag;

typedef struct cp_astream {
  cp_client_stream *s;
  cp_unary_invoke_fn invoke;
  cp_generic_fn fn;
  void *user;
  bool one_response; /* client-streaming: one callback with the response */

  pthread_mutex_t mu;
  pthread_cond_t cv; /* senders, and destroy waiting for the end */
  astream_tag tags[T_COUNT];
  cp_exec_item item; /* the delivery step */
  bool item_posted;
  int pending; /* batches started and not completed */

  /* The current attempt (while the chain runs). */
  cp_async_chain *chain;
  cp_invocation *inv;
  bool attempt_running;
  bool attempt_succeeded;    /* a later attempt would start a second call */
  grpc_byte_buffer *request; /* the attempt's copy; gRPC consumes it */
  bool start_done;
  bool start_ok;

  /* Reading. */
  grpc_byte_buffer *recv_bb; /* the running receive's message */
  ProtobufCMessage *msg;     /* received, not delivered yet */
  bool recv_running;
  bool recv_end; /* no further message will come */
  bool decode_failed;
  bool status_done;
  bool opened; /* the chain succeeded: deliveries and sends may go */
  bool final_done;
  bool in_callback;
  bool cancelled;
  ProtobufCMessage *response; /* one_response: the first message */
  bool extra_response;

  bool released; /* cp_client_stream_destroy did not wait: free at the end */
  bool machinery_done;
} cp_astream;

static const cp_status ok_status = {CP_STATUS_OK, ""};

static void pump(cp_exec_item *item, bool cancelled);

/* --- lifetime ------------------------------------------------------------ */

static void free_stream(cp_client_stream *s) {
  cp_astream *a = s->async;
  cpi_client_stream_unlink(s);
  if (a->msg != NULL) {
    protobuf_c_message_free_unpacked(a->msg, NULL);
  }
  if (a->response != NULL) {
    protobuf_c_message_free_unpacked(a->response, NULL);
  }
  if (a->request != NULL) {
    grpc_byte_buffer_destroy(a->request);
  }
  if (s->send_bb != NULL) {
    grpc_byte_buffer_destroy(s->send_bb);
  }
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
  free(a);
  s->async = NULL;
  cpi_client_stream_free(s);
}

/* Whether the machinery is done with the stream now (mu held); marks it. */
static bool settle_machinery(cp_astream *a) {
  if (a->machinery_done || !a->final_done || a->pending > 0 || a->in_callback ||
      a->item_posted) {
    return false;
  }
  a->machinery_done = true;
  pthread_cond_broadcast(&a->cv);
  return true;
}

/* After settle_machinery returned true, with mu released: frees the stream
 * when its owner let go, then drops the client's count of live streams
 * (last: cp_client_destroy may proceed once it fell). */
static void finish_machinery(cp_client *c, cp_client_stream *s, bool free_now) {
  if (free_now) {
    free_stream(s);
  }
  cpi_client_live_leave(c);
}

/* Unlocks mu, finishing the machinery if it just became done. */
static void unlock_and_settle(cp_astream *a) {
  /* Once mu is released a waiting destroy may free the stream: take what
   * is needed first. */
  cp_client_stream *s = a->s;
  cp_client *c = s->client;
  bool done = settle_machinery(a);
  bool free_now = done && a->released;
  pthread_mutex_unlock(&a->mu);
  if (done) {
    finish_machinery(c, s, free_now);
  }
}

static void post_pump(cp_astream *a) {
  if (!a->item_posted) {
    a->item_posted = true;
    cpi_exec_post(&a->s->client->exec, &a->item, pump, cpi_clock_monotonic_ns(),
                  false);
  }
}

/* --- batches ------------------------------------------------------------- */

/* Starts the next receive (mu held); a call that cannot take one has no
 * more messages. */
static void start_recv(cp_astream *a) {
  cp_client_stream *s = a->s;
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!s->initial_md_requested) {
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    n++;
    s->initial_md_requested = true;
  }
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = &a->recv_bb;
  n++;
  a->recv_bb = NULL;
  if (grpc_call_start_batch(s->gcall, ops, n, &a->tags[T_RECV].base, NULL) ==
      GRPC_CALL_OK) {
    a->recv_running = true;
    a->pending++;
  } else {
    a->recv_end = true;
  }
}

/* The status of the call's end, with the corrections the blocking reader
 * makes too (mu held, status arrived). */
static void record_status(cp_astream *a) {
  cp_client_stream *s = a->s;
  cpi_status_from_grpc(&s->final, s->code, s->details);
  if (a->decode_failed) {
    cp_status_set(&s->final, CP_STATUS_INTERNAL,
                  "response does not decode as %s",
                  s->method->response_type->name);
  } else if (s->final.code == CP_STATUS_CANCELLED &&
             atomic_load(&s->client->closed)) {
    cp_status_set(&s->final, CP_STATUS_CANCELLED, "client is closed");
  }
  if (s->out_trailers != NULL) {
    cpi_trailers_fill(s->out_trailers, &s->trailing_md);
  }
}

/* Whether the running attempt is decided (mu held): 1 started (a server
 * stream delivered its first message or ended OK; a duplex one sent its
 * metadata), -1 failed with every batch completed (so a retry may reuse the
 * stream), 0 not yet. */
static int attempt_outcome(const cp_astream *a) {
  if (!a->start_done) {
    return 0;
  }
  bool duplex = a->s->method->kind != CP_METHOD_SERVER_STREAMING;
  if (duplex ? a->start_ok : a->msg != NULL) {
    return 1;
  }
  bool ended = a->status_done && (duplex || a->recv_end) && a->pending == 0;
  if (!ended) {
    return 0;
  }
  return a->s->final.code == CP_STATUS_OK && !duplex ? 1 : -1;
}

/* Reports a decided attempt to the chain (mu held; unlocks). */
static void unlock_after_attempt(cp_astream *a) {
  int outcome = a->attempt_running ? attempt_outcome(a) : 0;
  if (outcome == 0) {
    unlock_and_settle(a);
    return;
  }
  a->attempt_running = false;
  cp_invocation *inv = a->inv;
  cp_async_chain *chain = a->chain;
  int rc = 0;
  if (outcome > 0) {
    a->attempt_succeeded = true;
    cp_status_clear(&inv->status);
  } else {
    inv->status = a->s->final;
    cpi_invocation_keep_trailers(inv, &a->s->trailing_md);
    rc = CP_ERPC;
  }
  pthread_mutex_unlock(&a->mu);
  cpi_async_chain_attempt_done(chain, rc);
}

/* A batch of the stream completed (the client's queue thread). */
static void on_tag(cp_tag *base, bool ok) {
  astream_tag *t = (astream_tag *)base;
  cp_astream *a = t->a;
  cp_client_stream *s = a->s;
  pthread_mutex_lock(&a->mu);
  a->pending--;
  switch (t->kind) {
    case T_START:
      a->start_done = true;
      a->start_ok = ok;
      break;
    case T_RECV: {
      a->recv_running = false;
      grpc_byte_buffer *bb = a->recv_bb;
      a->recv_bb = NULL;
      if (bb == NULL) {
        a->recv_end = true;
      } else {
        ProtobufCMessage *m = NULL;
        if (cpi_codec_decode(bb, s->method->response_type, NULL, &m) == 0) {
          a->msg = m;
        } else {
          a->decode_failed = true;
          a->recv_end = true;
          grpc_call_cancel_with_status(s->gcall, GRPC_STATUS_INTERNAL,
                                       "response does not decode", NULL);
        }
        grpc_byte_buffer_destroy(bb);
      }
      break;
    }
    case T_STATUS:
      a->status_done = true;
      record_status(a);
      break;
    case T_SEND:
    case T_CLOSE:
      t->done = true;
      t->ok = ok;
      pthread_cond_broadcast(&a->cv);
      break;
    case T_COUNT:
      break;
  }
  if (a->opened && !a->final_done &&
      (a->msg != NULL || (a->recv_end && a->status_done))) {
    post_pump(a);
  }
  unlock_after_attempt(a);
}

/* --- delivery (callback thread) ------------------------------------------ */

/* Runs the caller's callback with mu released, the stream marked busy. */
static void call_back(cp_astream *a, const cp_status *st,
                      const ProtobufCMessage *msg) {
  a->in_callback = true;
  pthread_mutex_unlock(&a->mu);
  a->invoke(a->fn, st, msg, a->user);
  pthread_mutex_lock(&a->mu);
  a->in_callback = false;
}

/* The final callback (mu held, not delivered yet). */
static void deliver_final(cp_astream *a, cp_status st) {
  cp_client_stream *s = a->s;
  a->final_done = true;
  ProtobufCMessage *resp = NULL;
  /* gRPC requires exactly one message with OK. */
  if (a->one_response && a->extra_response) {
    cp_status_set(&st, CP_STATUS_INTERNAL,
                  "the server sent more than one response");
  } else if (a->one_response && st.code == CP_STATUS_OK) {
    if (a->response == NULL) {
      cp_status_set(&st, CP_STATUS_INTERNAL,
                    "the server ended the call OK without a response");
    } else {
      resp = a->response;
      a->response = NULL;
    }
  }
  s->final = st;
  s->end_rc = st.code == CP_STATUS_OK ? 0 : CP_ERPC;
  atomic_store(&s->ended, true);
  pthread_cond_broadcast(&a->cv); /* senders waiting for the start */
  call_back(a, &st, resp);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
}

static void pump(cp_exec_item *item, bool cancelled) {
  (void)cancelled;
  cp_astream *a = (cp_astream *)((char *)item - offsetof(cp_astream, item));
  pthread_mutex_lock(&a->mu);
  a->item_posted = false;
  while (!a->final_done) {
    if (a->msg != NULL) {
      ProtobufCMessage *m = a->msg;
      a->msg = NULL;
      if (!a->one_response) {
        call_back(a, &ok_status, m); /* lent: freed once it returned */
        protobuf_c_message_free_unpacked(m, NULL);
      } else if (a->response == NULL) {
        a->response = m;
      } else {
        protobuf_c_message_free_unpacked(m, NULL);
        a->extra_response = true;
        grpc_call_cancel(a->s->gcall, NULL);
      }
      if (!a->recv_end && !a->recv_running) {
        start_recv(a);
      }
      continue;
    }
    if (a->recv_end && a->status_done) {
      deliver_final(a, a->s->final);
      break;
    }
    if (!a->recv_end && !a->recv_running) {
      start_recv(a);
      continue;
    }
    break; /* a completion will post the next step */
  }
  unlock_and_settle(a);
}

/* The chain ended (cpi_chain_end_fn, on the callback thread): deliveries
 * begin, or the stream ends with that status. */
static void chain_end(int rc, const cp_status *status, void *user) {
  cp_client_stream *s = user;
  cp_astream *a = s->async;
  pthread_mutex_lock(&a->mu);
  a->chain = NULL;
  a->inv = NULL;
  if (rc == 0 && a->attempt_succeeded && !a->final_done) {
    a->opened = true;
    pthread_cond_broadcast(&a->cv); /* senders waiting for the start */
    post_pump(a);
  } else if (!a->final_done) {
    cp_status st = *status;
    if (rc == 0) {
      /* An interceptor reported success without starting the stream. */
      cp_status_set(&st, CP_STATUS_INTERNAL, "no stream");
    } else if (st.code == CP_STATUS_OK) {
      cp_status_set(&st, CP_STATUS_INTERNAL, "call failed: %s",
                    cp_strerror(rc));
    }
    if (s->gcall != NULL) {
      /* An attempt that started, then an interceptor failed the call. */
      grpc_call_cancel(s->gcall, NULL);
    }
    deliver_final(a, st);
  }
  unlock_and_settle(a);
}

/* --- attempts -------------------------------------------------------------- */

/* Forgets the previous attempt's call (mu held; every batch completed). */
static void reset_attempt(cp_astream *a) {
  cp_client_stream *s = a->s;
  if (s->gcall != NULL) {
    grpc_call_unref(s->gcall);
    s->gcall = NULL;
  }
  grpc_metadata_array_destroy(&s->initial_md);
  grpc_metadata_array_destroy(&s->trailing_md);
  grpc_metadata_array_init(&s->initial_md);
  grpc_metadata_array_init(&s->trailing_md);
  grpc_slice_unref(s->details);
  s->details = grpc_empty_slice();
  s->initial_md_requested = false;
  if (a->request != NULL) {
    grpc_byte_buffer_destroy(a->request);
    a->request = NULL;
  }
  a->start_done = false;
  a->start_ok = false;
  a->recv_end = false;
  a->status_done = false;
  a->decode_failed = false;
}

/* Starts the attempt's batches (mu held, call created). */
static void start_batches(cp_astream *a, const cp_invocation *inv) {
  cp_client_stream *s = a->s;
  bool server_streaming = s->method->kind == CP_METHOD_SERVER_STREAMING;
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = inv->metadata_count;
  ops[n].data.send_initial_metadata.metadata = inv->metadata;
  n++;
  if (server_streaming) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = a->request;
    n++;
    ops[n].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    n++;
  }
  if (grpc_call_start_batch(s->gcall, ops, n, &a->tags[T_START].base, NULL) ==
      GRPC_CALL_OK) {
    a->pending++;
  } else {
    a->start_done = true; /* not ok: the status tells why */
    grpc_call_cancel(s->gcall, NULL);
  }
  if (cpi_client_stream_start_status(s, &a->tags[T_STATUS].base) ==
      GRPC_CALL_OK) {
    a->pending++;
  } else {
    a->status_done = true;
    cp_status_set(&s->final, CP_STATUS_INTERNAL, "cannot start call");
    grpc_call_cancel(s->gcall, NULL);
  }
  if (server_streaming) {
    start_recv(a); /* the first message decides the attempt */
  }
}

/* One transport attempt of the stream's chain (cpi_chain_attempt_fn):
 * creates the stream's call on the client's queue and starts its batches.
 * It is decided when a server stream's first message or end arrives, or
 * when a duplex one's metadata left or its call failed. */
static int attempt_start(cp_invocation *inv, grpc_byte_buffer *request,
                         void *arg) {
  cp_client_stream *s = arg;
  cp_client *c = inv->client;
  cp_astream *a = s->async;
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  pthread_mutex_lock(&a->mu);
  if (atomic_load(&c->closed)) {
    cp_status_set(&inv->status, CP_STATUS_CANCELLED, "client is closed");
    rc = CP_ECLOSED;
  } else if (a->cancelled) {
    cp_status_set(&inv->status, CP_STATUS_CANCELLED, "stream cancelled");
    rc = CP_ERPC;
  } else if (a->attempt_succeeded || a->pending > 0) {
    /* Its messages may have reached the caller's interceptors already. */
    cp_status_set(&inv->status, CP_STATUS_INTERNAL,
                  "a started stream cannot be started again");
    rc = CP_ESTATE;
  } else {
    reset_attempt(a);
    if (request != NULL) {
      a->request = grpc_byte_buffer_copy(request);
    }
    grpc_slice path = grpc_slice_from_static_string(s->method->path);
    s->gcall = (request != NULL && a->request == NULL)
                   ? NULL
                   : cpi_client_open_call(c, NULL, c->async_cq, path,
                                          cpi_grpc_deadline(inv->deadline_ns));
    if (s->gcall == NULL) {
      cp_status_set(&inv->status, CP_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory");
      rc = CP_ENOMEM;
    } else {
      a->chain = inv->chain;
      a->inv = inv;
      a->attempt_running = true;
      start_batches(a, inv);
    }
  }
  pthread_mutex_unlock(&a->mu);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* --- the caller's side --------------------------------------------------- */

static astream_tag *sender_tag(cp_client_stream *s, void *tag) {
  return &s->async->tags[tag == &s->close_tag ? T_CLOSE : T_SEND];
}

grpc_call_error cpi_astream_start_batch(cp_client_stream *s, const grpc_op *ops,
                                        size_t n, void *tag) {
  cp_astream *a = s->async;
  astream_tag *t = sender_tag(s, tag);
  pthread_mutex_lock(&a->mu);
  t->done = false;
  grpc_call_error e = grpc_call_start_batch(s->gcall, ops, n, &t->base, NULL);
  if (e == GRPC_CALL_OK) {
    a->pending++;
  }
  pthread_mutex_unlock(&a->mu);
  return e;
}

bool cpi_astream_wait_tag(cp_client_stream *s, void *tag) {
  cp_astream *a = s->async;
  astream_tag *t = sender_tag(s, tag);
  pthread_mutex_lock(&a->mu);
  while (!t->done) {
    pthread_cond_wait(&a->cv, &a->mu);
  }
  t->done = false;
  bool ok = t->ok;
  pthread_mutex_unlock(&a->mu);
  return ok;
}

int cpi_astream_wait_open(cp_client_stream *s) {
  cp_astream *a = s->async;
  bool on_thread = cpi_exec_on_thread(&s->client->exec);
  pthread_mutex_lock(&a->mu);
  int rc = 0;
  if (!a->opened && !a->final_done && on_thread) {
    rc = CP_ESTATE; /* the start needs this very thread */
  } else {
    while (!a->opened && !a->final_done) {
      pthread_cond_wait(&a->cv, &a->mu);
    }
    rc = a->opened ? 0 : CP_ECLOSED;
  }
  pthread_mutex_unlock(&a->mu);
  return rc;
}

void cpi_astream_cancel(cp_client_stream *s) {
  cp_astream *a = s->async;
  pthread_mutex_lock(&a->mu);
  a->cancelled = true;
  if (s->gcall != NULL && !a->final_done) {
    grpc_call_cancel(s->gcall, NULL);
  }
  pthread_mutex_unlock(&a->mu);
}

void cpi_astream_destroy(cp_client_stream *s) {
  cp_astream *a = s->async;
  bool on_thread = cpi_exec_on_thread(&s->client->exec);
  pthread_mutex_lock(&a->mu);
  a->cancelled = true;
  if (s->gcall != NULL && !a->final_done) {
    grpc_call_cancel(s->gcall, NULL);
  }
  if (on_thread) {
    /* The end may need this very thread: the machinery frees the stream
     * once its final callback returned (now, when it already did). */
    a->released = true;
    bool free_now = a->machinery_done;
    pthread_mutex_unlock(&a->mu);
    if (free_now) {
      free_stream(s);
    }
    return;
  }
  while (!a->machinery_done) {
    pthread_cond_wait(&a->cv, &a->mu);
  }
  pthread_mutex_unlock(&a->mu);
  free_stream(s);
}

/* --- starting ------------------------------------------------------------ */

static cp_client_stream *new_stream(cp_client *c, const cp_method_desc *method,
                                    const cp_call_options *opts,
                                    cp_unary_invoke_fn invoke, cp_generic_fn fn,
                                    void *user) {
  cp_astream *a = calloc(1, sizeof *a);
  cp_client_stream *s =
      a != NULL ? cpi_client_stream_new(c, method,
                                        opts != NULL ? opts->trailers : NULL)
                : NULL;
  if (s == NULL) {
    free(a);
    return NULL;
  }
  s->async = a;
  a->s = s;
  a->invoke = invoke;
  a->fn = fn;
  a->user = user;
  a->one_response = method->kind == CP_METHOD_CLIENT_STREAMING;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  for (int i = 0; i < T_COUNT; i++) {
    a->tags[i].base.on_done = on_tag;
    a->tags[i].a = a;
    a->tags[i].kind = (tag_kind)i;
  }
  return s;
}

static int start_async(cp_client *client, const cp_method_desc *method,
                       const ProtobufCMessage *req, cp_method_kind kind,
                       const cp_call_options *opts, cp_unary_invoke_fn invoke,
                       cp_generic_fn fn, void *user, cp_client_stream **out) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  if (invoke == NULL || fn == NULL || method == NULL) {
    return CP_EINVAL;
  }
  cp_status status;
  int rc = cpi_client_check_call_args(client, method, req, kind, opts, &status);
  if (rc != 0) {
    return rc;
  }
  if (!cpi_client_chain_is_async(client)) {
    return CP_ESTATE; /* an interceptor that can only block */
  }
  rc = cpi_async_start_threads(client);
  if (rc != 0) {
    return rc;
  }
  cp_client_stream *s = new_stream(client, method, opts, invoke, fn, user);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  /* Counted like a chain until its machinery is done, so that
   * cp_client_destroy waits for its final callback. */
  rc = cpi_client_live_enter(client);
  if (rc != 0) {
    free_stream(s);
    return rc;
  }
  if (cpi_client_stream_link(s)) {
    cpi_astream_cancel(s);
  }
  *out = s; /* before any callback can run */
  cpi_chain_ends ends = {
      .attempt = attempt_start, .attempt_arg = s, .end = chain_end, .user = s};
  rc = cpi_async_chain_start(client, method, req, opts, &ends);
  if (rc != 0) {
    *out = NULL;
    free_stream(s);
    cpi_client_live_leave(client);
  }
  return rc;
}

static void invoke_plain(cp_generic_fn fn, const cp_status *status,
                         const ProtobufCMessage *msg, void *user) {
  ((cp_client_message_fn)fn)(status, msg, user);
}

int cp_client_stream_start_async_typed(cp_client *client,
                                       const cp_method_desc *method,
                                       const ProtobufCMessage *req,
                                       const cp_call_options *opts,
                                       cp_unary_invoke_fn invoke,
                                       cp_generic_fn fn, void *user,
                                       cp_client_stream **out) {
  return start_async(client, method, req, CP_METHOD_SERVER_STREAMING, opts,
                     invoke, fn, user, out);
}

int cp_client_stream_open_async_typed(cp_client *client,
                                      const cp_method_desc *method,
                                      const cp_call_options *opts,
                                      cp_unary_invoke_fn invoke,
                                      cp_generic_fn fn, void *user,
                                      cp_client_stream **out) {
  cp_method_kind kind = CP_METHOD_CLIENT_STREAMING;
  if (method != NULL && method->kind == CP_METHOD_BIDI_STREAMING) {
    kind = CP_METHOD_BIDI_STREAMING;
  }
  return start_async(client, method, NULL, kind, opts, invoke, fn, user, out);
}

int cp_client_stream_start_async(cp_client *client,
                                 const cp_method_desc *method,
                                 const ProtobufCMessage *req,
                                 const cp_call_options *opts,
                                 cp_client_message_fn on_message, void *user,
                                 cp_client_stream **out) {
  return cp_client_stream_start_async_typed(
      client, method, req, opts, invoke_plain, (cp_generic_fn)on_message, user,
      out);
}

int cp_client_stream_open_async(cp_client *client, const cp_method_desc *method,
                                const cp_call_options *opts,
                                cp_client_message_fn on_message, void *user,
                                cp_client_stream **out) {
  return cp_client_stream_open_async_typed(
      client, method, opts, invoke_plain, (cp_generic_fn)on_message, user, out);
}
