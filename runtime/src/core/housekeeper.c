/* The process's housekeeping threads: one binary min-heap of timers per
 * clock, run by one thread. */
#include "core/housekeeper.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"

/* How long the thread trusts an injected clock that is not a manual one
 * (which says when it moves) to stay still. */
#define FOREIGN_CLOCK_RECHECK_NS (100 * INT64_C(1000000))

struct cpi_housekeeper {
  const cp_clock *clock; /* NULL: the system clock */
  size_t refs;           /* guarded by registry_mu */
  cpi_housekeeper *next; /* in the registry; guarded by registry_mu */
  pthread_t thread;

  pthread_mutex_t mu; /* guards the fields below */
  pthread_cond_t cv;  /* work arrived, the clock moved, a callback ended */
  cpi_timer **heap;
  size_t count;
  size_t cap;
  cpi_timer *running; /* the timer whose callback runs now */
  bool stop;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static cpi_housekeeper *registry;              /* guarded by registry_mu */
static _Thread_local cpi_housekeeper *current; /* set on a housekeeper */

static int64_t now_ns(const cpi_housekeeper *hk) {
  return cp_clock_now_ns(hk->clock);
}

/* --- the heap (hk->mu held) ---------------------------------------------- */

static void place(cpi_housekeeper *hk, size_t i, cpi_timer *t) {
  hk->heap[i] = t;
  t->slot = i;
}

static void sift_up(cpi_housekeeper *hk, size_t i) {
  cpi_timer *t = hk->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (hk->heap[parent]->due_ns <= t->due_ns) {
      break;
    }
    place(hk, i, hk->heap[parent]);
    i = parent;
  }
  place(hk, i, t);
}

static void sift_down(cpi_housekeeper *hk, size_t i) {
  cpi_timer *t = hk->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= hk->count) {
      break;
    }
    if (child + 1 < hk->count &&
        hk->heap[child + 1]->due_ns < hk->heap[child]->due_ns) {
      child++;
    }
    if (t->due_ns <= hk->heap[child]->due_ns) {
      break;
    }
    place(hk, i, hk->heap[child]);
    i = child;
  }
  place(hk, i, t);
}

static void heap_remove(cpi_housekeeper *hk, cpi_timer *t) {
  size_t i = t->slot;
  t->slot = CPI_TIMER_IDLE;
  cpi_timer *last = hk->heap[--hk->count];
  if (last != t) {
    place(hk, i, last);
    sift_down(hk, i);
    sift_up(hk, last->slot);
  }
}

/* --- the thread ---------------------------------------------------------- */

/* Waits for the next change or until the first timer is due. */
static void wait_for_work(cpi_housekeeper *hk, int64_t now) {
  if (hk->count == 0) {
    pthread_cond_wait(&hk->cv, &hk->mu);
    return;
  }
  int64_t wait = hk->heap[0]->due_ns - now;
  if (hk->clock != NULL && wait > FOREIGN_CLOCK_RECHECK_NS) {
    wait = FOREIGN_CLOCK_RECHECK_NS;
  }
  int64_t real_now = cpi_clock_monotonic_ns();
  int64_t until = cpi_time_after_ns(real_now, wait);
  struct timespec ts = cpi_monotonic_timespec(until);
  pthread_cond_timedwait(&hk->cv, &hk->mu, &ts);
}

static void *housekeeper_main(void *arg) {
  cpi_housekeeper *hk = arg;
  current = hk;
  pthread_mutex_lock(&hk->mu);
  while (!hk->stop) {
    int64_t now = now_ns(hk);
    if (hk->count == 0 || hk->heap[0]->due_ns > now) {
      wait_for_work(hk, now);
      continue;
    }
    cpi_timer *t = hk->heap[0];
    heap_remove(hk, t);
    hk->running = t;
    pthread_mutex_unlock(&hk->mu);
    t->fn(t->user);
    pthread_mutex_lock(&hk->mu);
    hk->running = NULL;
    pthread_cond_broadcast(&hk->cv); /* a cancel may wait for it */
  }
  pthread_mutex_unlock(&hk->mu);
  return NULL;
}

/* A manual clock moved: its housekeeper (if any) looks at the heap again. */
static void clock_moved(const cp_clock *clock) {
  pthread_mutex_lock(&registry_mu);
  for (cpi_housekeeper *hk = registry; hk != NULL; hk = hk->next) {
    if (hk->clock == clock) {
      pthread_mutex_lock(&hk->mu);
      pthread_cond_broadcast(&hk->cv);
      pthread_mutex_unlock(&hk->mu);
    }
  }
  pthread_mutex_unlock(&registry_mu);
}

/* --- sharing ------------------------------------------------------------- */

static int start(const cp_clock *clock, cpi_housekeeper **out) {
  cpi_housekeeper *hk = calloc(1, sizeof *hk);
  if (hk == NULL) {
    return CP_ENOMEM;
  }
  hk->clock = clock;
  hk->refs = 1;
  pthread_mutex_init(&hk->mu, NULL);
  cpi_cond_init_monotonic(&hk->cv);
  if (pthread_create(&hk->thread, NULL, housekeeper_main, hk) != 0) {
    pthread_cond_destroy(&hk->cv);
    pthread_mutex_destroy(&hk->mu);
    free(hk);
    return CP_ESYS;
  }
  *out = hk;
  return 0;
}

int cpi_housekeeper_acquire(const cp_clock *clock, cpi_housekeeper **out) {
  if (clock == cp_clock_system()) {
    clock = NULL; /* one thread for the two names of the system clock */
  }
  if (clock != NULL) {
    cpi_clock_set_moved_hook(clock_moved);
  }
  int rc = 0;
  pthread_mutex_lock(&registry_mu);
  cpi_housekeeper *hk = registry;
  while (hk != NULL && hk->clock != clock) {
    hk = hk->next;
  }
  if (hk != NULL) {
    hk->refs++;
  } else {
    rc = start(clock, &hk);
    if (rc == 0) {
      hk->next = registry;
      registry = hk;
    }
  }
  pthread_mutex_unlock(&registry_mu);
  *out = rc == 0 ? hk : NULL;
  return rc;
}

void cpi_housekeeper_release(cpi_housekeeper *hk) {
  if (hk == NULL) {
    return;
  }
  pthread_mutex_lock(&registry_mu);
  bool last = --hk->refs == 0;
  if (last) {
    cpi_housekeeper **link = &registry;
    while (*link != hk) {
      link = &(*link)->next;
    }
    *link = hk->next;
  }
  pthread_mutex_unlock(&registry_mu);
  if (!last) {
    return;
  }
  pthread_mutex_lock(&hk->mu);
  hk->stop = true;
  pthread_cond_broadcast(&hk->cv);
  pthread_mutex_unlock(&hk->mu);
  pthread_join(hk->thread, NULL);
  free(hk->heap);
  pthread_cond_destroy(&hk->cv);
  pthread_mutex_destroy(&hk->mu);
  free(hk);
}

size_t cpi_housekeeper_threads(void) {
  size_t n = 0;
  pthread_mutex_lock(&registry_mu);
  for (cpi_housekeeper *hk = registry; hk != NULL; hk = hk->next) {
    n++;
  }
  pthread_mutex_unlock(&registry_mu);
  return n;
}

/* --- timers -------------------------------------------------------------- */

void cpi_timer_init(cpi_timer *timer, cpi_housekeeper *hk, cpi_timer_fn fn,
                    void *user) {
  timer->hk = hk;
  timer->fn = fn;
  timer->user = user;
  timer->due_ns = 0;
  timer->slot = CPI_TIMER_IDLE;
}

int cpi_timer_arm(cpi_timer *t, int64_t delay_ns) {
  cpi_housekeeper *hk = t->hk;
  int64_t now = now_ns(hk);
  int64_t due = cpi_time_after_ns(now, delay_ns);
  int rc = 0;
  pthread_mutex_lock(&hk->mu);
  if (t->slot != CPI_TIMER_IDLE) {
    if (due < t->due_ns) {
      t->due_ns = due;
      sift_up(hk, t->slot);
    }
  } else if (hk->count == hk->cap) {
    size_t cap = hk->cap == 0 ? 8 : hk->cap * 2;
    cpi_timer **grown = realloc(hk->heap, cap * sizeof *grown);
    if (grown == NULL) {
      rc = CP_ENOMEM;
    } else {
      hk->heap = grown;
      hk->cap = cap;
    }
  }
  if (rc == 0 && t->slot == CPI_TIMER_IDLE) {
    t->due_ns = due;
    hk->heap[hk->count] = t;
    t->slot = hk->count++;
    sift_up(hk, t->slot);
  }
  if (rc == 0 && t->slot == 0) {
    pthread_cond_broadcast(&hk->cv); /* a new first timer */
  }
  pthread_mutex_unlock(&hk->mu);
  return rc;
}

void cpi_timer_cancel(cpi_timer *t) {
  cpi_housekeeper *hk = t->hk;
  if (hk == NULL) {
    return; /* never initialised */
  }
  pthread_mutex_lock(&hk->mu);
  for (;;) {
    if (t->slot != CPI_TIMER_IDLE) {
      heap_remove(hk, t); /* also when the callback just re-armed it */
    }
    if (hk->running != t || current == hk) {
      break;
    }
    pthread_cond_wait(&hk->cv, &hk->mu);
  }
  pthread_mutex_unlock(&hk->mu);
}
