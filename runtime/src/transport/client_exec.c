/* The client's callback thread: a queue of items ordered by due time, run
 * one at a time. See client_exec.h. */
#include "transport/client_exec.h"

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"

void cpi_exec_init(cp_exec *e) {
  pthread_mutex_init(&e->mu, NULL);
  cpi_cond_init_monotonic(&e->cv);
  e->head = NULL;
  e->started = false;
  e->closed = false;
  e->stopping = false;
}

void cpi_exec_destroy(cp_exec *e) {
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->mu);
}

/* Whether the head may run now (mu held). */
static bool head_due(const cp_exec *e, int64_t now) {
  return e->head != NULL &&
         (e->head->due_ns <= now || (e->closed && e->head->timer));
}

static void *exec_main(void *arg) {
  cp_exec *e = arg;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    int64_t now = cpi_clock_monotonic_ns();
    if (head_due(e, now)) {
      cp_exec_item *it = e->head;
      e->head = it->next;
      it->next = NULL;
      bool cancelled = it->timer && e->closed;
      pthread_mutex_unlock(&e->mu);
      it->fn(it, cancelled);
      pthread_mutex_lock(&e->mu);
      continue;
    }
    if (e->head == NULL) {
      if (e->stopping) {
        break;
      }
      pthread_cond_wait(&e->cv, &e->mu);
    } else {
      struct timespec at = cpi_monotonic_timespec(e->head->due_ns);
      pthread_cond_timedwait(&e->cv, &e->mu, &at);
    }
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int cpi_exec_start(cp_exec *e) {
  pthread_mutex_lock(&e->mu);
  int rc = 0;
  if (!e->started) {
    if (pthread_create(&e->thread, NULL, exec_main, e) == 0) {
      e->started = true;
    } else {
      rc = CP_ESYS;
    }
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

void cpi_exec_post(cp_exec *e, cp_exec_item *item, cp_exec_fn fn,
                   int64_t due_ns, bool timer) {
  item->fn = fn;
  item->due_ns = due_ns;
  item->timer = timer;
  pthread_mutex_lock(&e->mu);
  cp_exec_item **p = &e->head;
  while (*p != NULL && (*p)->due_ns <= due_ns) {
    p = &(*p)->next;
  }
  item->next = *p;
  *p = item;
  if (e->head == item) {
    pthread_cond_signal(&e->cv); /* a new earliest item */
  }
  pthread_mutex_unlock(&e->mu);
}

void cpi_exec_close(cp_exec *e) {
  pthread_mutex_lock(&e->mu);
  e->closed = true;
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

void cpi_exec_stop(cp_exec *e) {
  pthread_mutex_lock(&e->mu);
  bool started = e->started;
  e->started = false;
  e->stopping = true;
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
  if (started) {
    pthread_join(e->thread, NULL);
  }
}

bool cpi_exec_on_thread(cp_exec *e) {
  pthread_mutex_lock(&e->mu);
  bool on = e->started && pthread_equal(e->thread, pthread_self());
  pthread_mutex_unlock(&e->mu);
  return on;
}
