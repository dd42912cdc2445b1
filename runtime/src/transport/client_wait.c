/* How a client's blocking calls and streams wait for a completion: on a
 * pluck queue, waiting on the network for the whole process (the default);
 * or, for a client of opts.non_polling, on a callback queue whose
 * completions gRPC hands to a functor on another thread (its executor),
 * while the waiting thread sleeps on a condition variable and never takes
 * a turn at the network wait (client_internal.h, cpi_wait_tag). */
#include "transport/client_internal.h"
#include "transport/server_polling.h"

/* Never freed: a callback queue may report its shutdown after its call's
 * memory is gone, and nothing waits for that report. */
static void shutdown_done(grpc_completion_queue_functor *f, int ok) {
  (void)f;
  (void)ok;
}
static grpc_completion_queue_functor shutdown_functor = {shutdown_done, 0, 0,
                                                         NULL};

static void tag_done(grpc_completion_queue_functor *f, int ok) {
  cpi_wait_tag *t = (cpi_wait_tag *)f;
  pthread_mutex_lock(t->mu);
  t->ok = ok != 0;
  t->done = true;
  pthread_cond_broadcast(t->cv);
  pthread_mutex_unlock(t->mu);
}

bool cpi_client_non_polling(const cp_client *c) {
  return c->opts.non_polling && cpi_polling_is_shared();
}

grpc_completion_queue *cpi_client_cq_create(const cp_client *c) {
  if (cpi_client_non_polling(c)) {
    return grpc_completion_queue_create_for_callback(&shutdown_functor, NULL);
  }
  return grpc_completion_queue_create_for_pluck(NULL);
}

void cpi_wait_tag_init(cpi_wait_tag *t, pthread_mutex_t *mu,
                       pthread_cond_t *cv) {
  t->functor.functor_run = tag_done;
  t->functor.inlineable = 0; /* run on gRPC's executor, never inline */
  t->functor.internal_success = 0;
  t->functor.internal_next = NULL;
  t->mu = mu;
  t->cv = cv;
  t->done = false;
  t->ok = false;
}

bool cpi_client_wait(const cp_client *c, grpc_completion_queue *cq,
                     cpi_wait_tag *tag) {
  if (!cpi_client_non_polling(c)) {
    grpc_event ev = grpc_completion_queue_pluck(
        cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
  }
  pthread_mutex_lock(tag->mu);
  while (!tag->done) {
    pthread_cond_wait(tag->cv, tag->mu);
  }
  tag->done = false; /* the tag may be used again (a stream's reads) */
  bool ok = tag->ok;
  pthread_mutex_unlock(tag->mu);
  return ok;
}
