/* The self-registering plugin runtime's state, shared by its parts
 * (internal): the public API and routed clients (plugin_runtime.c), the
 * handshake (runtime_handshake.c) and the supervising thread that joins,
 * renews and recovers (runtime_supervisor.c).
 *
 * Locks, never nested except rt->mu before cred_mu and sup_mu:
 *   mu      dependency states, routes, `lost`, the arena; held during the
 *           health report so reports go out in order;
 *   cred_mu the current credentials (read by every call's interceptor);
 *   sup_mu  the supervisor's wake-up flags (with sup_cv). */
#ifndef CPLUGIN_PLUGIN_RUNTIME_INTERNAL_H
#define CPLUGIN_PLUGIN_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "cplugin/client.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/tokens.h"

enum {
  RT_MAX_PROVIDES = 32,
  RT_MAX_REQUIRES = 32,
  RT_MAX_ROUTES = 32,
  RT_MAX_CAPABILITIES = 16,
  RT_CALL_TIMEOUT_MS = 10000,
  RT_REGISTRATION_ID_MAX = 64,
  RT_PROVIDER_ID_MAX = 160,
  RT_BEARER_MAX = 8 + CP_TOKEN_LEN + 1 /* "Bearer <token>" */
};

typedef struct rt_dependency {
  cp_plugin_runtime *rt;
  const char *type;
  bool required;
  bool available; /* rt->mu */
  char provider_id[RT_PROVIDER_ID_MAX];
  cp_client_stream *watch;
  pthread_t thread;
  bool thread_started;
  /* Set before the runtime cancels the stream itself: the end of the
   * stream is then no sign of a lost host. */
  atomic_bool closing;
} rt_dependency;

typedef struct rt_route {
  cp_plugin_runtime *rt;
  const char *type;
  cp_client *client;
} rt_route;

/* A capability client (runtime_capability.c) and the grant its calls
 * carry. */
typedef struct rt_capability {
  cp_plugin_runtime *rt;
  const char *type;        /* arena */
  const char *min_version; /* arena; "" = any */
  cp_client *client;
  pthread_mutex_t mu; /* the grant */
  bool has_grant;
  char grant_id[32];
  char bearer[8 + 64];                    /* "Bearer <grant token>" */
  char runtime_id[CP_RUNTIME_ID_MAX + 1]; /* whom it was issued to */
  int64_t refresh_at_ns;                  /* INT64_MAX: never */
} rt_capability;

struct cp_plugin_runtime {
  cp_arena mem; /* copied options, interned runtime IDs; rt->mu */
  cp_plugin_runtime_options opts; /* deep copy */
  const char *host;
  /* The supervisor's (and start's) channel: handshakes, registrations,
   * watches, health. Closed by stop to cut its calls short. */
  cp_client *ctl;
  cp_client *app; /* cp_plugin_runtime_host: the application's */

  pthread_mutex_t cred_mu;
  bool has_creds;
  char id[CP_RUNTIME_ID_MAX + 1];
  char bearer[RT_BEARER_MAX];
  _Atomic(const char *) public_id; /* interned copy of id, until stop */
  int64_t ttl_ms;                  /* 0 = the host stated none */

  /* Written by whoever registers (a join: start, then the supervisor; or
   * cpi_rt_register_held), under reg_mu. While registrations_held, a join
   * registers nothing: the plugin is not ready for calls yet. */
  pthread_mutex_t reg_mu;
  bool registrations_held;
  char registrations[RT_MAX_PROVIDES][RT_REGISTRATION_ID_MAX];
  size_t registration_count;
  rt_dependency deps[RT_MAX_REQUIRES];
  size_t dep_count;
  int64_t renew_at_ns; /* 0 = no renewal scheduled */

  pthread_mutex_t mu;
  rt_route routes[RT_MAX_ROUTES];
  size_t route_count;
  pthread_mutex_t cap_mu; /* the capability list; taken alone */
  rt_capability capabilities[RT_MAX_CAPABILITIES];
  size_t capability_count;
  bool lost;

  pthread_mutex_t sup_mu;
  pthread_cond_t sup_cv; /* CLOCK_MONOTONIC */
  bool stopping;
  bool suspect;     /* a call saw UNAUTHENTICATED: check now */
  bool watch_ended; /* a watch stream ended on its own */
  pthread_t sup;
  bool sup_started;
  bool launch_published; /* Model A: the info is published (until stop) */
  uint64_t jitter_state;
};

/* --- credentials (plugin_runtime.c) --- */
/* Installs id/token as the current identity (interning a new ID). */
int cpi_rt_set_creds(cp_plugin_runtime *rt, const char *id, const char *token);
/* Forgets the identity: calls carry none until the next cpi_rt_set_creds. */
void cpi_rt_clear_creds(cp_plugin_runtime *rt);
/* Copies the current runtime ID; false when there is none. */
bool cpi_rt_current_id(cp_plugin_runtime *rt, char out[CP_RUNTIME_ID_MAX + 1]);

/* A new client to the host (its connector, or a channel to rt->host) with
 * one interceptor; 0 or an error of the client. */
int cpi_rt_host_client(cp_plugin_runtime *rt, cp_client **out,
                       cp_client_interceptor_fn fn,
                       cp_client_async_interceptor_fn async_fn, void *user);

/* --- capabilities (runtime_capability.c) --- */
/* Frees the capability clients (at stop). */
void cpi_rt_capabilities_free(cp_plugin_runtime *rt);

/* --- handshake (runtime_handshake.c) --- */
typedef struct rt_identity {
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  int64_t ttl_ms;  /* 0 = not stated */
  int64_t sent_ns; /* when the request left: the token is no older */
} rt_identity;

/* A plain handshake (renew_id NULL; the call must carry no identity) or a
 * renewal of `renew_id` (the call carries the current identity). Checks the
 * answer; 0 or CP_ERPC / CP_ENOMEM with `st` filled. */
int cpi_rt_handshake(cp_plugin_runtime *rt, const char *renew_id,
                     rt_identity *out, cp_status *st);

/* --- joining and supervision (runtime_supervisor.c) --- */
/* Joins the host: renews the identity if there is one, else handshakes for
 * a new one; registers, (re)opens the watches, reports health. */
int cpi_rt_join(cp_plugin_runtime *rt, cp_status *st);
/* Joins with an identity the runtime did not handshake for (the launcher's,
 * Model A): adopts it (wiping ident->token; renewal at half of ttl_ms from
 * sent_ns), registers, opens the watches, reports health. */
int cpi_rt_join_adopted(cp_plugin_runtime *rt, rt_identity *ident,
                        cp_status *st);
/* cp_plugin_runtime_start, except that the provided services are not
 * registered until cpi_rt_register_held: the caller first prepares what
 * their handlers need (cp_plugin_serve's on_started), so that the host
 * routes no call to a plugin that is not ready. */
int cpi_plugin_runtime_start_held(cp_plugin_runtime **out,
                                  const cp_plugin_runtime_options *opts,
                                  cp_status *status);
/* Ends the hold and registers every provided service now (a recovery
 * meanwhile registers them too; registration is idempotent). 0, or the
 * failed registration's CP_ERPC with `st` filled. */
int cpi_rt_register_held(cp_plugin_runtime *rt, cp_status *st);
/* Reports health (rt->mu held); returns the call's status code. */
cp_status_code cpi_rt_report_health_locked(cp_plugin_runtime *rt);
/* The one place the host's address is read from the environment: the
 * launcher's variable (when non-empty) first, then the self-registering
 * one; NULL when neither is set. Also cp_plugin_serve's test for a host. */
const char *cpi_rt_host_from_env(void);
int cpi_rt_supervisor_start(cp_plugin_runtime *rt);
/* Stops the supervisor and every watch (their streams cancelled). */
void cpi_rt_supervisor_stop(cp_plugin_runtime *rt);
/* A call saw a status that may mean the host no longer accepts us. */
void cpi_rt_note_status(cp_plugin_runtime *rt, cp_status_code code,
                        bool host_call);

#endif /* CPLUGIN_PLUGIN_RUNTIME_INTERNAL_H */
