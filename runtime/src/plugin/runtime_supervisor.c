/* Joining the host and staying joined: register, watch, report health, and
 * the supervising thread that renews the identity before it expires and
 * recovers it when the host no longer accepts it. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "plugin/runtime_internal.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "plugin/v1/registry.cplugin.h"

static cp_call_options timeout_opts(void) {
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = RT_CALL_TIMEOUT_MS;
  return o;
}

static bool is_stopping(cp_plugin_runtime *rt) {
  pthread_mutex_lock(&rt->sup_mu);
  bool stopping = rt->stopping;
  pthread_mutex_unlock(&rt->sup_mu);
  return stopping;
}

/* Statuses of a host call that mean the host may no longer accept us (or is
 * gone): the supervisor checks. Routed calls only count UNAUTHENTICATED (an
 * UNAVAILABLE there is the provider's). */
void cpi_rt_note_status(cp_plugin_runtime *rt, cp_status_code code,
                        bool host_call) {
  if (code != CP_STATUS_UNAUTHENTICATED &&
      !(host_call && code == CP_STATUS_UNAVAILABLE)) {
    return;
  }
  pthread_mutex_lock(&rt->sup_mu);
  rt->suspect = true;
  pthread_cond_signal(&rt->sup_cv);
  pthread_mutex_unlock(&rt->sup_mu);
}

/* --- health --------------------------------------------------------------- */

cp_status_code cpi_rt_report_health_locked(cp_plugin_runtime *rt) {
  char *missing[RT_MAX_REQUIRES];
  size_t n = 0;
  for (size_t i = 0; i < rt->dep_count; i++) {
    if (rt->deps[i].required && !rt->deps[i].available) {
      missing[n++] = (char *)rt->deps[i].type;
    }
  }
  Connectplugin__V1__ReportHealthRequest req =
      CONNECTPLUGIN__V1__REPORT_HEALTH_REQUEST__INIT;
  req.state = n == 0 ? CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_HEALTHY
                     : CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_DEGRADED;
  char reason[256] = "";
  if (n > 0) {
    snprintf(reason, sizeof reason, "%s dependency not available", missing[0]);
  }
  req.reason = reason;
  req.unavailable_dependencies = missing;
  req.n_unavailable_dependencies = n;
  cp_call_options o = timeout_opts();
  Connectplugin__V1__ReportHealthResponse *resp = NULL;
  cp_status st;
  int rc = cp_connectplugin__v1__plugin_lifecycle__report_health__call(
      rt->ctl, &req, &resp, &o, &st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  if (rc != 0 && st.code != CP_STATUS_CANCELLED) {
    cp_log(CP_LOG_WARN, "health report failed", "code",
           cp_status_code_name(st.code), CP_LOG_END);
  }
  return rc == 0 ? CP_STATUS_OK : st.code;
}

/* --- watches -------------------------------------------------------------- */

static void signal_watch_ended(cp_plugin_runtime *rt) {
  pthread_mutex_lock(&rt->sup_mu);
  rt->watch_ended = true;
  pthread_cond_signal(&rt->sup_cv);
  pthread_mutex_unlock(&rt->sup_mu);
}

static void *watch_main(void *arg) {
  rt_dependency *d = arg;
  cp_plugin_runtime *rt = d->rt;
  for (;;) {
    Connectplugin__V1__WatchServiceEvent *ev = NULL;
    cp_status st;
    int rc = cp_connectplugin__v1__service_registry__watch_service__next(
        d->watch, &ev, &st);
    if (rc != 0) {
      break;
    }
    bool available =
        ev->state !=
            CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE &&
        ev->state !=
            CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNSPECIFIED;
    char provider[RT_PROVIDER_ID_MAX] = "";
    if (ev->endpoint != NULL) {
      snprintf(provider, sizeof provider, "%s", ev->endpoint->provider_id);
    }
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    pthread_mutex_lock(&rt->mu);
    bool changed =
        available != d->available || strcmp(provider, d->provider_id) != 0;
    d->available = available;
    snprintf(d->provider_id, sizeof d->provider_id, "%s", provider);
    if (changed && !is_stopping(rt) && !atomic_load(&d->closing)) {
      cpi_rt_note_status(rt, cpi_rt_report_health_locked(rt), true);
    }
    pthread_mutex_unlock(&rt->mu);
    if (changed && rt->opts.on_dependency != NULL) {
      rt->opts.on_dependency(d->type, available, provider, rt->opts.user);
    }
  }
  /* Not ended by us: the host went away or dropped our identity. */
  if (!atomic_load(&d->closing)) {
    signal_watch_ended(rt);
  }
  return NULL;
}

static void close_watches(cp_plugin_runtime *rt) {
  for (size_t i = 0; i < rt->dep_count; i++) {
    rt_dependency *d = &rt->deps[i];
    atomic_store(&d->closing, true);
    cp_client_stream_cancel(d->watch);
  }
  for (size_t i = 0; i < rt->dep_count; i++) {
    rt_dependency *d = &rt->deps[i];
    if (d->thread_started) {
      pthread_join(d->thread, NULL);
      d->thread_started = false;
    }
    cp_client_stream_destroy(d->watch);
    d->watch = NULL;
  }
}

static int open_watches(cp_plugin_runtime *rt, cp_status *st) {
  for (size_t i = 0; i < rt->dep_count; i++) {
    rt_dependency *d = &rt->deps[i];
    atomic_store(&d->closing, false);
    Connectplugin__V1__WatchServiceRequest req =
        CONNECTPLUGIN__V1__WATCH_SERVICE_REQUEST__INIT;
    req.service_type = (char *)d->type;
    cp_call_options o;
    cp_call_options_init(&o);
    int rc = cp_connectplugin__v1__service_registry__watch_service__start(
        rt->ctl, &req, &o, &d->watch, st);
    if (rc != 0) {
      d->watch = NULL;
      return rc;
    }
    d->thread_started = pthread_create(&d->thread, NULL, watch_main, d) == 0;
    if (!d->thread_started) {
      cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "cannot start a thread");
      return CP_ENOMEM;
    }
  }
  return 0;
}

/* --- joining -------------------------------------------------------------- */

/* Registration is idempotent on the host (same runtime, type and path: the
 * same registration), so joining again after a renewal re-creates only
 * what the host dropped. */
static int register_services_locked(cp_plugin_runtime *rt, cp_status *st) {
  rt->registration_count = 0;
  for (size_t i = 0; i < rt->opts.provides_count; i++) {
    const cp_service_decl *p = &rt->opts.provides[i];
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = (char *)p->type;
    req.version = (char *)p->version;
    req.endpoint_path = (char *)p->path;
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry base =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__METADATA_ENTRY__INIT;
    base.key = "base_url";
    base.value = (char *)rt->opts.base_url;
    Connectplugin__V1__RegisterServiceRequest__MetadataEntry *md[] = {&base};
    req.metadata = md;
    req.n_metadata = 1;
    cp_call_options o = timeout_opts();
    Connectplugin__V1__RegisterServiceResponse *resp = NULL;
    int rc = cp_connectplugin__v1__service_registry__register_service__call(
        rt->ctl, &req, &resp, &o, st);
    if (rc != 0) {
      return rc;
    }
    snprintf(rt->registrations[rt->registration_count++],
             RT_REGISTRATION_ID_MAX, "%s", resp->registration_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    cp_log(CP_LOG_INFO, "service registered", "type", p->type, "base_url",
           rt->opts.base_url, CP_LOG_END);
  }
  return 0;
}

static int register_services(cp_plugin_runtime *rt, cp_status *st) {
  pthread_mutex_lock(&rt->reg_mu);
  int rc = rt->registrations_held ? 0 : register_services_locked(rt, st);
  pthread_mutex_unlock(&rt->reg_mu);
  return rc;
}

int cpi_rt_register_held(cp_plugin_runtime *rt, cp_status *st) {
  pthread_mutex_lock(&rt->reg_mu);
  rt->registrations_held = false;
  int rc = register_services_locked(rt, st);
  pthread_mutex_unlock(&rt->reg_mu);
  if (rc != 0) {
    /* A host that no longer knows us: the supervisor rejoins, and now
     * registers too. */
    cpi_rt_note_status(rt, st->code, true);
  }
  return rc;
}

/* Renewal at half the stated lifetime, counted from when the handshake was
 * sent (the token cannot be older): the other half is the margin for a slow
 * or retried renewal. */
static int adopt(cp_plugin_runtime *rt, rt_identity *ident) {
  int rc = cpi_rt_set_creds(rt, ident->id, ident->token);
  memset(ident->token, 0, sizeof ident->token);
  rt->ttl_ms = ident->ttl_ms;
  rt->renew_at_ns =
      rt->ttl_ms > 0
          ? cpi_time_after_ns(ident->sent_ns, cpi_ms_to_ns(rt->ttl_ms) / 2)
          : 0;
  return rc;
}

/* Joins with `ident` (wiped): registers, opens the watches, reports
 * health. */
static int join_as(cp_plugin_runtime *rt, rt_identity *ident, cp_status *st) {
  int rc = adopt(rt, ident);
  if (rc == 0) {
    rc = register_services(rt, st);
  }
  if (rc == 0) {
    rc = open_watches(rt, st);
  }
  if (rc == 0) {
    pthread_mutex_lock(&rt->mu);
    cp_status_code code = cpi_rt_report_health_locked(rt);
    pthread_mutex_unlock(&rt->mu);
    if (code != CP_STATUS_OK) {
      cp_status_set(st, code, "health report failed");
      rc = CP_ERPC;
    }
  }
  return rc;
}

int cpi_rt_join(cp_plugin_runtime *rt, cp_status *st) {
  close_watches(rt);
  rt_identity ident;
  char current[CP_RUNTIME_ID_MAX + 1];
  bool renewed = false;
  if (cpi_rt_current_id(rt, current)) {
    int rc = cpi_rt_handshake(rt, current, &ident, st);
    if (rc == 0) {
      renewed = true;
    } else if (st->code != CP_STATUS_UNAUTHENTICATED) {
      return rc;
    }
  }
  if (!renewed) {
    /* A new identity: the handshake must carry no old token (it would
     * stand in for the API key's principal). */
    cpi_rt_clear_creds(rt);
    int rc = cpi_rt_handshake(rt, NULL, &ident, st);
    if (rc != 0) {
      return rc;
    }
  }
  return join_as(rt, &ident, st);
}

int cpi_rt_join_adopted(cp_plugin_runtime *rt, rt_identity *ident,
                        cp_status *st) {
  close_watches(rt);
  return join_as(rt, ident, st);
}

/* --- the supervising thread ----------------------------------------------- */

/* Backoff before retry `attempt` (0-based): initial doubling up to max,
 * times a jitter in [0.5, 1) so that plugins of one host spread out. */
static int64_t backoff_ns(cp_plugin_runtime *rt, unsigned attempt) {
  int64_t ms = rt->opts.backoff_initial_ms;
  for (unsigned i = 0; i < attempt && ms < rt->opts.backoff_max_ms; i++) {
    ms *= 2;
  }
  if (ms > rt->opts.backoff_max_ms) {
    ms = rt->opts.backoff_max_ms;
  }
  uint64_t x = rt->jitter_state; /* xorshift64 */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rt->jitter_state = x;
  double frac = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
  int64_t half = cpi_ms_to_ns(ms) / 2;
  return half + (int64_t)((double)half * frac);
}

static void tell(cp_plugin_runtime *rt, cp_host_link_state state) {
  if (rt->opts.on_host_state != NULL) {
    rt->opts.on_host_state(state, rt->opts.user);
  }
}

static bool set_lost(cp_plugin_runtime *rt, bool lost) {
  pthread_mutex_lock(&rt->mu);
  bool was = rt->lost;
  rt->lost = lost;
  pthread_mutex_unlock(&rt->mu);
  return was;
}

static bool lost_code(cp_status_code code) {
  return code == CP_STATUS_UNAUTHENTICATED || code == CP_STATUS_UNAVAILABLE ||
         code == CP_STATUS_DEADLINE_EXCEEDED;
}

typedef struct supervision {
  bool lost;
  unsigned attempt; /* failed recoveries or renewals in a row */
  int64_t next_try_ns;
  int64_t next_beat_ns;
} supervision;

/* Without the host no dependency is reachable: each counts as unavailable
 * until its re-opened watch tells otherwise. */
static void forget_dependencies(cp_plugin_runtime *rt) {
  bool was[RT_MAX_REQUIRES] = {false};
  size_t n = rt->dep_count; /* fixed at start */
  pthread_mutex_lock(&rt->mu);
  for (size_t i = 0; i < n; i++) {
    was[i] = rt->deps[i].available;
    rt->deps[i].available = false;
    rt->deps[i].provider_id[0] = '\0';
  }
  pthread_mutex_unlock(&rt->mu);
  for (size_t i = 0; i < n; i++) {
    if (was[i] && rt->opts.on_dependency != NULL) {
      rt->opts.on_dependency(rt->deps[i].type, false, "", rt->opts.user);
    }
  }
}

static void lose(cp_plugin_runtime *rt, supervision *s, const char *why) {
  if (!set_lost(rt, true)) {
    cp_log(CP_LOG_WARN, "host link lost", "reason", why, CP_LOG_END);
    tell(rt, CP_HOST_LINK_LOST);
    forget_dependencies(rt);
  }
  s->lost = true;
  s->attempt = 0;
  s->next_try_ns = cpi_clock_monotonic_ns(); /* the first try at once */
}

static void recover(cp_plugin_runtime *rt, supervision *s) {
  cp_status st;
  int rc = cpi_rt_join(rt, &st);
  int64_t now = cpi_clock_monotonic_ns();
  if (rc != 0) {
    if (!is_stopping(rt)) {
      cp_log(CP_LOG_DEBUG, "rejoining the host failed", "code",
             cp_status_code_name(st.code), CP_LOG_END);
    }
    s->next_try_ns = cpi_time_after_ns(now, backoff_ns(rt, s->attempt++));
    return;
  }
  s->lost = false;
  s->attempt = 0;
  s->next_beat_ns =
      cpi_time_after_ns(now, cpi_ms_to_ns(rt->opts.heartbeat_interval_ms));
  set_lost(rt, false);
  cp_log(CP_LOG_INFO, "host link restored", "runtime_id",
         cp_plugin_runtime_id(rt), CP_LOG_END);
  tell(rt, CP_HOST_LINK_RESTORED);
}

static void renew(cp_plugin_runtime *rt, supervision *s) {
  char current[CP_RUNTIME_ID_MAX + 1];
  if (!cpi_rt_current_id(rt, current)) {
    lose(rt, s, "no identity");
    return;
  }
  rt_identity ident;
  cp_status st;
  int rc = cpi_rt_handshake(rt, current, &ident, &st);
  if (rc == 0 && adopt(rt, &ident) == 0) {
    s->attempt = 0;
    tell(rt, CP_HOST_LINK_RENEWED);
    return;
  }
  if (rc != 0 && st.code == CP_STATUS_UNAUTHENTICATED) {
    lose(rt, s, "renewal refused");
    return;
  }
  /* Transient: try again soon; the token still has half its life. */
  rt->renew_at_ns =
      cpi_time_after_ns(cpi_clock_monotonic_ns(), backoff_ns(rt, s->attempt++));
}

static void beat(cp_plugin_runtime *rt, supervision *s) {
  pthread_mutex_lock(&rt->mu);
  cp_status_code code = cpi_rt_report_health_locked(rt);
  pthread_mutex_unlock(&rt->mu);
  s->next_beat_ns = cpi_time_after_ns(
      cpi_clock_monotonic_ns(), cpi_ms_to_ns(rt->opts.heartbeat_interval_ms));
  if (lost_code(code) && !is_stopping(rt)) {
    lose(rt, s, cp_status_code_name(code));
  }
}

/* With sup_mu held: waits until `deadline_ns` (INT64_MAX: a signal) or a
 * signal. */
static void wait_until(cp_plugin_runtime *rt, int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) {
    pthread_cond_wait(&rt->sup_cv, &rt->sup_mu);
    return;
  }
  struct timespec ts = cpi_monotonic_timespec(deadline_ns);
  (void)pthread_cond_timedwait(&rt->sup_cv, &rt->sup_mu, &ts);
}

static int64_t earliest(int64_t a, int64_t b) {
  return a < b ? a : b;
}

typedef enum action { NONE, LOSE, RECOVER, BEAT, RENEW } action;

/* With sup_mu held: what is due now, or (NONE) until when to sleep. */
static action next_action(cp_plugin_runtime *rt, const supervision *s,
                          int64_t *wake) {
  int64_t now = cpi_clock_monotonic_ns();
  *wake = INT64_MAX;
  if (s->lost) {
    if (now >= s->next_try_ns) {
      return RECOVER;
    }
    *wake = s->next_try_ns;
    return NONE;
  }
  if (rt->watch_ended) {
    return LOSE;
  }
  bool beats = rt->opts.heartbeat_interval_ms > 0;
  if (rt->suspect || (beats && now >= s->next_beat_ns)) {
    return BEAT;
  }
  if (rt->renew_at_ns != 0 && now >= rt->renew_at_ns) {
    return RENEW;
  }
  if (beats) {
    *wake = s->next_beat_ns;
  }
  if (rt->renew_at_ns != 0) {
    *wake = earliest(*wake, rt->renew_at_ns);
  }
  return NONE;
}

static void *supervise(void *arg) {
  cp_plugin_runtime *rt = arg;
  supervision s = {0};
  s.next_beat_ns = cpi_time_after_ns(
      cpi_clock_monotonic_ns(), cpi_ms_to_ns(rt->opts.heartbeat_interval_ms));
  pthread_mutex_lock(&rt->sup_mu);
  while (!rt->stopping) {
    int64_t wake = 0;
    action a = next_action(rt, &s, &wake);
    if (a == NONE) {
      wait_until(rt, wake);
      continue;
    }
    rt->suspect = false;
    rt->watch_ended = false;
    pthread_mutex_unlock(&rt->sup_mu);
    switch (a) {
      case LOSE:
        lose(rt, &s, "watch stream ended");
        break;
      case RECOVER:
        recover(rt, &s);
        break;
      case BEAT:
        beat(rt, &s);
        break;
      case RENEW:
        renew(rt, &s);
        break;
      case NONE:
        break;
    }
    pthread_mutex_lock(&rt->sup_mu);
  }
  pthread_mutex_unlock(&rt->sup_mu);
  return NULL;
}

int cpi_rt_supervisor_start(cp_plugin_runtime *rt) {
  rt->sup_started = pthread_create(&rt->sup, NULL, supervise, rt) == 0;
  return rt->sup_started ? 0 : CP_ENOMEM;
}

void cpi_rt_supervisor_stop(cp_plugin_runtime *rt) {
  pthread_mutex_lock(&rt->sup_mu);
  rt->stopping = true;
  pthread_cond_broadcast(&rt->sup_cv);
  pthread_mutex_unlock(&rt->sup_mu);
  /* Ends the watches and fails the supervisor's next call at once (a unary
   * call already in flight ends within its timeout; with the host gone it
   * fails fast). A backoff wait ends with the broadcast above. */
  cp_client_close(rt->ctl);
  if (rt->sup_started) {
    pthread_join(rt->sup, NULL);
    rt->sup_started = false;
  }
  close_watches(rt);
}
