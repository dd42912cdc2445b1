/* The delayed Echo: deferred replies in a FIFO answered by one timer thread.
 * Every call waits the same delay, so arrival order is due order and the
 * queue's head is always the next reply due: a FIFO is the whole timer. */
#include "delayed_echo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cplugin/errors.h"
#include "cplugin/load/v1/load.cplugin.h"

typedef struct pending {
  struct pending *next;
  int64_t due_ns; /* CLOCK_MONOTONIC */
  cp_unary_reply *reply;
  size_t len;
  uint8_t payload[]; /* the request's: it is gone once the handler returns */
} pending;

struct ctl_delayed_echo {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  pending *head;
  pending *tail;
  bool stopping;
  bool joined;
  pthread_t thread;
  int64_t delay_ns;
  atomic_uint_least64_t ok;
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void answer(ctl_delayed_echo *e, pending *p) {
  Cplugin__Load__V1__EchoResponse resp = CPLUGIN__LOAD__V1__ECHO_RESPONSE__INIT;
  resp.payload.data = p->payload;
  resp.payload.len = p->len;
  /* CP_ECLOSED: the caller gave up meanwhile; the reply is released all the
   * same. */
  if (cp_cplugin__load__v1__load_service__echo__reply(p->reply, &resp) == 0) {
    atomic_fetch_add_explicit(&e->ok, 1, memory_order_relaxed);
  }
  free(p);
}

static void *timer_main(void *arg) {
  ctl_delayed_echo *e = arg;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (e->head == NULL && !e->stopping) {
      pthread_cond_wait(&e->cv, &e->mu);
    }
    if (e->head == NULL) {
      break; /* stopping, nothing left */
    }
    if (!e->stopping && e->head->due_ns > now_ns()) {
      struct timespec until = {(time_t)(e->head->due_ns / 1000000000),
                               (long)(e->head->due_ns % 1000000000)};
      pthread_cond_timedwait(&e->cv, &e->mu, &until);
      continue;
    }
    pending *p = e->head;
    e->head = p->next;
    if (e->head == NULL) {
      e->tail = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    answer(e, p); /* never blocks, but not under the lock either */
    pthread_mutex_lock(&e->mu);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int ctl_delayed_echo_create(ctl_delayed_echo **out, uint32_t delay_ms) {
  *out = NULL;
  ctl_delayed_echo *e = calloc(1, sizeof *e);
  if (e == NULL) {
    return CP_ENOMEM;
  }
  e->delay_ns = (int64_t)delay_ms * 1000000;
  atomic_init(&e->ok, 0);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&e->thread, NULL, timer_main, e) != 0) {
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
    return CP_ESYS;
  }
  *out = e;
  return 0;
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugin__Load__V1__EchoRequest *req,
                              Cplugin__Load__V1__EchoResponse *resp,
                              void *user) {
  (void)resp;
  ctl_delayed_echo *e = user;
  cp_unary_reply *reply = cp_call_defer(call);
  if (reply == NULL) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "cannot defer the reply");
  }
  pending *p = malloc(sizeof *p + req->payload.len);
  if (p == NULL) {
    cp_unary_reply_fail(reply, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_STATUS_OK; /* not used: the reply was taken */
  }
  p->next = NULL;
  p->due_ns = now_ns() + e->delay_ns;
  p->reply = reply;
  p->len = req->payload.len;
  if (p->len > 0) {
    memcpy(p->payload, req->payload.data, p->len);
  }
  pthread_mutex_lock(&e->mu);
  bool stopping = e->stopping;
  if (!stopping) {
    if (e->tail == NULL) {
      e->head = p;
      pthread_cond_signal(&e->cv); /* the timer may sleep with no deadline */
    } else {
      e->tail->next = p;
    }
    e->tail = p;
  }
  pthread_mutex_unlock(&e->mu);
  if (stopping) {
    cp_unary_reply_fail(reply, CP_STATUS_UNAVAILABLE, "provider stopping");
    free(p);
  }
  return CP_STATUS_OK;
}

int ctl_delayed_echo_register(cp_server *server, ctl_delayed_echo *echo) {
  static const cp_cplugin__load__v1__load_service__handlers handlers = {
      .on_echo = on_echo};
  return cp_cplugin__load__v1__load_service__register(server, &handlers, echo);
}

void ctl_delayed_echo_stop(ctl_delayed_echo *echo) {
  if (echo == NULL || echo->joined) {
    return;
  }
  pthread_mutex_lock(&echo->mu);
  echo->stopping = true;
  pthread_cond_signal(&echo->cv);
  pthread_mutex_unlock(&echo->mu);
  pthread_join(echo->thread, NULL);
  echo->joined = true;
}

void ctl_delayed_echo_destroy(ctl_delayed_echo *echo) {
  if (echo == NULL) {
    return;
  }
  ctl_delayed_echo_stop(echo);
  pthread_cond_destroy(&echo->cv);
  pthread_mutex_destroy(&echo->mu);
  free(echo);
}

uint64_t ctl_delayed_echo_ok(const ctl_delayed_echo *echo) {
  return atomic_load(&((ctl_delayed_echo *)echo)->ok);
}
