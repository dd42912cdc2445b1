/* The health state shared by health.c (statuses, the C API) and
 * health_service.c (Check and Watch of both protocols) (internal).
 *
 * h->mu guards everything but `serving`, which is read lock-free. Watch
 * messages are offered under h->mu and sent by cpi_push_hub_flush after it
 * is released (push/push.h). */
#ifndef CPLUGIN_HEALTH_HEALTH_INTERNAL_H
#define CPLUGIN_HEALTH_HEALTH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cplugin/health.h"
#include "push/push.h"

typedef struct health_service {
  char *name;
  cp_serving_status status;
} health_service;

/* Which protocol a watcher speaks (the message type it is sent). */
typedef enum health_proto {
  HEALTH_PROTO_CONNECT = 0, /* connectplugin.health.v1 */
  HEALTH_PROTO_GRPC = 1     /* grpc.health.v1 */
} health_proto;

typedef struct health_watcher {
  struct health_watcher *next;
  cp_push *push;
  health_proto proto;
  char *name;
  char *anonymous_from; /* the caller's address when it had no identity */
} health_watcher;

struct cp_health {
  pthread_mutex_t mu;
  health_service *services;
  size_t count;
  size_t max_services;
  health_watcher *watchers;
  size_t watcher_count;
  size_t max_watchers;
  size_t max_anonymous_per_address;
  bool shut_down;
  atomic_bool serving;
  cp_push_hub *hub;
};

/* With h->mu held: the entry for `name`, or NULL. Inline, so that the
 * service (health_service.c) depends on the table's layout only, never on
 * health.c, which calls into it. */
static inline health_service *cpi_health_find(cp_health *h, const char *name) {
  for (size_t i = 0; i < h->count; i++) {
    if (strcmp(h->services[i].name, name) == 0) {
      return &h->services[i];
    }
  }
  return NULL;
}

/* With h->mu held: offers `status` of `name` to its watchers. */
void cpi_health_notify_locked(cp_health *h, const char *name,
                              cp_serving_status status);

/* Ends every watcher (UNAVAILABLE); for destroy. */
void cpi_health_end_watchers(cp_health *h);

#endif /* CPLUGIN_HEALTH_HEALTH_INTERNAL_H */
