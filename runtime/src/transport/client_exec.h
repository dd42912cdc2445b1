/* The client's callback thread (internal): runs the continuations of
 * asynchronous calls that go through interceptors — interceptor resumptions,
 * timers (retry backoff) and the caller's callbacks — one at a time, so
 * nothing ever blocks for a wait and callbacks of one client never overlap.
 *
 * Items are intrusive (embedded in their owner), so posting never allocates
 * and cannot fail once the thread runs. An item is posted at most once at a
 * time; the thread unlinks it before running it, so its function may post it
 * again. */
#ifndef CPLUGIN_TRANSPORT_CLIENT_EXEC_H
#define CPLUGIN_TRANSPORT_CLIENT_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cp_exec_item cp_exec_item;

/* `cancelled` is true when the item is a timer that runs early because the
 * executor was closed. */
typedef void (*cp_exec_fn)(cp_exec_item *item, bool cancelled);

struct cp_exec_item {
  cp_exec_item *next;
  int64_t due_ns; /* cpi_clock_monotonic_ns scale */
  bool timer;
  cp_exec_fn fn;
};

typedef struct cp_exec {
  pthread_mutex_t mu;
  pthread_cond_t cv;  /* monotonic: timed waits for the earliest timer */
  cp_exec_item *head; /* sorted by due_ns, FIFO among equals */
  pthread_t thread;
  bool started;
  bool closed;   /* timers fire at once, cancelled */
  bool stopping; /* the thread exits once nothing is queued */
} cp_exec;

void cpi_exec_init(cp_exec *e);
/* After cpi_exec_stop (or when never started). */
void cpi_exec_destroy(cp_exec *e);

/* Starts the thread unless running. Returns 0 or CP_ESYS. */
int cpi_exec_start(cp_exec *e);

/* Queues `item` to run `fn` at `due_ns` (now or earlier: as soon as the
 * thread is free). `timer` items run early, cancelled, once the executor is
 * closed. The thread must have been started. */
void cpi_exec_post(cp_exec *e, cp_exec_item *item, cp_exec_fn fn,
                   int64_t due_ns, bool timer);

/* Fires every pending and future timer at once (cancelled). Idempotent. */
void cpi_exec_close(cp_exec *e);

/* Runs what is queued, then joins the thread. Not from the thread itself. */
void cpi_exec_stop(cp_exec *e);

/* Whether the caller is the executor's thread. */
bool cpi_exec_on_thread(cp_exec *e);

#endif /* CPLUGIN_TRANSPORT_CLIENT_EXEC_H */
