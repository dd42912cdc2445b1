/* Model A: the host gives a launched plugin its identity. Every call to the
 * plugin carries the launch secret, which only this host and the process
 * know; the plugin serves PluginIdentity and PluginControl to nobody else. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/plugin_runtime.h"
#include "platform/launcher_internal.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "plugin/v1/plugininfo.cplugin.h"
#include "core/semver.h"

/* One call's timeout inside the identity step (the step's own deadline
 * bounds the whole). */
#define CALL_TIMEOUT_MS 2000
/* Waits between polls of a plugin that is not there yet: short at first,
 * because a plugin usually joins within milliseconds of its handshake. */
#define POLL_FIRST_MS 2
#define POLL_MAX_MS 100

#define TTL_METADATA CP_LAUNCH_TOKEN_TTL_METADATA

typedef struct step {
  linstance *in;
  lplugin *p;
  lpoll wait; /* the step's deadline and polls */
  cp_client *client;
  cp_metadata md[2];
  char ttl[24];
  cp_call_options call;
} step;

void cpi_lpoll_init(lpoll *w, cp_launcher *l, sup *process,
                    int64_t timeout_ms) {
  w->l = l;
  w->process = process;
  w->deadline_ns =
      cpi_time_after_ns(cpi_clock_monotonic_ns(), cpi_ms_to_ns(timeout_ms));
  w->next_ms = POLL_FIRST_MS;
}

int64_t cpi_lpoll_remaining_ms(const lpoll *w) {
  int64_t left = (w->deadline_ns - cpi_clock_monotonic_ns()) / 1000000;
  return left > 0 ? left : 0;
}

bool cpi_lpoll_again(lpoll *w) {
  if (atomic_load(&w->l->stopping) ||
      (w->process != NULL && cpi_sup_pid(w->process) == 0)) {
    return false;
  }
  int64_t left = cpi_lpoll_remaining_ms(w);
  if (left == 0) {
    return false;
  }
  int64_t ms = w->next_ms < left ? w->next_ms : left;
  cpi_sleep_ns(ms * 1000000);
  w->next_ms = w->next_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : w->next_ms * 2;
  return true;
}

static void set_timeout(step *s) {
  int64_t left = cpi_lpoll_remaining_ms(&s->wait);
  s->call.timeout_ms =
      left < CALL_TIMEOUT_MS ? (left > 0 ? left : 1) : CALL_TIMEOUT_MS;
}

static int step_open(step *s, linstance *in, const char *target,
                     int64_t timeout_ms) {
  memset(s, 0, sizeof *s);
  s->in = in;
  s->p = in->p;
  cpi_lpoll_init(&s->wait, in->p->l, in->sup, timeout_ms);
  s->md[0].key = CP_LAUNCH_SECRET_METADATA;
  s->md[0].value = in->secret;
  cp_call_options_init(&s->call);
  s->call.metadata = s->md;
  s->call.metadata_count = 1;
  return cp_client_create(&s->client, target, NULL);
}

/* GetPluginInfo until the plugin's runtime has published its info. */
static int get_info(step *s, Connectplugin__V1__GetPluginInfoResponse **info,
                    char *err, size_t errlen) {
  Connectplugin__V1__GetPluginInfoRequest req =
      CONNECTPLUGIN__V1__GET_PLUGIN_INFO_REQUEST__INIT;
  cp_status st;
  for (;;) {
    set_timeout(s);
    int rc = cp_connectplugin__v1__plugin_identity__get_plugin_info__call(
        s->client, &req, info, &s->call, &st);
    if (rc == 0) {
      return 0;
    }
    /* UNAVAILABLE: its runtime has not started yet (or the connection is
     * still being made). */
    if (st.code != CP_STATUS_UNAVAILABLE || !cpi_lpoll_again(&s->wait)) {
      snprintf(err, errlen, "GetPluginInfo: %s: %s",
               cp_status_code_name(st.code), st.message);
      return st.code == CP_STATUS_UNAVAILABLE ? CP_ETIMEDOUT : CP_ERPC;
    }
  }
}

/* Whether a routable provider satisfies `dep` now. */
static bool provided(cp_registry *reg,
                     const Connectplugin__V1__ServiceDependency *dep) {
  cp_registry_endpoint *ep = malloc(sizeof *ep);
  if (ep == NULL) {
    return false;
  }
  bool ok = cp_registry_resolve(reg, dep->type, NULL, ep) == 0;
  if (ok && dep->min_version != NULL && dep->min_version[0] != '\0') {
    ok = cpi_semver_valid(ep->version) &&
         cpi_semver_compare(ep->version, dep->min_version) >= 0;
  }
  free(ep);
  return ok;
}

static int check_info(lplugin *p,
                      const Connectplugin__V1__GetPluginInfoResponse *info,
                      char *err, size_t errlen) {
  if (strcmp(info->self_id, p->m->name) != 0) {
    snprintf(err, errlen,
             "answered GetPluginInfo as \"%.64s\", the manifest says \"%s\"",
             info->self_id, p->m->name);
    return CP_EDENIED;
  }
  /* What the dependency graph ordered the start by must be what the
   * plugin registers: said now rather than after the identity timeout. */
  for (size_t i = 0; i < p->m->provides_count; i++) {
    const char *type = p->m->provides[i].type;
    size_t j = 0;
    while (j < info->n_provides && strcmp(info->provides[j]->type, type) != 0) {
      j++;
    }
    if (j == info->n_provides) {
      snprintf(err, errlen,
               "the manifest says it provides \"%.128s\", its GetPluginInfo "
               "does not",
               type);
      return CP_EINVAL;
    }
  }
  for (size_t i = 0; i < info->n_requires; i++) {
    const Connectplugin__V1__ServiceDependency *dep = info->requires[i];
    if (dep->required_for_startup && !provided(p->l->reg, dep)) {
      snprintf(err, errlen,
               "requires service \"%.128s\" (min version \"%.64s\"), which no "
               "running plugin provides",
               dep->type, dep->min_version);
      return CP_ENOTFOUND;
    }
  }
  return 0;
}

static int hand_over(step *s, const char *runtime_id, const char *token,
                     char *err, size_t errlen) {
  Connectplugin__V1__SetRuntimeIdentityRequest req =
      CONNECTPLUGIN__V1__SET_RUNTIME_IDENTITY_REQUEST__INIT;
  req.runtime_id = (char *)runtime_id;
  req.runtime_token = (char *)token;
  req.host_url = s->p->l->host_url;
  snprintf(s->ttl, sizeof s->ttl, "%" PRId64,
           cp_token_store_ttl_ms(s->p->l->tokens));
  s->md[1].key = TTL_METADATA;
  s->md[1].value = s->ttl;
  s->call.metadata_count = 2;
  set_timeout(s);
  Connectplugin__V1__SetRuntimeIdentityResponse *resp = NULL;
  cp_status st;
  int rc = cp_connectplugin__v1__plugin_identity__set_runtime_identity__call(
      s->client, &req, &resp, &s->call, &st);
  s->call.metadata_count = 1;
  if (rc != 0) {
    snprintf(err, errlen, "SetRuntimeIdentity: %s: %s",
             cp_status_code_name(st.code), st.message);
    return CP_ERPC;
  }
  bool ack = resp->acknowledged;
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  if (!ack) {
    snprintf(err, errlen, "SetRuntimeIdentity not acknowledged");
    return CP_EDENIED;
  }
  return 0;
}

static const char *health_name(cp_plugin_health h) {
  switch (h) {
    case CP_PLUGIN_HEALTH_HEALTHY:
      return "HEALTHY";
    case CP_PLUGIN_HEALTH_DEGRADED:
      return "DEGRADED";
    case CP_PLUGIN_HEALTH_UNHEALTHY:
      return "UNHEALTHY";
    default:
      return "no report";
  }
}

/* The first type of the manifest's "provides" that runtime_id has not
 * registered yet, or NULL once all are. */
static const char *unregistered(cp_registry *reg, const lplugin *p,
                                const char *runtime_id,
                                cp_registry_endpoint *ep) {
  for (size_t i = 0; i < p->m->provides_count; i++) {
    const char *type = p->m->provides[i].type;
    if (cp_registry_resolve(reg, type, runtime_id, ep) != 0) {
      return type;
    }
  }
  return NULL;
}

int cpi_lwait_ready(lpoll *w, const lplugin *p, const char *runtime_id,
                    char *err, size_t errlen) {
  cp_plugin_health_report *r = malloc(sizeof *r);
  cp_registry_endpoint *ep = malloc(sizeof *ep);
  if (r == NULL || ep == NULL) {
    free(r);
    free(ep);
    return CP_ENOMEM;
  }
  const char *missing = NULL;
  for (;;) {
    if (cp_registry_get_health(w->l->reg, runtime_id, r) != 0) {
      r->state = CP_PLUGIN_HEALTH_UNKNOWN;
      r->reason[0] = '\0';
    }
    if (r->state == CP_PLUGIN_HEALTH_HEALTHY) {
      missing = unregistered(w->l->reg, p, runtime_id, ep);
      if (missing == NULL) {
        free(r);
        free(ep);
        return 0;
      }
    }
    if (!cpi_lpoll_again(w)) {
      break;
    }
  }
  if (missing != NULL) {
    snprintf(err, errlen,
             "did not register \"%.128s\", which the manifest says it "
             "provides, within the identity timeout",
             missing);
  } else {
    snprintf(
        err, errlen, "not HEALTHY within the identity timeout (%s%s%.128s)",
        health_name(r->state), r->reason[0] != '\0' ? ": " : "", r->reason);
  }
  free(r);
  free(ep);
  return CP_ETIMEDOUT;
}

int cpi_lidentity_establish(linstance *in, const char *target,
                            char runtime_id[CP_RUNTIME_ID_MAX + 1], char *err,
                            size_t errlen) {
  lplugin *p = in->p;
  step s;
  int rc = step_open(&s, in, target, p->l->identity_timeout_ms);
  if (rc != 0) {
    snprintf(err, errlen, "cannot create a client for %s: %s", target,
             cp_strerror(rc));
    return rc;
  }
  Connectplugin__V1__GetPluginInfoResponse *info = NULL;
  rc = get_info(&s, &info, err, errlen);
  if (rc == 0) {
    rc = check_info(p, info, err, errlen);
    protobuf_c_message_free_unpacked(&info->base, NULL);
  }
  char token[CP_TOKEN_LEN + 1];
  bool issued = false;
  if (rc == 0) {
    rc = cp_token_store_issue_for(p->l->tokens, p->m->name, in->principal,
                                  runtime_id, CP_RUNTIME_ID_MAX + 1, token);
    issued = rc == 0;
    if (rc != 0) {
      snprintf(err, errlen, "cannot issue an identity: %s", cp_strerror(rc));
    }
  }
  if (rc == 0) {
    rc = hand_over(&s, runtime_id, token, err, errlen);
  }
  if (rc == 0) {
    rc = cpi_lwait_ready(&s.wait, p, runtime_id, err, errlen);
  }
  if (rc != 0 && issued) {
    /* Its registrations go with it. */
    (void)cp_token_store_revoke(p->l->tokens, runtime_id);
    runtime_id[0] = '\0';
  }
  cp_client_destroy(s.client);
  return rc;
}

bool cpi_lidentity_request_shutdown(linstance *in, const char *target,
                                    int64_t grace_ms) {
  lplugin *p = in->p;
  step s;
  if (step_open(&s, in, target, CALL_TIMEOUT_MS) != 0) {
    return false;
  }
  Connectplugin__V1__ShutdownRequest req =
      CONNECTPLUGIN__V1__SHUTDOWN_REQUEST__INIT;
  req.grace_period_seconds = (int32_t)((grace_ms + 999) / 1000);
  req.reason = "host stopping";
  Connectplugin__V1__ShutdownResponse *resp = NULL;
  cp_status st;
  set_timeout(&s);
  bool ack = false;
  if (cp_connectplugin__v1__plugin_control__shutdown__call(
          s.client, &req, &resp, &s.call, &st) == 0) {
    ack = resp->acknowledged;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  } else {
    cp_log(CP_LOG_DEBUG, "plugin did not take Shutdown", "plugin", p->m->name,
           "status", cp_status_code_name(st.code), CP_LOG_END);
  }
  cp_client_destroy(s.client);
  return ack;
}
