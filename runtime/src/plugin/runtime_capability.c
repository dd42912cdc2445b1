/* Capability clients: a client to the host whose calls carry a grant for
 * one capability (the metadata form of cplugin/broker.h), asked for with
 * the runtime's identity and asked for again when it nears its end, when
 * the identity changed, or after the host refused it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/broker.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"
#include "plugin/runtime_internal.h"
#include "plugin/v1/broker.cplugin.h"

/* Asks the host for a grant (c->mu held); 0 or CP_ERPC / CP_ENOTFOUND with
 * st set. */
static int request_locked(rt_capability *c, cp_status *st) {
  cp_plugin_runtime *rt = c->rt;
  char id[CP_RUNTIME_ID_MAX + 1];
  if (!cpi_rt_current_id(rt, id)) {
    cp_status_set(st, CP_STATUS_UNAVAILABLE, "the runtime has no identity");
    return CP_ERPC;
  }
  Connectplugin__V1__RequestCapabilityRequest req =
      CONNECTPLUGIN__V1__REQUEST_CAPABILITY_REQUEST__INIT;
  req.capability_type = (char *)c->type;
  req.min_version = (char *)c->min_version;
  req.reason = (char *)rt->opts.self_id;
  cp_trailers *trailers = NULL;
  if (cp_trailers_create(&trailers) != 0) {
    cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = RT_CALL_TIMEOUT_MS;
  o.trailers = trailers;
  Connectplugin__V1__RequestCapabilityResponse *resp = NULL;
  int rc = cp_connectplugin__v1__capability_broker__request_capability__call(
      rt->ctl, &req, &resp, &o, st);
  const Connectplugin__V1__CapabilityGrant *g =
      resp != NULL ? resp->grant : NULL;
  if (rc == 0 && (g == NULL || strlen(g->grant_id) >= sizeof c->grant_id ||
                  strlen(g->bearer_token) + 8 >= sizeof c->bearer)) {
    cp_status_set(st, CP_STATUS_INTERNAL, "the host answered no usable grant");
    rc = CP_ERPC;
  }
  if (rc == 0) {
    snprintf(c->grant_id, sizeof c->grant_id, "%s", g->grant_id);
    snprintf(c->bearer, sizeof c->bearer, "Bearer %s", g->bearer_token);
    snprintf(c->runtime_id, sizeof c->runtime_id, "%s", id);
    const char *ttl = cp_trailers_get(trailers, CP_MD_GRANT_TTL_MS, NULL);
    long long ms = ttl != NULL ? strtoll(ttl, NULL, 10) : 0;
    /* Asked again at half its lifetime; without one stated, only when
     * refused. */
    c->refresh_at_ns =
        ms > 0 ? cpi_time_after_ns(cp_clock_now_ns(NULL), cpi_ms_to_ns(ms) / 2)
               : INT64_MAX;
    c->has_grant = true;
  } else if (st->code == CP_STATUS_NOT_FOUND) {
    rc = CP_ENOTFOUND;
  }
  if (resp != NULL) {
    cpi_secure_zero(
        resp->grant != NULL ? resp->grant->bearer_token : NULL,
        resp->grant != NULL ? strlen(resp->grant->bearer_token) : 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  cp_trailers_destroy(trailers);
  return rc;
}

/* The grant to send now, asked for first if needed; copies it out. */
static int current_grant(rt_capability *c, char *grant_id, char *bearer,
                         char *runtime_id, cp_status *st) {
  char id[CP_RUNTIME_ID_MAX + 1];
  bool has_id = cpi_rt_current_id(c->rt, id);
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  if (!c->has_grant || cp_clock_now_ns(NULL) >= c->refresh_at_ns || !has_id ||
      strcmp(id, c->runtime_id) != 0) {
    c->has_grant = false;
    rc = request_locked(c, st);
  }
  if (rc == 0) {
    memcpy(grant_id, c->grant_id, sizeof c->grant_id);
    memcpy(bearer, c->bearer, sizeof c->bearer);
    memcpy(runtime_id, c->runtime_id, sizeof c->runtime_id);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* A refused grant is not sent again. */
static void note(rt_capability *c, cp_status_code code) {
  if (code == CP_STATUS_UNAUTHENTICATED) {
    pthread_mutex_lock(&c->mu);
    c->has_grant = false;
    pthread_mutex_unlock(&c->mu);
  }
}

static int attach(cp_invocation *inv, rt_capability *c) {
  char grant_id[sizeof c->grant_id];
  char bearer[sizeof c->bearer];
  char runtime_id[sizeof c->runtime_id];
  cp_status st;
  cp_status_clear(&st);
  if (current_grant(c, grant_id, bearer, runtime_id, &st) != 0) {
    char why[CP_STATUS_MESSAGE_MAX + 160];
    snprintf(why, sizeof why, "no grant for capability %s: %s", c->type,
             st.message);
    return cp_invocation_fail(inv, st.code, why);
  }
  int rc = cp_invocation_add_metadata(inv, CP_MD_CAPABILITY_GRANT, grant_id);
  if (rc == 0) {
    rc = cp_invocation_add_metadata(inv, CP_MD_CAPABILITY_TYPE, c->type);
  }
  if (rc == 0) {
    rc = cp_invocation_add_metadata(inv, CP_MD_RUNTIME_ID, runtime_id);
  }
  if (rc == 0) {
    rc = cp_invocation_add_metadata(inv, CP_MD_AUTHORIZATION, bearer);
  }
  cpi_secure_zero(bearer, sizeof bearer);
  return rc == 0 ? 0
                 : cp_invocation_fail(inv, CP_STATUS_INTERNAL,
                                      "cannot attach the grant");
}

static int with_grant(cp_invocation *inv, void *user) {
  rt_capability *c = user;
  int rc = attach(inv, c);
  if (rc != 0) {
    return rc;
  }
  rc = cp_invocation_proceed(inv);
  note(c, cp_invocation_status(inv)->code);
  return rc;
}

static void with_grant_done(cp_invocation *inv, int rc, void *arg) {
  note(arg, cp_invocation_status(inv)->code);
  cp_invocation_complete(inv, rc);
}

static void with_grant_async(cp_invocation *inv, void *user) {
  int rc = attach(inv, user);
  if (rc != 0) {
    cp_invocation_complete(inv, rc);
  } else {
    cp_invocation_proceed_async(inv, with_grant_done, user);
  }
}

int cp_plugin_runtime_capability(cp_plugin_runtime *rt, const char *type,
                                 const char *min_version, cp_client **out,
                                 cp_status *st) {
  cp_status scratch;
  if (st == NULL) {
    st = &scratch;
  }
  cp_status_clear(st);
  if (out != NULL) {
    *out = NULL;
  }
  if (rt == NULL || type == NULL || type[0] == '\0' || out == NULL) {
    cp_status_set(st, CP_STATUS_INVALID_ARGUMENT, "bad arguments");
    return CP_EINVAL;
  }
  /* Not rt->mu: the first grant is asked for under this lock, and rt->mu
   * orders the health reports. */
  pthread_mutex_lock(&rt->cap_mu);
  rt_capability *c = NULL;
  for (size_t i = 0; i < rt->capability_count && c == NULL; i++) {
    if (strcmp(rt->capabilities[i].type, type) == 0) {
      c = &rt->capabilities[i];
    }
  }
  int rc = 0;
  if (c != NULL) {
    *out = c->client;
  } else if (rt->capability_count == RT_MAX_CAPABILITIES) {
    cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED,
                  "at most %d capabilities per runtime", RT_MAX_CAPABILITIES);
    rc = CP_ELIMIT;
  } else {
    c = &rt->capabilities[rt->capability_count];
    c->rt = rt;
    const char *min = min_version != NULL ? min_version : "";
    pthread_mutex_lock(&rt->mu); /* the arena */
    c->type = cpi_arena_strndup(&rt->mem, type, strlen(type));
    c->min_version = cpi_arena_strndup(&rt->mem, min, strlen(min));
    pthread_mutex_unlock(&rt->mu);
    pthread_mutex_init(&c->mu, NULL);
    rc = c->type == NULL || c->min_version == NULL ? CP_ENOMEM : 0;
    if (rc == 0) {
      /* The first grant now: a capability the host lacks fails here. */
      pthread_mutex_lock(&c->mu);
      rc = request_locked(c, st);
      pthread_mutex_unlock(&c->mu);
    }
    if (rc == 0) {
      rc = cpi_rt_host_client(rt, &c->client, with_grant, with_grant_async, c);
    }
    if (rc == 0) {
      rt->capability_count++;
      *out = c->client;
    } else {
      cp_client_destroy(c->client);
      pthread_mutex_destroy(&c->mu);
      cpi_secure_zero(c, sizeof *c);
    }
  }
  pthread_mutex_unlock(&rt->cap_mu);
  return rc;
}

void cpi_rt_capabilities_free(cp_plugin_runtime *rt) {
  for (size_t i = 0; i < rt->capability_count; i++) {
    rt_capability *c = &rt->capabilities[i];
    cp_client_destroy(c->client);
    pthread_mutex_destroy(&c->mu);
    cpi_secure_zero(c->bearer, sizeof c->bearer);
  }
  rt->capability_count = 0;
}
