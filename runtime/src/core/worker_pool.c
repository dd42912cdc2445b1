/* The worker pool: threads taking jobs from a FIFO ring under one lock. */
#include "core/worker_pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "cplugin/errors.h"

struct cp_worker_pool {
  pthread_mutex_t mu;
  pthread_cond_t work; /* a job was queued, or the pool closed */
  cp_worker_run_fn run;
  void *user;

  void **ring; /* queued jobs, oldest at ring[head] */
  size_t ring_cap;
  size_t head;
  size_t queued;
  size_t running;
  size_t capacity; /* threads + queue length: what the pool may hold */
  bool closed;

  pthread_t *threads;
  unsigned thread_count; /* started */
};

static void *thread_main(void *arg) {
  cp_worker_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->queued == 0 && !p->closed) {
      pthread_cond_wait(&p->work, &p->mu);
    }
    if (p->queued == 0) {
      break; /* closed: close dropped what was queued */
    }
    void *job = p->ring[p->head];
    p->head = (p->head + 1) % p->ring_cap;
    p->queued--;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    p->run(job, true, p->user);
    pthread_mutex_lock(&p->mu);
    p->running--;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int cpi_worker_pool_new(cp_worker_pool **out, unsigned threads,
                        size_t queue_length, cp_worker_run_fn run, void *user) {
  if (out == NULL || threads == 0 || run == NULL ||
      queue_length > SIZE_MAX / sizeof(void *) - threads) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_worker_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  p->run = run;
  p->user = user;
  p->capacity = threads + queue_length;
  /* Jobs sit in the ring until a thread takes them, so it holds up to
   * `capacity` (all threads may be between jobs). */
  p->ring_cap = p->capacity;
  p->ring = malloc(p->ring_cap * sizeof *p->ring);
  p->threads = malloc(threads * sizeof *p->threads);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  bool ok = p->ring != NULL && p->threads != NULL;
  for (unsigned i = 0; ok && i < threads; i++) {
    ok = pthread_create(&p->threads[i], NULL, thread_main, p) == 0;
    if (ok) {
      p->thread_count++;
    }
  }
  if (!ok) {
    cpi_worker_pool_free(p);
    return CP_ENOMEM;
  }
  *out = p;
  return 0;
}

int cpi_worker_pool_submit(cp_worker_pool *pool, void *job) {
  pthread_mutex_lock(&pool->mu);
  int rc = 0;
  if (pool->closed) {
    rc = CP_ECLOSED;
  } else if (pool->queued + pool->running >= pool->capacity) {
    rc = CP_EAGAIN;
  } else {
    pool->ring[(pool->head + pool->queued) % pool->ring_cap] = job;
    pool->queued++;
    pthread_cond_signal(&pool->work);
  }
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

void cpi_worker_pool_close(cp_worker_pool *pool) {
  pthread_mutex_lock(&pool->mu);
  pool->closed = true;
  pthread_cond_broadcast(&pool->work);
  /* Dropped one at a time outside the lock: the run function may take
   * locks of its own (or submit to another pool). */
  while (pool->queued > 0) {
    void *job = pool->ring[pool->head];
    pool->head = (pool->head + 1) % pool->ring_cap;
    pool->queued--;
    pthread_mutex_unlock(&pool->mu);
    pool->run(job, false, pool->user);
    pthread_mutex_lock(&pool->mu);
  }
  pthread_mutex_unlock(&pool->mu);
}

void cpi_worker_pool_join(cp_worker_pool *pool) {
  cpi_worker_pool_close(pool);
  /* The threads leave once their running job returned. */
  for (unsigned i = 0; i < pool->thread_count; i++) {
    pthread_join(pool->threads[i], NULL);
  }
  pool->thread_count = 0;
}

void cpi_worker_pool_free(cp_worker_pool *pool) {
  if (pool == NULL) {
    return;
  }
  cpi_worker_pool_join(pool);
  free(pool->threads);
  free(pool->ring);
  pthread_cond_destroy(&pool->work);
  pthread_mutex_destroy(&pool->mu);
  free(pool);
}

cp_worker_pool_counts cpi_worker_pool_count(cp_worker_pool *pool) {
  pthread_mutex_lock(&pool->mu);
  cp_worker_pool_counts c = {pool->running, pool->queued};
  pthread_mutex_unlock(&pool->mu);
  return c;
}
