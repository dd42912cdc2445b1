/* cp_client_loop: one completion queue and the thread that drains it, for
 * the asynchronous calls and streams of many clients. Every tag posted to
 * the queue belongs to a client's call or stream, and a client waits for
 * its own (client_async.c) before it goes, so the queue is empty once the
 * last attached client was destroyed: shutting it down then only ends the
 * thread. */
#include "transport/client_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cplugin/errors.h"
#include "transport/tag.h"

struct cp_client_loop {
  grpc_completion_queue *cq;
  pthread_t thread;
  atomic_size_t clients;
};

static void *loop_main(void *arg) {
  cp_tag_run_queue(arg);
  return NULL;
}

int cp_client_loop_create(cp_client_loop **out) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_client_loop *loop = calloc(1, sizeof *loop);
  if (loop == NULL) {
    return CP_ENOMEM;
  }
  grpc_init();
  loop->cq = grpc_completion_queue_create_for_next(NULL);
  if (loop->cq == NULL) {
    free(loop);
    grpc_shutdown();
    return CP_ENOMEM;
  }
  atomic_init(&loop->clients, 0);
  if (pthread_create(&loop->thread, NULL, loop_main, loop->cq) != 0) {
    grpc_completion_queue_shutdown(loop->cq);
    grpc_completion_queue_destroy(loop->cq);
    free(loop);
    grpc_shutdown();
    return CP_ESYS;
  }
  *out = loop;
  return 0;
}

int cp_client_loop_destroy(cp_client_loop *loop) {
  if (loop == NULL) {
    return 0;
  }
  if (atomic_load(&loop->clients) > 0) {
    return CP_ESTATE;
  }
  grpc_completion_queue_shutdown(loop->cq);
  pthread_join(loop->thread, NULL);
  grpc_completion_queue_destroy(loop->cq);
  free(loop);
  grpc_shutdown();
  return 0;
}

grpc_completion_queue *cpi_client_loop_cq(cp_client_loop *loop) {
  return loop->cq;
}

void cpi_client_loop_attach(cp_client_loop *loop) {
  atomic_fetch_add(&loop->clients, 1);
}

void cpi_client_loop_detach(cp_client_loop *loop) {
  atomic_fetch_sub(&loop->clients, 1);
}
