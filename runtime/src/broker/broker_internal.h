/* The broker's parts (internal):
 *   broker.c          the object, its capabilities, grants' lifetimes,
 *                     metrics
 *   broker_request.c  RequestCapability
 *   broker_route.c    capability calls: the grant check (auth provider)
 *                     and the forward to the capability server
 *   logger_capability.c  the logger capability */
#ifndef CPLUGIN_BROKER_BROKER_INTERNAL_H
#define CPLUGIN_BROKER_BROKER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "broker/grants.h"
#include "cplugin/broker.h"
#include "cplugin/client.h"

enum { BROKER_MAX_CAPABILITIES = 64 };

typedef enum broker_refusal {
  BROKER_REFUSED_NOT_FOUND,
  BROKER_REFUSED_LIMIT,
  BROKER_REFUSED_UNAUTHENTICATED,
  BROKER_REFUSALS
} broker_refusal;

/* One capability: its own server (no listener), so a grant reaches only
 * that capability's methods and a slow capability holds only its own
 * threads, and the client the forwards go through (socketpairs, dialled
 * again when closed). */
typedef struct broker_cap {
  cp_capability def;
  char endpoint[GRANT_TYPE_MAX + 16]; /* "/capabilities/<type>" */
  cp_server *server; /* NULL: a plugin provides it (the router) */
  cp_client *client;
} broker_cap;

struct cp_broker {
  cp_token_store *tokens;
  bool subscribed;
  grant_table *grants;
  broker_cap *caps[BROKER_MAX_CAPABILITIES]; /* sorted by type */
  size_t cap_count;
  bool started;
  cp_counter *refused[BROKER_REFUSALS];
  const cp_clock *clock;
  cp_router *router; /* for capabilities plugins provide */
};

/* The capability of `type`, or NULL. */
broker_cap *cpi_broker_find(const cp_broker *b, const char *type);

/* Counts a refusal (metrics). */
void cpi_broker_refused(cp_broker *b, broker_refusal why);

/* Now on the broker's clock (nanoseconds). */
int64_t cpi_broker_now_ns(const cp_broker *b);

#endif /* CPLUGIN_BROKER_BROKER_INTERNAL_H */
