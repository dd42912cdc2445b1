/* Asynchronous unary calls through interceptors. Each interceptor is a layer
 * that owns the invocation in turn: its async form is entered, may proceed
 * to the next layer with a continuation, and eventually completes, which
 * resumes the continuation of the layer outside it (or, past the outermost,
 * delivers the caller's callback). The innermost layer is a transport
 * attempt on the client's completion queue, started through the function
 * its caller gave (client_async.c, client_stream_async.c): the chain knows
 * neither kind, so those files depend on it and not the other way round.
 *
 * Continuations, timers and the caller's callback run on the client's
 * callback thread (client_exec.h). A completion that happens inside an
 * interceptor's entry (a breaker failing fast, possibly on the caller's
 * thread) is posted there instead of run in place, so that neither
 * cp_client_unary_async nor cp_invocation_proceed_async ever runs a
 * continuation or callback itself.
 *
 * Lifetime: the chain holds one reference for its run (dropped when the
 * caller's callback was delivered) and one per thread inside an entry
 * function, which may still unwind after the chain ended elsewhere. */
#include <grpc/grpc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/codec.h"

typedef struct frame {
  cp_invocation_resume_fn fn; /* NULL: pass the outcome outwards */
  void *arg;
} frame;

/* What the posted item does when it runs. */
typedef enum step_kind { STEP_COMPLETE, STEP_TIMER } step_kind;

struct cp_async_chain {
  cp_invocation inv;
  cp_exec_item item; /* at most one step is pending at a time */
  step_kind kind;
  size_t step_layer; /* STEP_COMPLETE: the layer that completed */
  int step_rc;
  cp_invocation_resume_fn timer_fn;
  void *timer_arg;

  frame *frames; /* one per interceptor */
  grpc_byte_buffer *request;
  cpi_chain_attempt_fn attempt;
  void *attempt_arg;
  /* The outcome goes to `done` (a unary call) or, when set, to `end` (a
   * stream start), either with `user`. */
  cp_unary_done_fn done;
  cpi_chain_end_fn end;
  void *user;
  atomic_int refs;
  atomic_int entering; /* threads inside an entry function */
  atomic_bool finished;
};

static void chain_unref(cp_async_chain *ch) {
  if (atomic_fetch_sub(&ch->refs, 1) != 1) {
    return;
  }
  cpi_invocation_discard_response(&ch->inv);
  cpi_arena_release(&ch->inv.arena);
  if (ch->request != NULL) {
    grpc_byte_buffer_destroy(ch->request);
  }
  free(ch->frames);
  free(ch);
}

/* Past the outermost layer: hand the outcome to the caller's callback (on
 * the callback thread). */
static void deliver(cp_async_chain *ch, int rc) {
  cp_invocation *inv = &ch->inv;
  cp_client *c = inv->client;
  cp_status status = inv->status;
  if (ch->end != NULL) {
    cpi_chain_end_fn end = ch->end;
    void *user = ch->user;
    atomic_store(&ch->finished, true);
    chain_unref(ch);
    end(rc, &status, user);
    cpi_client_live_leave(c);
    return;
  }
  ProtobufCMessage *resp = NULL;
  if (rc == 0 && inv->response != NULL && status.code == CP_STATUS_OK) {
    resp = inv->response;
    inv->response = NULL;
  } else if (rc == 0) {
    cp_status_set(&status, CP_STATUS_INTERNAL, "no response");
  } else if (status.code == CP_STATUS_OK) {
    /* An interceptor failed with a local error code but no status. */
    cp_status_set(&status, CP_STATUS_INTERNAL, "call failed: %s",
                  cp_strerror(rc));
  }
  cp_unary_done_fn done = ch->done;
  void *user = ch->user;
  atomic_store(&ch->finished, true);
  chain_unref(ch);
  done(&status, resp, user);
  cpi_client_live_leave(c);
}

/* Layer `layer` completed with `rc`: resume the nearest continuation
 * outside it (callback thread). */
static void resume_outwards(cp_async_chain *ch, size_t layer, int rc) {
  while (layer > 0) {
    layer--;
    frame f = ch->frames[layer];
    ch->frames[layer].fn = NULL;
    ch->frames[layer].arg = NULL;
    if (f.fn != NULL) {
      ch->inv.depth = layer;
      f.fn(&ch->inv, rc, f.arg);
      return;
    }
  }
  deliver(ch, rc);
}

static void run_step(cp_exec_item *item, bool cancelled) {
  cp_async_chain *ch =
      (cp_async_chain *)((char *)item - offsetof(cp_async_chain, item));
  if (ch->kind == STEP_COMPLETE) {
    resume_outwards(ch, ch->step_layer, ch->step_rc);
    return;
  }
  int rc = 0;
  if (cancelled) {
    cp_status_set(&ch->inv.status, CP_STATUS_CANCELLED, "client is closed");
    rc = CP_ECLOSED;
  }
  ch->inv.depth = ch->step_layer;
  ch->timer_fn(&ch->inv, rc, ch->timer_arg);
}

static void post_complete(cp_async_chain *ch, size_t layer, int rc) {
  ch->kind = STEP_COMPLETE;
  ch->step_layer = layer;
  ch->step_rc = rc;
  cpi_exec_post(&ch->inv.client->exec, &ch->item, run_step,
                cpi_clock_monotonic_ns(), false);
}

void cpi_async_chain_attempt_done(cp_async_chain *ch, int rc) {
  post_complete(ch, ch->inv.client->interceptor_count, rc);
}

/* Enters layer `layer`: an interceptor's async form or a transport
 * attempt. */
static void enter(cp_async_chain *ch, size_t layer) {
  cp_invocation *inv = &ch->inv;
  cp_client *c = inv->client;
  inv->depth = layer;
  if (layer == c->interceptor_count) {
    /* An asynchronous attempt leaves no blocking stream behind. */
    cpi_invocation_discard_response(inv);
    int rc = ch->attempt(inv, ch->request, ch->attempt_arg);
    if (rc != 0) {
      post_complete(ch, layer, rc);
    }
    return;
  }
  atomic_fetch_add(&ch->refs, 1);
  atomic_fetch_add(&ch->entering, 1);
  c->interceptors[layer].async_fn(inv, c->interceptors[layer].user);
  atomic_fetch_sub(&ch->entering, 1);
  chain_unref(ch);
}

int cp_invocation_proceed_async(cp_invocation *inv,
                                cp_invocation_resume_fn then, void *user) {
  if (inv == NULL) {
    return CP_EINVAL;
  }
  cp_async_chain *ch = inv->chain;
  if (ch == NULL || atomic_load(&ch->finished) ||
      inv->depth >= inv->client->interceptor_count) {
    return CP_ESTATE;
  }
  size_t layer = inv->depth;
  ch->frames[layer].fn = then;
  ch->frames[layer].arg = user;
  enter(ch, layer + 1);
  return 0;
}

int cp_invocation_complete(cp_invocation *inv, int rc) {
  if (inv == NULL) {
    return CP_EINVAL;
  }
  cp_async_chain *ch = inv->chain;
  if (ch == NULL || atomic_load(&ch->finished)) {
    return CP_ESTATE;
  }
  if (atomic_load(&ch->entering) > 0 ||
      !cpi_exec_on_thread(&inv->client->exec)) {
    post_complete(ch, inv->depth, rc);
  } else {
    resume_outwards(ch, inv->depth, rc);
  }
  return 0;
}

int cp_invocation_resume_after(cp_invocation *inv, int64_t delay_ns,
                               cp_invocation_resume_fn fn, void *user) {
  if (inv == NULL || fn == NULL || delay_ns < 0) {
    return CP_EINVAL;
  }
  cp_async_chain *ch = inv->chain;
  if (ch == NULL || atomic_load(&ch->finished)) {
    return CP_ESTATE;
  }
  int64_t now = cpi_clock_monotonic_ns();
  int64_t due = cpi_time_after_ns(now, delay_ns);
  ch->kind = STEP_TIMER;
  ch->step_layer = inv->depth;
  ch->timer_fn = fn;
  ch->timer_arg = user;
  cpi_exec_post(&inv->client->exec, &ch->item, run_step, due, true);
  return 0;
}

bool cp_invocation_is_async(const cp_invocation *inv) {
  return inv != NULL && inv->chain != NULL;
}

void *cp_invocation_alloc(cp_invocation *inv, size_t size) {
  if (inv == NULL || size == 0) {
    return NULL;
  }
  void *p = cpi_arena_alloc(&inv->arena, size);
  if (p != NULL) {
    memset(p, 0, size);
  }
  return p;
}

static cp_async_chain *new_chain(cp_client *c) {
  cp_async_chain *ch = calloc(1, sizeof *ch);
  if (ch == NULL) {
    return NULL;
  }
  /* + 1: calloc(0) may return NULL. */
  ch->frames = calloc(c->interceptor_count + 1, sizeof *ch->frames);
  if (ch->frames == NULL) {
    free(ch);
    return NULL;
  }
  cpi_arena_init(&ch->inv.arena);
  atomic_init(&ch->refs, 1);
  atomic_init(&ch->entering, 0);
  atomic_init(&ch->finished, false);
  return ch;
}

int cpi_async_chain_start(cp_client *client, const cp_method_desc *method,
                          const ProtobufCMessage *req,
                          const cp_call_options *opts,
                          const cpi_chain_ends *ends) {
  if (ends->attempt == NULL || (ends->done == NULL) == (ends->end == NULL)) {
    return CP_EINVAL;
  }
  cp_async_chain *ch = new_chain(client);
  if (ch == NULL) {
    return CP_ENOMEM;
  }
  ch->attempt = ends->attempt;
  ch->attempt_arg = ends->attempt_arg;
  ch->done = ends->done;
  ch->end = ends->end;
  ch->user = ends->user;
  int rc = cpi_invocation_init(&ch->inv, client, method, req, opts);
  if (rc == 0 && req != NULL) {
    rc = cpi_codec_encode(req, client->opts.max_message_bytes, &ch->request);
  }
  if (rc != 0) {
    chain_unref(ch);
    return rc == CP_ENOMEM || rc == CP_ETOOBIG ? rc : CP_EINVAL;
  }
  rc = cpi_client_live_enter(client);
  if (rc != 0) {
    chain_unref(ch);
    return rc;
  }
  ch->inv.chain = ch;
  ch->inv.request = NULL; /* the caller's; sent as the encoded copy */
  enter(ch, 0);
  return 0;
}
