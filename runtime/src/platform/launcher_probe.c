/* Finding hung plugins: a process that still runs but no longer answers.
 * Every health_interval_ms the probe thread asks each running process
 * plugin PluginControl/GetHealth (with its launch secret, the interval as
 * the deadline); health_misses failures in a row - no answer, an error
 * other than UNIMPLEMENTED (a plugin without PluginControl), or UNHEALTHY -
 * make the supervisor kill it, and its restart policy goes on
 * as after a crash. An answer resets the count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "platform/launcher_internal.h"
#include "plugin/v1/lifecycle.cplugin.h"

/* What the probe knows of one plugin (the probe thread's alone). */
typedef struct probe_slot {
  cp_client *client;
  char target[LAUNCHER_TARGET_MAX];
  linstance *in; /* compared, never dereferenced outside l->mu */
  unsigned generations;
  uint32_t misses;
} probe_slot;

/* One GetHealth; true when the plugin answered and is not UNHEALTHY. */
static bool ask(cp_launcher *l, probe_slot *s, const char *secret) {
  cp_metadata md = {CP_LAUNCH_SECRET_METADATA, secret};
  cp_call_options co;
  cp_call_options_init(&co);
  co.metadata = &md;
  co.metadata_count = 1;
  co.timeout_ms = l->health_interval_ms;
  Connectplugin__V1__GetHealthRequest req =
      CONNECTPLUGIN__V1__GET_HEALTH_REQUEST__INIT;
  Connectplugin__V1__GetHealthResponse *resp = NULL;
  cp_status st;
  if (cp_connectplugin__v1__plugin_control__get_health__call(
          s->client, &req, &resp, &co, &st) != 0) {
    /* A plugin that serves no PluginControl still answered. */
    return st.code == CP_STATUS_UNIMPLEMENTED;
  }
  bool ok =
      resp->state != CONNECTPLUGIN__V1__HEALTH_STATE__HEALTH_STATE_UNHEALTHY;
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return ok;
}

static void probe_one(cp_launcher *l, lplugin *p, probe_slot *s) {
  char secret[CP_RANDOM_TOKEN_CHARS + 1];
  char target[LAUNCHER_TARGET_MAX];
  pthread_mutex_lock(&l->mu);
  linstance *in = p->cur;
  bool probe = p->def == NULL && in != NULL && p->state == CP_PLUGIN_RUNNING &&
               in->runtime_id[0] != '\0';
  if (probe) {
    memcpy(secret, in->secret, sizeof secret);
    snprintf(target, sizeof target, "%s", in->target);
  }
  unsigned generations = p->generations;
  pthread_mutex_unlock(&l->mu);
  if (!probe) {
    s->misses = 0;
    return;
  }
  if (s->in != in || s->generations != generations) {
    s->in = in;
    s->generations = generations;
    s->misses = 0;
  }
  if (s->client == NULL || strcmp(s->target, target) != 0) {
    cp_client_destroy(s->client);
    s->client = NULL;
    if (cp_client_create(&s->client, target, NULL) != 0) {
      return;
    }
    snprintf(s->target, sizeof s->target, "%s", target);
  }
  if (ask(l, s, secret)) {
    s->misses = 0;
    return;
  }
  if (++s->misses < l->health_misses) {
    return;
  }
  s->misses = 0;
  char reason[96];
  snprintf(reason, sizeof reason,
           "health probe failed %u times in a row: hung, killing it",
           l->health_misses);
  pthread_mutex_lock(&l->mu);
  /* Still the same process generation: not replaced meanwhile. */
  if (p->cur == in && p->generations == generations &&
      p->state == CP_PLUGIN_RUNNING) {
    (void)cpi_sup_report_unhealthy(in->sup, reason);
  }
  pthread_mutex_unlock(&l->mu);
}

static void *probe_main(void *arg) {
  cp_launcher *l = arg;
  /* Room for the plugins added later too. */
  probe_slot *slots = calloc(LAUNCHER_MAX_PLUGINS, sizeof *slots);
  pthread_mutex_lock(&l->probe_mu);
  while (slots != NULL && !l->probe_stop) {
    struct timespec next = cpi_monotonic_after_ms(l->health_interval_ms);
    while (!l->probe_stop &&
           pthread_cond_timedwait(&l->probe_cv, &l->probe_mu, &next) == 0) {
    }
    if (l->probe_stop) {
      break;
    }
    pthread_mutex_unlock(&l->probe_mu);
    for (size_t i = 0; i < l->count && !atomic_load(&l->stopping); i++) {
      probe_one(l, &l->plugins[i], &slots[i]);
    }
    pthread_mutex_lock(&l->probe_mu);
  }
  pthread_mutex_unlock(&l->probe_mu);
  for (size_t i = 0; slots != NULL && i < l->count; i++) {
    cp_client_destroy(slots[i].client);
  }
  free(slots);
  return NULL;
}

int cpi_lprobe_start(cp_launcher *l) {
  if (l->health_interval_ms == 0) {
    return 0;
  }
  if (pthread_create(&l->probe_thread, NULL, probe_main, l) != 0) {
    cp_log(CP_LOG_ERROR, "cannot start the plugin health probe", CP_LOG_END);
    return CP_ESYS;
  }
  l->probe_started = true;
  return 0;
}

void cpi_lprobe_stop(cp_launcher *l) {
  if (!l->probe_started) {
    return;
  }
  pthread_mutex_lock(&l->probe_mu);
  l->probe_stop = true;
  pthread_cond_broadcast(&l->probe_cv);
  pthread_mutex_unlock(&l->probe_mu);
  pthread_join(l->probe_thread, NULL);
  l->probe_started = false;
}
