/* A fixed set of threads running jobs from a bounded queue (internal). No
 * gRPC: the server uses it to run blocking handlers off its completion-queue
 * threads (transport/blocking_dispatch.c).
 *
 * A pool holds at most `threads + queue_length` jobs: `threads` running and
 * `queue_length` waiting. Each job is handed to the pool's run function
 * exactly once: with `run` true on a pool thread, or with `run` false when
 * the pool was closed before a thread took it (on the thread that closed the
 * pool). The run function owns the job from then on. */
#ifndef CPLUGIN_CORE_WORKER_POOL_H
#define CPLUGIN_CORE_WORKER_POOL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cp_worker_pool cp_worker_pool;

/* Runs (run true) or drops (run false) `job`. */
typedef void (*cp_worker_run_fn)(void *job, bool run, void *user);

typedef struct cp_worker_pool_counts {
  size_t running; /* jobs a pool thread is running */
  size_t queued;  /* jobs waiting for a thread */
} cp_worker_pool_counts;

/* Starts `threads` (>= 1) threads. Returns 0 and sets *out, CP_EINVAL or
 * CP_ENOMEM (then no thread is left running). */
int cpi_worker_pool_new(cp_worker_pool **out, unsigned threads,
                        size_t queue_length, cp_worker_run_fn run, void *user);

/* Queues `job`. Returns 0; CP_EAGAIN when the pool already holds
 * threads + queue_length jobs; CP_ECLOSED after cpi_worker_pool_close. On an
 * error the caller keeps `job`. Never blocks for long (takes the lock). Any
 * thread. */
int cpi_worker_pool_submit(cp_worker_pool *pool, void *job);

/* Takes no more jobs and drops the queued ones (run false, on this thread);
 * running jobs go on. Idempotent. Any thread. */
void cpi_worker_pool_close(cp_worker_pool *pool);

/* Closes the pool, waits for the running jobs to return and joins the
 * threads. The pool stays valid (submit returns CP_ECLOSED). Idempotent;
 * from one thread at a time, not from a pool thread. */
void cpi_worker_pool_join(cp_worker_pool *pool);

/* Joins (above) and frees the pool. NULL is allowed. */
void cpi_worker_pool_free(cp_worker_pool *pool);

/* A snapshot of what the pool holds. Any thread. */
cp_worker_pool_counts cpi_worker_pool_count(cp_worker_pool *pool);

#endif /* CPLUGIN_CORE_WORKER_POOL_H */
