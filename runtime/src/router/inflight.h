/* Routed calls in flight, in total and per caller (internal). A call takes
 * a slot before it is forwarded and gives it back when the forward ends, so
 * one caller cannot hold all of the host's forwarding capacity. */
#ifndef CPLUGIN_ROUTER_INFLIGHT_H
#define CPLUGIN_ROUTER_INFLIGHT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct inflight_caller inflight_caller;

/* One routed call in flight, linked to its caller's entry (the caller owns
 * the memory, e.g. in the call's arena, until cpi_inflight_release). */
typedef struct inflight_ticket {
  struct inflight_ticket *prev;
  struct inflight_ticket *next;
  inflight_caller *caller;
  void *call; /* what `cancel` is given */
} inflight_ticket;

typedef struct inflight_table {
  pthread_mutex_t mu;
  inflight_caller **buckets;
  size_t bucket_count; /* a power of two */
  size_t total;
  size_t max_total;
  size_t max_per_caller;
} inflight_table;

typedef enum inflight_verdict {
  INFLIGHT_OK,
  INFLIGHT_TOTAL_FULL,
  INFLIGHT_CALLER_FULL,
  INFLIGHT_NOMEM
} inflight_verdict;

/* Returns 0 or CP_ENOMEM. Both caps are > 0. */
int cpi_inflight_init(inflight_table *t, size_t max_total,
                      size_t max_per_caller);
void cpi_inflight_destroy(inflight_table *t);

/* Takes a slot for `caller` and links `ticket` (its `call` set by the
 * caller) to it. Thread-safe. */
inflight_verdict cpi_inflight_acquire(inflight_table *t, const char *caller,
                                      inflight_ticket *ticket);

/* Unlinks the ticket and gives the slot back. Thread-safe. */
void cpi_inflight_release(inflight_table *t, inflight_ticket *ticket);

/* Calls cancel(ticket->call) for every call of `caller` in flight, under
 * the table's lock (so no ticket is released meanwhile; cancel must not
 * block or call back into the table). Returns how many. Thread-safe. */
size_t cpi_inflight_cancel_caller(inflight_table *t, const char *caller,
                                  void (*cancel)(void *call));

/* Calls in flight now. Thread-safe. */
size_t cpi_inflight_total(inflight_table *t);

#endif /* CPLUGIN_ROUTER_INFLIGHT_H */
