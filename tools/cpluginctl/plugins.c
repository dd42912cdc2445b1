/* Simulated plugins: handshake, clients, connection warm-up. */
#include "plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "grpc/health/v1/health.cplugin.h"
#include "signals.h"

enum {
  HANDSHAKE_TIMEOUT_MS = 5000,
  HANDSHAKE_RETRY_FOR_MS = 30000,
  HANDSHAKE_BACKOFF_MS = 100,
  WARMUP_TIMEOUT_MS = 5000
};

/* One handshake, retried while the host answers RESOURCE_EXHAUSTED (its
 * per-address handshake limit). */
static int handshake(ctl_sim_plugin *p, const char *target,
                     const cp_tls_client_options *tls, const char *self_id,
                     char *err, size_t err_len) {
  int64_t give_up = ctl_now_ns() + (int64_t)HANDSHAKE_RETRY_FOR_MS * 1000000;
  for (;;) {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    o.endpoint = target;
    o.tls = tls;
    o.self_id = self_id;
    o.handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
    cp_plugin_client *pc = NULL;
    cp_status st;
    cp_status_clear(&st);
    int rc = cp_plugin_client_create(&pc, &o);
    if (rc == 0) {
      rc = cp_plugin_client_connect(pc, &st);
    }
    if (rc == 0) {
      const char *id = cp_plugin_client_runtime_id(pc);
      const char *token = cp_plugin_client_runtime_token(pc);
      int n1 = id != NULL
                   ? snprintf(p->runtime_id, sizeof p->runtime_id, "%s", id)
                   : -1;
      int n2 = token != NULL
                   ? snprintf(p->bearer, sizeof p->bearer, "Bearer %s", token)
                   : -1;
      cp_plugin_client_destroy(pc);
      if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof p->runtime_id ||
          (size_t)n2 >= sizeof p->bearer) {
        snprintf(err, err_len,
                 "handshake with %s as \"%s\" issued no usable runtime "
                 "identity",
                 target, self_id);
        return -1;
      }
      return 0;
    }
    cp_plugin_client_destroy(pc);
    bool limited = rc == CP_ERPC && st.code == CP_STATUS_RESOURCE_EXHAUSTED;
    if (!limited || ctl_now_ns() > give_up) {
      snprintf(err, err_len, "handshake with %s as \"%s\" failed: %s%s%s%s",
               target, self_id,
               rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
               rc == CP_ERPC ? ": " : "", rc == CP_ERPC ? st.message : "",
               rc == CP_ERPC && st.code == CP_STATUS_UNAVAILABLE
                   ? " (is the target running?)"
                   : "");
      return -1;
    }
    if (ctl_stop_wait((int64_t)HANDSHAKE_BACKOFF_MS * 1000000)) {
      snprintf(err, err_len, "interrupted during the handshakes");
      return -1;
    }
  }
}

static int make_client(cp_client **out, const char *target,
                       const cp_tls_client_options *tls, cp_client_loop *loop) {
  cp_client_options o;
  cp_client_options_init(&o);
  o.dedicated_connection = true;
  o.tls = tls;
  o.loop = loop;
  return cp_client_create(out, target, &o);
}

/* Opens the connection: any answer will do (a provider without a health
 * service says UNIMPLEMENTED, which needs a connection too). */
static void warm_up(cp_client *client) {
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  Grpc__Health__V1__HealthCheckResponse *resp = NULL;
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = WARMUP_TIMEOUT_MS;
  cp_status st;
  cp_grpc__health__v1__health__check__call(client, &req, &resp, &opts, &st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
}

static int setup_one(ctl_sim_plugin *p, uint32_t index,
                     const ctl_plugins_options *o, int64_t start_ns, char *err,
                     size_t err_len) {
  char self_id[96];
  int64_t planned = 0;
  if (o->fleet != NULL) {
    /* Paced: join i is due at i/count of the ramp. */
    planned = start_ns + (int64_t)(o->ramp_s * 1e9 * index / o->count);
    int64_t wait = planned - ctl_now_ns();
    if (wait > 0 && ctl_stop_wait(wait)) {
      snprintf(err, err_len, "interrupted during the joins");
      return -1;
    }
  }
  snprintf(self_id, sizeof self_id, "%s-%u", o->id_prefix, index);
  cp_tls_client_options tls;
  cp_tls_client_options_init(&tls);
  tls.root_ca.path = o->host_tls_root;
  const cp_tls_client_options *host_tls =
      o->host_tls_root != NULL ? &tls : NULL;
  if (handshake(p, o->host_target, host_tls, self_id, err, err_len) != 0) {
    return -1;
  }
  int rc = make_client(&p->host, o->host_target, host_tls, o->loop);
  if (rc == 0 && o->provider_target != NULL) {
    rc = make_client(&p->provider, o->provider_target, NULL, o->loop);
  }
  if (rc != 0) {
    snprintf(err, err_len, "cannot create a client: %s", cp_strerror(rc));
    return -1;
  }
  p->host_md[0] = (cp_metadata){CP_MD_AUTHORIZATION, p->bearer};
  p->host_md[1] = (cp_metadata){CP_MD_RUNTIME_ID, p->runtime_id};
  p->host_md[2] = (cp_metadata){CP_MD_ROUTE_SERVICE_TYPE,
                                o->service_type != NULL ? o->service_type : ""};
  p->provider_md[0] = (cp_metadata){CP_MD_CALLER_ID, p->runtime_id};
  warm_up(p->host);
  if (p->provider != NULL) {
    warm_up(p->provider);
  }
  if (o->fleet != NULL) {
    /* The first member also provides what all of them watch. */
    if (ctl_fleet_join(&p->fleet, o->fleet, p->host, p->host_md, 2, index == 0,
                       self_id, err, err_len) != 0) {
      return -1;
    }
    ctl_hist_record(o->fleet->join, ctl_now_ns() - planned);
  }
  return 0;
}

int ctl_plugins_create(ctl_sim_plugin **out, const ctl_plugins_options *o,
                       char *err, size_t err_len) {
  *out = NULL;
  ctl_sim_plugin *plugins = calloc(o->count, sizeof *plugins);
  if (plugins == NULL) {
    snprintf(err, err_len, "out of memory for %u plugins", o->count);
    return -1;
  }
  int64_t start_ns = ctl_now_ns();
  if (o->fleet != NULL) {
    atomic_store(&o->fleet->start_ns, start_ns);
  }
  for (uint32_t i = 0; i < o->count; i++) {
    if (ctl_stop_wait(0)) {
      snprintf(err, err_len, "interrupted during the handshakes");
      ctl_plugins_destroy(plugins, o->count);
      return -1;
    }
    if (setup_one(&plugins[i], i, o, start_ns, err, err_len) != 0) {
      ctl_plugins_destroy(plugins, o->count);
      return -1;
    }
  }
  if (o->fleet != NULL) {
    atomic_store(&o->fleet->ramp_end_ns, ctl_now_ns());
    atomic_store(&o->fleet->phase, CTL_FLEET_HOLD);
  }
  *out = plugins;
  return 0;
}

void ctl_plugins_close(ctl_sim_plugin *plugins, uint32_t count) {
  /* Watches end from here on by request. Members join in order, so the
   * first has the fleet's counters if any member has. */
  if (plugins != NULL && count > 0 && plugins[0].fleet.stats != NULL) {
    atomic_store(&plugins[0].fleet.stats->phase, CTL_FLEET_CLOSING);
  }
  for (uint32_t i = 0; plugins != NULL && i < count; i++) {
    cp_client_close(plugins[i].host);
    cp_client_close(plugins[i].provider);
  }
}

void ctl_plugins_destroy(ctl_sim_plugin *plugins, uint32_t count) {
  if (plugins == NULL) {
    return;
  }
  ctl_plugins_close(plugins, count);
  for (uint32_t i = 0; i < count; i++) {
    ctl_fleet_member_end(&plugins[i].fleet);
    cp_client_destroy(plugins[i].host);
    cp_client_destroy(plugins[i].provider);
  }
  free(plugins);
}
