/* PluginControl (plugin side): GetHealth answers the plugin's own state;
 * Shutdown acknowledges, then stops the server on a thread of its own and
 * wakes the plugin's main loop. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/monotonic_cond.h"
#include "core/validate.h"
#include "cplugin/errors.h"
#include "cplugin/lifecycle.h"
#include "cplugin/log.h"
#include "plugin/v1/lifecycle.cplugin.h"

/* How long the shutdown thread waits for the Shutdown answer to leave
 * before it stops the server anyway. */
#define ACK_WAIT_MS 1000

typedef struct report {
  cp_plugin_health state;
  char *reason;
  char **deps;
  size_t dep_count;
} report;

struct cp_plugin_control {
  cp_plugin_control_options opts;
  cp_server *server;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  report health;
  bool requested;
  bool acked; /* the Shutdown call that requested it has completed */
  bool done;
  bool thread_started;
  pthread_t thread;
  int64_t grace_ms;
  char *reason;
};

void cp_plugin_control_options_init(cp_plugin_control_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_grace_ms = 300000;
}

static void report_free(report *r) {
  for (size_t i = 0; i < r->dep_count; i++) {
    free(r->deps[i]);
  }
  free(r->deps);
  free(r->reason);
  memset(r, 0, sizeof *r);
}

int cp_plugin_control_create(cp_plugin_control **out,
                             const cp_plugin_control_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_plugin_control *ctl = calloc(1, sizeof *ctl);
  if (ctl == NULL) {
    return CP_ENOMEM;
  }
  if (opts != NULL) {
    ctl->opts = *opts;
  } else {
    cp_plugin_control_options_init(&ctl->opts);
  }
  if (ctl->opts.max_grace_ms < 0) {
    free(ctl);
    return CP_EINVAL;
  }
  ctl->health.state = CP_PLUGIN_HEALTH_HEALTHY;
  ctl->health.reason = strdup("");
  if (ctl->health.reason == NULL) {
    free(ctl);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&ctl->mu, NULL);
  cpi_cond_init_monotonic(&ctl->cv);
  *out = ctl;
  return 0;
}

void cp_plugin_control_destroy(cp_plugin_control *ctl) {
  if (ctl == NULL) {
    return;
  }
  pthread_mutex_lock(&ctl->mu);
  bool join = ctl->thread_started;
  ctl->acked = true; /* no need to wait for an answer any more */
  pthread_cond_broadcast(&ctl->cv);
  pthread_mutex_unlock(&ctl->mu);
  if (join) {
    pthread_join(ctl->thread, NULL);
  }
  report_free(&ctl->health);
  free(ctl->reason);
  pthread_cond_destroy(&ctl->cv);
  pthread_mutex_destroy(&ctl->mu);
  free(ctl);
}

int cp_plugin_control_set_health(cp_plugin_control *ctl, cp_plugin_health state,
                                 const char *reason,
                                 const char *const *dependencies,
                                 size_t dependency_count) {
  char why[128];
  if (ctl == NULL ||
      cpi_check_health_report((int)state, reason, dependencies,
                              dependency_count, why, sizeof why) != NULL) {
    return CP_EINVAL;
  }
  report r = {state, strdup(reason != NULL ? reason : ""), NULL, 0};
  r.deps =
      dependency_count > 0 ? calloc(dependency_count, sizeof *r.deps) : NULL;
  bool ok = r.reason != NULL && (dependency_count == 0 || r.deps != NULL);
  for (; ok && r.dep_count < dependency_count; r.dep_count++) {
    r.deps[r.dep_count] = strdup(dependencies[r.dep_count]);
    ok = r.deps[r.dep_count] != NULL;
  }
  if (!ok) {
    report_free(&r);
    return CP_ENOMEM;
  }
  pthread_mutex_lock(&ctl->mu);
  report old = ctl->health;
  ctl->health = r;
  pthread_mutex_unlock(&ctl->mu);
  report_free(&old);
  return 0;
}

static cp_status_code on_get_health(
    cp_call *call, const Connectplugin__V1__GetHealthRequest *req,
    Connectplugin__V1__GetHealthResponse *resp, void *user) {
  (void)req;
  cp_plugin_control *ctl = user;
  cp_status_code code = CP_STATUS_OK;
  pthread_mutex_lock(&ctl->mu);
  const report *h = &ctl->health;
  resp->state = (Connectplugin__V1__HealthState)h->state;
  resp->reason = cp_call_strdup(call, h->reason);
  resp->n_unavailable_dependencies = h->dep_count;
  if (h->dep_count > 0) {
    resp->unavailable_dependencies =
        cp_call_alloc(call, h->dep_count * sizeof(char *));
  }
  bool ok = resp->reason != NULL &&
            (h->dep_count == 0 || resp->unavailable_dependencies != NULL);
  for (size_t i = 0; ok && i < h->dep_count; i++) {
    resp->unavailable_dependencies[i] = cp_call_strdup(call, h->deps[i]);
    ok = resp->unavailable_dependencies[i] != NULL;
  }
  pthread_mutex_unlock(&ctl->mu);
  if (!ok) {
    code = cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return code;
}

/* The shutdown: health first (probes see it at once), then the server with
 * its grace period, then the plugin's callback and waiters. */
static void *shutdown_main(void *arg) {
  cp_plugin_control *ctl = arg;
  struct timespec until = cpi_monotonic_after_ms(ACK_WAIT_MS);
  pthread_mutex_lock(&ctl->mu);
  int rc = 0;
  while (!ctl->acked && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&ctl->cv, &ctl->mu, &until);
  }
  int64_t grace_ms = ctl->grace_ms;
  pthread_mutex_unlock(&ctl->mu);
  cp_log(CP_LOG_INFO, "plugin shutting down", "reason", ctl->reason,
         CP_LOG_END);
  if (ctl->opts.health != NULL) {
    cp_health_shutdown(ctl->opts.health);
  }
  cp_server_shutdown(ctl->server, grace_ms);
  if (ctl->opts.on_shutdown != NULL) {
    ctl->opts.on_shutdown(ctl->reason, grace_ms, ctl->opts.user);
  }
  pthread_mutex_lock(&ctl->mu);
  ctl->done = true;
  pthread_cond_broadcast(&ctl->cv);
  pthread_mutex_unlock(&ctl->mu);
  return NULL;
}

/* Starts the shutdown once; `acked` is false when an RPC must answer
 * first. */
static int begin(cp_plugin_control *ctl, int64_t grace_ms, const char *reason,
                 bool acked) {
  if (ctl->server == NULL) {
    return CP_ESTATE;
  }
  if (grace_ms > ctl->opts.max_grace_ms) {
    grace_ms = ctl->opts.max_grace_ms;
  }
  char *copy = strdup(reason != NULL ? reason : "");
  if (copy == NULL) {
    return CP_ENOMEM;
  }
  pthread_mutex_lock(&ctl->mu);
  int rc = 0;
  if (!ctl->requested) {
    ctl->requested = true;
    ctl->acked = acked;
    ctl->grace_ms = grace_ms;
    ctl->reason = copy;
    copy = NULL;
    if (pthread_create(&ctl->thread, NULL, shutdown_main, ctl) == 0) {
      ctl->thread_started = true;
    } else {
      ctl->requested = false;
      copy = ctl->reason;
      ctl->reason = NULL;
      rc = CP_ESYS;
    }
  }
  pthread_mutex_unlock(&ctl->mu);
  free(copy);
  return rc;
}

static cp_status_code on_shutdown(cp_call *call,
                                  const Connectplugin__V1__ShutdownRequest *req,
                                  Connectplugin__V1__ShutdownResponse *resp,
                                  void *user) {
  cp_plugin_control *ctl = user;
  if (req->grace_period_seconds < 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "grace_period_seconds: must not be negative");
  }
  if (strnlen(req->reason, CP_HEALTH_REPORT_REASON_MAX + 1) >
      CP_HEALTH_REPORT_REASON_MAX) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "reason: too long (max %d bytes)",
                         CP_HEALTH_REPORT_REASON_MAX);
  }
  int rc =
      begin(ctl, (int64_t)req->grace_period_seconds * 1000, req->reason, false);
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "cannot start shutdown: %s", cp_strerror(rc));
  }
  resp->acknowledged = true;
  return CP_STATUS_OK;
}

/* Lets the shutdown thread go once the Shutdown answer has been sent, so a
 * grace period of 0 does not cancel the acknowledgement itself. */
static void after_call(const cp_call *call, cp_status_code code,
                       int64_t duration_ns, void *user) {
  (void)code;
  (void)duration_ns;
  if (cp_call_method(call) !=
      &cp_connectplugin__v1__plugin_control__shutdown__method) {
    return;
  }
  cp_plugin_control *ctl = user;
  pthread_mutex_lock(&ctl->mu);
  if (ctl->requested && !ctl->acked) {
    ctl->acked = true;
    pthread_cond_broadcast(&ctl->cv);
  }
  pthread_mutex_unlock(&ctl->mu);
}

int cp_plugin_control_register(cp_plugin_control *ctl, cp_server *server) {
  if (ctl == NULL || server == NULL) {
    return CP_EINVAL;
  }
  if (ctl->server != NULL) {
    return CP_ESTATE;
  }
  static const cp_connectplugin__v1__plugin_control__handlers handlers = {
      .on_get_health = on_get_health,
      .on_shutdown = on_shutdown,
  };
  int rc =
      cp_connectplugin__v1__plugin_control__register(server, &handlers, ctl);
  if (rc == 0) {
    rc = cp_server_add_post_hook(server, after_call, ctl);
  }
  if (rc == 0) {
    ctl->server = server;
  }
  return rc;
}

int cp_plugin_control_shutdown(cp_plugin_control *ctl, int64_t grace_ms,
                               const char *reason) {
  if (ctl == NULL || grace_ms < 0) {
    return CP_EINVAL;
  }
  return begin(ctl, grace_ms, reason, true);
}

bool cp_plugin_control_shutdown_requested(cp_plugin_control *ctl) {
  pthread_mutex_lock(&ctl->mu);
  bool requested = ctl->requested;
  pthread_mutex_unlock(&ctl->mu);
  return requested;
}

int cp_plugin_control_wait(cp_plugin_control *ctl) {
  if (ctl == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&ctl->mu);
  while (!ctl->done) {
    pthread_cond_wait(&ctl->cv, &ctl->mu);
  }
  pthread_mutex_unlock(&ctl->mu);
  return 0;
}

int cp_plugin_control_wait_for(cp_plugin_control *ctl, int64_t timeout_ms) {
  if (ctl == NULL || timeout_ms < 0) {
    return CP_EINVAL;
  }
  struct timespec until = cpi_monotonic_after_ms(timeout_ms);
  pthread_mutex_lock(&ctl->mu);
  int rc = 0;
  while (!ctl->done && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&ctl->cv, &ctl->mu, &until);
  }
  bool done = ctl->done;
  pthread_mutex_unlock(&ctl->mu);
  return done ? 0 : CP_ETIMEDOUT;
}
