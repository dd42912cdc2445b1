/* The KV store's streaming handlers: BatchPut (the client streams pairs,
 * the store answers once) and Session (the client streams puts, deletes
 * and a watch; the store streams back the changes it watches). Neither
 * blocks a server thread: both keep their stream and work from the
 * messages as they arrive. */
#include <stdlib.h>

#include "kv_store_internal.h"

/* --- BatchPut ------------------------------------------------------------ */

typedef struct batch {
  kv_store *store;
  int64_t stored;
} batch;

/* Ends a stream the client cancelled, or that ended otherwise, before its
 * answer. */
static void on_batch_done(cp_stream *stream, void *user) {
  (void)user;
  cp_stream_finish(stream, CP_STATUS_CANCELLED, "batch ended");
}

static void on_batch_pair(cp_stream *stream, const Kv__V1__PutRequest *pair,
                          void *user) {
  batch *b = user;
  if (pair == NULL) {
    if (!cp_stream_is_closed(stream)) {
      Kv__V1__BatchPutResponse resp = KV__V1__BATCH_PUT_RESPONSE__INIT;
      resp.stored = b->stored;
      cp_kv__v1__kvservice__batch_put__reply(stream, &resp);
    }
    free(b); /* the end of reading */
    return;
  }
  cp_status st;
  if (kv_apply_put(b->store, pair, &st) != CP_STATUS_OK) {
    cp_stream_finish(stream, st.code, "pair %lld: %s", (long long)b->stored,
                     st.message);
    return;
  }
  b->stored++;
}

static cp_status_code on_batch_put(cp_call *call, cp_stream *stream,
                                   void *user) {
  batch *b = calloc(1, sizeof *b);
  if (b == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  b->store = user;
  cp_stream_keep(stream);
  cp_stream_on_done(stream, on_batch_done, NULL);
  cp_kv__v1__kvservice__batch_put__read(stream, on_batch_pair, b);
  return CP_STATUS_OK; /* kept: answered by on_batch_pair */
}

/* --- Session ------------------------------------------------------------- */

/* Ends the session's stream unless the store already did (a watcher that
 * fell behind, the store closing) or its done callback did: whoever
 * unlinks the watcher ends the stream. */
static void end_session(kv_store *s, cp_stream *stream, cp_status_code code,
                        const char *message) {
  pthread_mutex_lock(&s->mu);
  kv_watcher *w = kv_unlink_watcher(s, stream);
  pthread_mutex_unlock(&s->mu);
  if (w != NULL) {
    cp_stream_finish(stream, code, "%s", message);
    kv_watcher_free(w);
  }
}

static cp_status_code apply(kv_store *s, cp_stream *stream,
                            const Kv__V1__SessionRequest *op, cp_status *st) {
  bool found = false;
  switch (op->op_case) {
    case KV__V1__SESSION_REQUEST__OP_WATCH:
      return kv_watch_prefix(s, stream, op->watch, st);
    case KV__V1__SESSION_REQUEST__OP_PUT:
      return kv_apply_put(s, op->put, st);
    case KV__V1__SESSION_REQUEST__OP_REMOVE:
      return kv_apply_delete(s, op->remove->key, &found, st);
    default:
      return cp_status_set(st, CP_STATUS_INVALID_ARGUMENT,
                           "a session message needs watch, put or remove");
  }
}

static void on_session_message(cp_stream *stream,
                               const Kv__V1__SessionRequest *op, void *user) {
  kv_store *s = user;
  if (op == NULL) {
    /* The client is done (OK), or the call already ended. */
    end_session(s, stream, CP_STATUS_OK, "");
    return;
  }
  cp_status st;
  if (apply(s, stream, op, &st) != CP_STATUS_OK) {
    end_session(s, stream, st.code, st.message);
  }
}

static cp_status_code on_session(cp_call *call, cp_stream *stream, void *user) {
  kv_store *s = user;
  kv_watcher *w = calloc(1, sizeof *w);
  if (w == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  w->stream = stream;
  cp_status st;
  if (kv_link_watcher(s, w, &st) != CP_STATUS_OK) {
    kv_watcher_free(w);
    return cp_call_error(call, st.code, "%s", st.message);
  }
  /* Linked: from here on whoever unlinks it ends the stream. */
  cp_stream_keep(stream);
  cp_stream_on_done(stream, kv_on_watcher_done, s);
  cp_kv__v1__kvservice__session__read(stream, on_session_message, s);
  return CP_STATUS_OK; /* kept: ended by end_session or the store */
}

void kv_stream_handlers(cp_kv__v1__kvservice__handlers *handlers) {
  handlers->on_batch_put = on_batch_put;
  handlers->on_session = on_session;
}
