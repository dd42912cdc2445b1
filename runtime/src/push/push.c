/* Latest-wins delivery of state to server streams: pending slot per stream,
 * a hub that queues pushes for flushing, and a retry timer for streams
 * whose queue is full. */
#include "push/push.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/housekeeper.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "push/push_testing.h"

enum queue_state { Q_NONE = 0, Q_READY = 1, Q_STALLED = 2 };

struct cp_push {
  cp_push_hub *hub;
  cp_stream *stream;
  cp_push_closed_fn closed_fn;
  void *user;
  atomic_int refs;

  pthread_mutex_t mu; /* guards the fields below */
  cp_shared_msg *pending;
  uint64_t last_key;
  bool sending;
  bool closed;
  bool closed_notified;
  cp_status_code code;
  const char *message;

  /* Guarded by hub->mu: membership of the ready or the stalled list. */
  enum queue_state queue;
  cp_push *qprev;
  cp_push *qnext;
};

typedef struct push_list {
  cp_push *head;
  cp_push *tail;
} push_list;

struct cp_push_hub {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  push_list ready;
  push_list stalled;
  bool stop;
  /* Retries the stalled pushes on the process's housekeeping thread. */
  cpi_housekeeper *hk;
  cpi_timer retry;
  int64_t retry_ns;

  atomic_uint_fast64_t offered;
  atomic_uint_fast64_t encoded;
  atomic_uint_fast64_t coalesced;
  atomic_uint_fast64_t sent;
  atomic_uint_fast64_t stalls;
  atomic_uint_fast64_t max_held_bytes;
};

int cpi_shared_msg_init(cp_shared_msg *m, const ProtobufCMessage *msg,
                        uint64_t key) {
  atomic_init(&m->refs, 1);
  m->key = key;
  m->msg = msg;
  m->free_fn = NULL;
  m->enc = NULL;
  atomic_init(&m->counted, false);
  return cpi_encoded_new(msg, &m->enc);
}

void cpi_shared_msg_ref(cp_shared_msg *m) {
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void cpi_shared_msg_unref(cp_shared_msg *m) {
  if (m == NULL ||
      atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) {
    return;
  }
  cpi_encoded_unref(m->enc);
  if (m->free_fn != NULL) {
    m->free_fn(m);
  } else {
    free(m);
  }
}

/* --- lists (hub->mu held) ------------------------------------------------ */

static void list_push_back(push_list *l, cp_push *p) {
  p->qnext = NULL;
  p->qprev = l->tail;
  if (l->tail != NULL) {
    l->tail->qnext = p;
  } else {
    l->head = p;
  }
  l->tail = p;
}

static void list_remove(push_list *l, cp_push *p) {
  if (p->qprev != NULL) {
    p->qprev->qnext = p->qnext;
  } else {
    l->head = p->qnext;
  }
  if (p->qnext != NULL) {
    p->qnext->qprev = p->qprev;
  } else {
    l->tail = p->qprev;
  }
  p->qprev = NULL;
  p->qnext = NULL;
}

static cp_push *list_pop(push_list *l) {
  cp_push *p = l->head;
  if (p != NULL) {
    list_remove(l, p);
  }
  return p;
}

/* --- hub ----------------------------------------------------------------- */

static void retry_due(void *user);

int cpi_push_hub_create(cp_push_hub **out, int64_t retry_interval_ms) {
  if (out == NULL || retry_interval_ms <= 0 ||
      retry_interval_ms > INT64_MAX / 1000000) {
    return CP_EINVAL;
  }
  cp_push_hub *hub = calloc(1, sizeof *hub);
  if (hub == NULL) {
    return CP_ENOMEM;
  }
  int rc = cpi_housekeeper_acquire(NULL, &hub->hk);
  if (rc != 0) {
    free(hub);
    return rc;
  }
  cpi_timer_init(&hub->retry, hub->hk, retry_due, hub);
  pthread_mutex_init(&hub->mu, NULL);
  pthread_cond_init(&hub->cv, NULL);
  hub->retry_ns = cpi_ms_to_ns(retry_interval_ms);
  atomic_init(&hub->offered, 0);
  atomic_init(&hub->encoded, 0);
  atomic_init(&hub->coalesced, 0);
  atomic_init(&hub->sent, 0);
  atomic_init(&hub->stalls, 0);
  atomic_init(&hub->max_held_bytes, 0);
  *out = hub;
  return 0;
}

/* cpi_push_testing_hold_retry_closed. */
static atomic_bool testing_hold;
static atomic_uint testing_holds;
static _Thread_local bool on_retry_thread;

void cpi_push_testing_hold_retry_closed(bool on) {
  atomic_store(&testing_hold, on);
}

unsigned cpi_push_testing_retry_holds(void) {
  return atomic_load(&testing_holds);
}

static void testing_hold_until_stop(cp_push_hub *hub) {
  if (!on_retry_thread || !atomic_load(&testing_hold)) {
    return;
  }
  pthread_mutex_lock(&hub->mu);
  atomic_fetch_add(&testing_holds, 1);
  while (!hub->stop) {
    pthread_cond_wait(&hub->cv, &hub->mu);
  }
  pthread_mutex_unlock(&hub->mu);
}

/* Arms the retry (hub->mu held). Without memory for the timer the parked
 * pushes are retried on the next offer instead. */
static void arm_retry(cp_push_hub *hub) {
  if (!hub->stop && cpi_timer_arm(&hub->retry, hub->retry_ns) != 0) {
    cp_log(CP_LOG_WARN, "watch retry not scheduled", CP_LOG_END);
  }
}

/* A retry interval after a stall: moves every stalled push to the ready
 * list and flushes; armed again while pushes stay stalled. */
static void retry_due(void *user) {
  cp_push_hub *hub = user;
  on_retry_thread = true;
  pthread_mutex_lock(&hub->mu);
  cp_push *p;
  while (!hub->stop && (p = list_pop(&hub->stalled)) != NULL) {
    p->queue = Q_READY;
    list_push_back(&hub->ready, p);
  }
  bool stop = hub->stop;
  pthread_mutex_unlock(&hub->mu);
  if (!stop) {
    cpi_push_hub_flush(hub);
  }
  pthread_mutex_lock(&hub->mu);
  if (hub->stalled.head != NULL) {
    arm_retry(hub);
  }
  pthread_mutex_unlock(&hub->mu);
  on_retry_thread = false;
}

void cpi_push_hub_stop(cp_push_hub *hub) {
  if (hub == NULL) {
    return;
  }
  pthread_mutex_lock(&hub->mu);
  hub->stop = true;
  pthread_cond_broadcast(&hub->cv);
  pthread_mutex_unlock(&hub->mu);
  cpi_timer_cancel(&hub->retry); /* waits for a retry in progress */
}

void cpi_push_hub_destroy(cp_push_hub *hub) {
  if (hub == NULL) {
    return;
  }
  cpi_push_hub_stop(hub);
  for (;;) {
    pthread_mutex_lock(&hub->mu);
    cp_push *p = list_pop(&hub->ready);
    if (p == NULL) {
      p = list_pop(&hub->stalled);
    }
    if (p != NULL) {
      p->queue = Q_NONE;
    }
    pthread_mutex_unlock(&hub->mu);
    if (p == NULL) {
      break;
    }
    cpi_push_unref(p);
  }
  cpi_housekeeper_release(hub->hk);
  pthread_cond_destroy(&hub->cv);
  pthread_mutex_destroy(&hub->mu);
  free(hub);
}

void cpi_push_hub_stats(cp_push_hub *hub, cp_push_stats *out) {
  out->offered = atomic_load(&hub->offered);
  out->encoded = atomic_load(&hub->encoded);
  out->coalesced = atomic_load(&hub->coalesced);
  out->sent = atomic_load(&hub->sent);
  out->stalls = atomic_load(&hub->stalls);
  out->max_held_bytes = atomic_load(&hub->max_held_bytes);
}

/* Records what `p` holds now (pending + in its stream) as a high-water mark;
 * called without p->mu (the stream's lock is taken). */
static void note_held(cp_push *p) {
  pthread_mutex_lock(&p->mu);
  uint64_t held = p->pending != NULL ? cpi_encoded_size(p->pending->enc) : 0;
  pthread_mutex_unlock(&p->mu);
  held += cpi_stream_held_bytes(p->stream);
  uint64_t max =
      atomic_load_explicit(&p->hub->max_held_bytes, memory_order_relaxed);
  while (held > max && !atomic_compare_exchange_weak_explicit(
                           &p->hub->max_held_bytes, &max, held,
                           memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* Parks a push whose stream queue is full until the retry (or the next
 * offer) tries again. */
static void park(cp_push *p) {
  cp_push_hub *hub = p->hub;
  pthread_mutex_lock(&hub->mu);
  if (p->queue == Q_NONE && !hub->stop) {
    p->queue = Q_STALLED;
    list_push_back(&hub->stalled, p);
    cpi_push_ref(p);
    arm_retry(hub);
  }
  pthread_mutex_unlock(&hub->mu);
}

/* --- pushes -------------------------------------------------------------- */

cp_push *cpi_push_create(cp_push_hub *hub, cp_stream *stream,
                         cp_push_closed_fn closed_fn, void *user) {
  cp_push *p = calloc(1, sizeof *p);
  if (p == NULL) {
    return NULL;
  }
  /* The push holds the stream from now on (its handler returns). */
  if (cp_stream_keep(stream) != 0) {
    free(p);
    return NULL;
  }
  p->hub = hub;
  p->stream = stream;
  p->closed_fn = closed_fn;
  p->user = user;
  atomic_init(&p->refs, 1);
  pthread_mutex_init(&p->mu, NULL);
  p->code = CP_STATUS_CANCELLED;
  return p;
}

void cpi_push_ref(cp_push *p) {
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void cpi_push_unref(cp_push *p) {
  if (p == NULL ||
      atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) {
    return;
  }
  cpi_shared_msg_unref(p->pending);
  if (p->message != NULL) {
    cp_stream_finish(p->stream, p->code, "%s", p->message);
  } else {
    cp_stream_finish(p->stream, p->code, NULL);
  }
  pthread_mutex_destroy(&p->mu);
  free(p);
}

cp_stream *cpi_push_stream(const cp_push *p) {
  return p->stream;
}

void cpi_push_offer(cp_push *p, cp_shared_msg *m) {
  cp_push_hub *hub = p->hub;
  atomic_fetch_add_explicit(&hub->offered, 1, memory_order_relaxed);
  if (!atomic_exchange_explicit(&m->counted, true, memory_order_relaxed)) {
    atomic_fetch_add_explicit(&hub->encoded, 1, memory_order_relaxed);
  }
  pthread_mutex_lock(&p->mu);
  if (p->closed) {
    pthread_mutex_unlock(&p->mu);
    return;
  }
  cp_shared_msg *old = p->pending;
  cpi_shared_msg_ref(m);
  p->pending = m;
  pthread_mutex_unlock(&p->mu);
  if (old != NULL) {
    atomic_fetch_add_explicit(&hub->coalesced, 1, memory_order_relaxed);
    cpi_shared_msg_unref(old);
  }
  note_held(p);
  pthread_mutex_lock(&hub->mu);
  if (p->queue == Q_STALLED) {
    /* A change is a reason to try a stalled stream again at once. */
    list_remove(&hub->stalled, p);
    p->queue = Q_READY;
    list_push_back(&hub->ready, p);
  } else if (p->queue == Q_NONE) {
    p->queue = Q_READY;
    list_push_back(&hub->ready, p);
    cpi_push_ref(p);
  }
  pthread_mutex_unlock(&hub->mu);
}

void cpi_push_close(cp_push *p, cp_status_code code, const char *message) {
  pthread_mutex_lock(&p->mu);
  if (!p->closed) {
    p->closed = true;
    p->code = code;
    p->message = message;
  }
  p->closed_notified = true; /* the owner knows: no callback */
  cp_shared_msg *pending = p->pending;
  p->pending = NULL;
  pthread_mutex_unlock(&p->mu);
  cpi_shared_msg_unref(pending);
}

/* With p->mu held: ends the push because of the stream; returns whether
 * the owner still has to be told. */
static bool fail_locked(cp_push *p, int rc) {
  if (!p->closed) {
    p->closed = true;
    if (rc != CP_ECLOSED) {
      p->code = CP_STATUS_RESOURCE_EXHAUSTED;
      p->message = "watch event could not be sent";
    }
  }
  bool notify = !p->closed_notified;
  p->closed_notified = true;
  return notify;
}

/* Sends the pending message, and any that arrives meanwhile, unless another
 * thread is already sending on this push. */
static void try_send(cp_push *p) {
  cp_push_hub *hub = p->hub;
  bool stalled = false;
  bool notify = false;
  pthread_mutex_lock(&p->mu);
  if (p->sending) {
    pthread_mutex_unlock(&p->mu);
    return;
  }
  p->sending = true;
  while (p->pending != NULL && !p->closed) {
    cp_shared_msg *m = p->pending;
    p->pending = NULL;
    if (m->key != 0 && m->key == p->last_key) {
      cpi_shared_msg_unref(m); /* same state as the last one sent */
      continue;
    }
    pthread_mutex_unlock(&p->mu);
    int rc = cpi_stream_send_encoded(p->stream, m->enc);
    if (rc == 0) {
      note_held(p);
    }
    pthread_mutex_lock(&p->mu);
    if (rc == 0) {
      p->last_key = m->key;
      atomic_fetch_add_explicit(&hub->sent, 1, memory_order_relaxed);
      cpi_shared_msg_unref(m);
    } else if (rc == CP_EAGAIN) {
      atomic_fetch_add_explicit(&hub->stalls, 1, memory_order_relaxed);
      if (p->pending == NULL && !p->closed) {
        p->pending = m; /* still the latest: keep it for the retry */
      } else {
        atomic_fetch_add_explicit(&hub->coalesced, 1, memory_order_relaxed);
        cpi_shared_msg_unref(m);
      }
      stalled = true;
      break;
    } else {
      cpi_shared_msg_unref(m);
      notify = fail_locked(p, rc);
    }
  }
  cp_shared_msg *dropped = NULL;
  if (p->closed) {
    dropped = p->pending;
    p->pending = NULL;
  }
  p->sending = false;
  pthread_mutex_unlock(&p->mu);
  cpi_shared_msg_unref(dropped);
  if (stalled) {
    park(p);
  }
  if (notify && p->closed_fn != NULL) {
    testing_hold_until_stop(hub);
    p->closed_fn(p, p->stream, p->user);
  }
}

void cpi_push_hub_flush(cp_push_hub *hub) {
  for (;;) {
    pthread_mutex_lock(&hub->mu);
    cp_push *p = list_pop(&hub->ready);
    if (p != NULL) {
      p->queue = Q_NONE;
    }
    pthread_mutex_unlock(&hub->mu);
    if (p == NULL) {
      return;
    }
    try_send(p);
    cpi_push_unref(p);
  }
}
