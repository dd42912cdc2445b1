/* Counting routed calls in flight per caller: a chained hash table of the
 * callers that have calls in flight now (an entry lives while its count is
 * above zero), under one mutex taken twice per routed call. */
#include "router/inflight.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

struct inflight_caller {
  inflight_caller *next;
  inflight_ticket *tickets; /* the calls in flight */
  size_t hash;
  size_t count;
  char id[];
};

enum { BUCKETS = 1024 };

static size_t hash_of(const char *s) {
  size_t h = 1469598103934665603ull; /* FNV-1a: keys are authenticated IDs */
  for (; *s != '\0'; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  }
  return h;
}

int cpi_inflight_init(inflight_table *t, size_t max_total,
                      size_t max_per_caller) {
  memset(t, 0, sizeof *t);
  t->buckets = calloc(BUCKETS, sizeof *t->buckets);
  if (t->buckets == NULL) {
    return CP_ENOMEM;
  }
  t->bucket_count = BUCKETS;
  t->max_total = max_total;
  t->max_per_caller = max_per_caller;
  pthread_mutex_init(&t->mu, NULL);
  return 0;
}

void cpi_inflight_destroy(inflight_table *t) {
  for (size_t i = 0; i < t->bucket_count; i++) {
    inflight_caller *c = t->buckets[i];
    while (c != NULL) {
      inflight_caller *next = c->next;
      free(c);
      c = next;
    }
  }
  free(t->buckets);
  pthread_mutex_destroy(&t->mu);
  memset(t, 0, sizeof *t);
}

/* With t->mu held: the entry of `caller`, or NULL. */
static inflight_caller *find_caller(inflight_table *t, const char *caller,
                                    size_t h) {
  inflight_caller *c = t->buckets[h & (t->bucket_count - 1)];
  while (c != NULL && (c->hash != h || strcmp(c->id, caller) != 0)) {
    c = c->next;
  }
  return c;
}

inflight_verdict cpi_inflight_acquire(inflight_table *t, const char *caller,
                                      inflight_ticket *ticket) {
  size_t h = hash_of(caller);
  inflight_caller **head = &t->buckets[h & (t->bucket_count - 1)];
  inflight_verdict v = INFLIGHT_OK;
  pthread_mutex_lock(&t->mu);
  inflight_caller *c = find_caller(t, caller, h);
  if (t->total >= t->max_total) {
    v = INFLIGHT_TOTAL_FULL;
  } else if (c != NULL && c->count >= t->max_per_caller) {
    v = INFLIGHT_CALLER_FULL;
  } else if (c == NULL) {
    size_t len = strlen(caller);
    c = malloc(sizeof *c + len + 1);
    if (c == NULL) {
      v = INFLIGHT_NOMEM;
    } else {
      c->hash = h;
      c->count = 0;
      c->tickets = NULL;
      memcpy(c->id, caller, len + 1);
      c->next = *head;
      *head = c;
    }
  }
  if (v == INFLIGHT_OK) {
    c->count++;
    t->total++;
    ticket->caller = c;
    ticket->prev = NULL;
    ticket->next = c->tickets;
    if (c->tickets != NULL) {
      c->tickets->prev = ticket;
    }
    c->tickets = ticket;
  }
  pthread_mutex_unlock(&t->mu);
  return v;
}

void cpi_inflight_release(inflight_table *t, inflight_ticket *ticket) {
  inflight_caller *slot = ticket->caller;
  pthread_mutex_lock(&t->mu);
  if (ticket->prev != NULL) {
    ticket->prev->next = ticket->next;
  } else {
    slot->tickets = ticket->next;
  }
  if (ticket->next != NULL) {
    ticket->next->prev = ticket->prev;
  }
  t->total--;
  if (--slot->count == 0) {
    inflight_caller **p = &t->buckets[slot->hash & (t->bucket_count - 1)];
    while (*p != slot) {
      p = &(*p)->next;
    }
    *p = slot->next;
    free(slot);
  }
  pthread_mutex_unlock(&t->mu);
}

size_t cpi_inflight_cancel_caller(inflight_table *t, const char *caller,
                                  void (*cancel)(void *call)) {
  size_t n = 0;
  pthread_mutex_lock(&t->mu);
  inflight_caller *c = find_caller(t, caller, hash_of(caller));
  for (inflight_ticket *k = c != NULL ? c->tickets : NULL; k != NULL;
       k = k->next) {
    cancel(k->call);
    n++;
  }
  pthread_mutex_unlock(&t->mu);
  return n;
}

size_t cpi_inflight_total(inflight_table *t) {
  pthread_mutex_lock(&t->mu);
  size_t n = t->total;
  pthread_mutex_unlock(&t->mu);
  return n;
}
