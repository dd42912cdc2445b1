/* What a change of an instance's process means for the plugin: a ready
 * process gets its identity, an exited one loses it. Only the plugin's
 * current instance sets the state the plugin shows; a replacement still
 * starting, or a replaced one stopping, keeps to its own identity. */
#include <stdio.h>
#include <string.h>

#include "cplugin/log.h"
#include "platform/launcher_internal.h"

void cpi_lplugin_set(lplugin *p, cp_plugin_run_state state,
                     const char *reason) {
  pthread_mutex_lock(&p->l->mu);
  p->state = state;
  snprintf(p->reason, sizeof p->reason, "%s", reason != NULL ? reason : "");
  pthread_mutex_unlock(&p->l->mu);
  cpi_lobserve_publish(p);
}

/* l->mu held. */
static void show_locked(linstance *in, cp_plugin_run_state state,
                        const char *reason) {
  if (in->p->cur == in) {
    in->p->state = state;
    snprintf(in->p->reason, sizeof in->p->reason, "%s",
             reason != NULL ? reason : "");
  }
}

void cpi_lplugin_show(linstance *in, cp_plugin_run_state state,
                      const char *reason) {
  pthread_mutex_lock(&in->p->l->mu);
  bool current = in->p->cur == in;
  show_locked(in, state, reason);
  pthread_mutex_unlock(&in->p->l->mu);
  if (current) {
    cpi_lobserve_publish(in->p);
  }
}

/* The process is gone (or going): so is its identity, and with it its
 * registrations; watchers of its services hear it now, not at a lease. */
static void drop_identity(linstance *in, cp_plugin_run_state state,
                          const char *reason) {
  cp_launcher *l = in->p->l;
  char id[CP_RUNTIME_ID_MAX + 1];
  pthread_mutex_lock(&l->mu);
  snprintf(id, sizeof id, "%s", in->runtime_id);
  in->runtime_id[0] = '\0';
  show_locked(in, state, reason);
  pthread_mutex_unlock(&l->mu);
  if (id[0] != '\0') {
    (void)cp_token_store_revoke(l->tokens, id);
  }
}

static void target_of(const proc_endpoint *ep, char *out, size_t cap) {
  snprintf(out, cap, "%s%s", ep->network == PROC_NETWORK_UNIX ? "unix:" : "",
           ep->address);
}

static void on_ready(linstance *in, const proc_endpoint *ep) {
  cp_launcher *l = in->p->l;
  char target[LAUNCHER_TARGET_MAX];
  target_of(ep, target, sizeof target);
  char id[CP_RUNTIME_ID_MAX + 1] = "";
  char err[LAUNCHER_REASON_MAX + 1] = "";
  int rc = cpi_lidentity_establish(in, target, id, err, sizeof err);
  if (rc == 0) {
    pthread_mutex_lock(&l->mu);
    snprintf(in->runtime_id, sizeof in->runtime_id, "%s", id);
    snprintf(in->target, sizeof in->target, "%s", target);
    show_locked(in, CP_PLUGIN_RUNNING, "running");
    pthread_mutex_unlock(&l->mu);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)cpi_sup_pid(in->sup));
    cp_log(CP_LOG_INFO, "plugin running", "plugin", in->p->m->name,
           "runtime_id", id, "endpoint", target, "pid", pid, CP_LOG_END);
    return;
  }
  cp_log(CP_LOG_ERROR, "plugin identity failed", "plugin", in->p->m->name,
         "error", err, CP_LOG_END);
  if (atomic_load(&in->starting)) {
    in->start_rc = rc;
    snprintf(in->start_err, sizeof in->start_err, "%s", err);
    return;
  }
  /* A restarted process that cannot join counts as a crash. */
  (void)cpi_sup_report_unhealthy(in->sup, err);
}

void cpi_lplugin_on_state(linstance *in, sup_state state, const char *reason,
                          const proc_endpoint *endpoint) {
  switch (state) {
    case SUP_STARTING:
      pthread_mutex_lock(&in->p->l->mu);
      bool current = in->p->cur == in;
      show_locked(in, CP_PLUGIN_STARTING, reason);
      pthread_mutex_unlock(&in->p->l->mu);
      if (current && !atomic_load(&in->starting)) {
        cpi_lobserve_restart(in->p);
      }
      break;
    case SUP_READY:
      on_ready(in, endpoint);
      break;
    case SUP_BACKOFF:
      drop_identity(in, CP_PLUGIN_BACKOFF, reason);
      break;
    case SUP_FAILED:
      drop_identity(in, CP_PLUGIN_FAILED, reason);
      break;
    case SUP_STOPPED:
      drop_identity(in, CP_PLUGIN_STOPPED, reason);
      break;
    case SUP_CREATED:
    default:
      break;
  }
  cpi_lobserve_publish(in->p);
}
