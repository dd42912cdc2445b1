/* The broker object: its capabilities (sorted, for the handshake and for
 * lookups), its capability server, the grants' lifetimes (a revoked or
 * expired identity takes its grants along) and its metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "core/semver.h"

void cp_broker_options_init(cp_broker_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->grant_ttl_ms = 3600000;
  opts->max_grants = 4096;
  opts->max_grants_per_runtime = 16;
}

int64_t cpi_broker_now_ns(const cp_broker *b) {
  return cp_clock_now_ns(b->clock);
}

/* The runtime's identity is gone: so are its grants. */
static void on_identity_gone(const char *runtime_id, cp_token_event event,
                             void *user) {
  (void)event;
  cp_broker *b = user;
  size_t n = cpi_grant_revoke_runtime(b->grants, runtime_id);
  if (n > 0) {
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    cp_log(CP_LOG_INFO, "capability grants revoked", "runtime_id", runtime_id,
           "grants", count, CP_LOG_END);
  }
}

static int make_server(cp_server **out) {
  cp_server_options so;
  cp_server_options_init(&so);
  so.allow_no_listener = true;
  /* The host's threads read its connection: one more thread waiting on the
   * network would cost every call of the host a hand-off. */
  so.non_polling = true;
  /* Reached only by the broker's own client, which dials again anyway. */
  so.max_connection_idle_ms = 0;
  so.max_connection_age_ms = 0;
  return cp_server_create(out, &so);
}

static void free_cap(broker_cap *c) {
  if (c != NULL) {
    cp_client_destroy(c->client);
    cp_server_destroy(c->server);
    free(c);
  }
}

int cp_broker_create(cp_broker **out, cp_token_store *tokens,
                     const cp_broker_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_broker_options o;
  cp_broker_options_init(&o);
  if (opts != NULL) {
    o = *opts;
  }
  if (tokens == NULL || o.grant_ttl_ms < 1000 ||
      o.grant_ttl_ms > 7LL * 24 * 3600 * 1000 || o.max_grants == 0 ||
      o.max_grants > (size_t)1 << 20 || o.max_grants_per_runtime == 0 ||
      o.max_grants_per_runtime > o.max_grants) {
    return CP_EINVAL;
  }
  cp_broker *b = calloc(1, sizeof *b);
  if (b == NULL) {
    return CP_ENOMEM;
  }
  b->tokens = tokens;
  b->clock = o.clock;
  grant_limits lim = {o.grant_ttl_ms, o.max_grants, o.max_grants_per_runtime};
  int rc = cpi_grant_table_create(&b->grants, &lim);
  if (rc == 0) {
    rc = cp_token_store_subscribe(tokens, on_identity_gone, b);
    b->subscribed = rc == 0;
  }
  if (rc != 0) {
    cp_broker_destroy(b);
    return rc;
  }
  *out = b;
  return 0;
}

void cp_broker_shutdown(cp_broker *b, int64_t grace_ms) {
  for (size_t i = 0; b != NULL && b->started && i < b->cap_count; i++) {
    if (b->caps[i]->server != NULL) {
      (void)cp_server_shutdown(b->caps[i]->server, grace_ms);
    }
  }
}

void cp_broker_set_router(cp_broker *b, cp_router *router) {
  if (b != NULL) {
    b->router = router;
  }
}

void cp_broker_destroy(cp_broker *b) {
  if (b == NULL) {
    return;
  }
  if (b->subscribed) {
    (void)cp_token_store_unsubscribe(b->tokens, on_identity_gone, b);
  }
  cp_broker_shutdown(b, 0);
  for (size_t i = 0; i < b->cap_count; i++) {
    free_cap(b->caps[i]);
  }
  cpi_grant_table_destroy(b->grants);
  free(b);
}

/* Types are names in URL paths and metric labels: [a-z0-9._-]. */
static bool type_valid(const char *t) {
  size_t n = t != NULL ? strnlen(t, GRANT_TYPE_MAX + 1) : 0;
  if (n == 0 || n > GRANT_TYPE_MAX) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

broker_cap *cpi_broker_find(const cp_broker *b, const char *type) {
  for (size_t i = 0; i < b->cap_count; i++) {
    if (strcmp(b->caps[i]->def.type, type) == 0) {
      return b->caps[i];
    }
  }
  return NULL;
}

int cp_broker_add_capability(cp_broker *b, const cp_capability *cap) {
  if (b == NULL || cap == NULL || !type_valid(cap->type) ||
      cap->version == NULL || strlen(cap->version) > GRANT_VERSION_MAX ||
      !cpi_semver_valid(cap->version)) {
    return CP_EINVAL;
  }
  if (b->started) {
    return CP_ESTATE;
  }
  if (cpi_broker_find(b, cap->type) != NULL) {
    return CP_EEXIST;
  }
  if (b->cap_count == BROKER_MAX_CAPABILITIES) {
    return CP_ELIMIT;
  }
  broker_cap *c = calloc(1, sizeof *c);
  int rc = c != NULL ? 0 : CP_ENOMEM;
  /* Served here, or by a plugin through the router. */
  if (rc == 0 && cap->register_services != NULL) {
    rc = make_server(&c->server);
    if (rc == 0) {
      rc = cap->register_services(c->server, cap->user);
      rc = rc <= 0 ? rc : CP_EINVAL;
    }
  }
  if (rc != 0) {
    free_cap(c);
    return rc;
  }
  c->def = *cap;
  snprintf(c->endpoint, sizeof c->endpoint, "%s%s", CP_CAPABILITY_PATH_PREFIX,
           cap->type);
  /* Sorted by type: the handshake lists them in order. */
  size_t at = b->cap_count;
  while (at > 0 && strcmp(b->caps[at - 1]->def.type, cap->type) > 0) {
    b->caps[at] = b->caps[at - 1];
    at--;
  }
  b->caps[at] = c;
  b->cap_count++;
  return 0;
}

size_t cp_broker_capabilities(const cp_broker *b, cp_capability_info *out,
                              size_t cap) {
  if (b == NULL) {
    return 0;
  }
  for (size_t i = 0; out != NULL && i < b->cap_count && i < cap; i++) {
    out[i].type = b->caps[i]->def.type;
    out[i].version = b->caps[i]->def.version;
    out[i].endpoint = b->caps[i]->endpoint;
  }
  return b->cap_count;
}

static int dial(int *fd, void *user) {
  broker_cap *c = user;
  return cp_server_socketpair(c->server, fd);
}

int cp_broker_start(cp_broker *b) {
  if (b == NULL || b->started) {
    return b == NULL ? CP_EINVAL : CP_ESTATE;
  }
  b->started = true; /* shutdown and destroy stop what started */
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < b->cap_count; i++) {
    broker_cap *c = b->caps[i];
    if (c->server == NULL) {
      continue; /* a plugin's: nothing to start */
    }
    rc = cp_server_start(c->server);
    if (rc == 0) {
      rc = cp_client_create_dialing(&c->client, dial, c, NULL);
    }
  }
  return rc;
}

void cpi_broker_refused(cp_broker *b, broker_refusal why) {
  cp_counter_inc(b->refused[why]);
}

static int64_t read_issued(void *user) {
  return (int64_t)cpi_grant_table_stats(((cp_broker *)user)->grants).issued;
}
static int64_t read_live(void *user) {
  return (int64_t)cpi_grant_table_stats(((cp_broker *)user)->grants).live;
}
static int64_t read_expired(void *user) {
  return (int64_t)cpi_grant_table_stats(((cp_broker *)user)->grants).expired;
}
static int64_t read_revoked(void *user) {
  return (int64_t)cpi_grant_table_stats(((cp_broker *)user)->grants).revoked;
}

static const char *const reason_label[] = {"reason"};

static int family(cp_metric_registry *reg, cp_metric_type type,
                  const char *name, const char *help, bool by_reason,
                  cp_metric_family **out) {
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = name;
  o.help = help;
  o.label_names = by_reason ? reason_label : NULL;
  o.label_count = by_reason ? 1 : 0;
  return cp_metric_family_create(out, reg, type, &o);
}

int cp_broker_attach_metrics(cp_broker *b, cp_metrics *metrics) {
  if (b == NULL || metrics == NULL) {
    return CP_EINVAL;
  }
  cp_metric_registry *reg = cp_metrics_registry(metrics);
  static const struct {
    const char *name;
    const char *help;
    cp_metric_type type;
    cp_metric_read_fn read;
  } series[] = {
      {"cplugin_capability_grants_issued_total",
       "Capability grants issued by the broker.", CP_METRIC_COUNTER,
       read_issued},
      {"cplugin_capability_grants_live", "Capability grants live now.",
       CP_METRIC_GAUGE, read_live},
      {"cplugin_capability_grants_expired_total",
       "Capability grants removed at their expiry.", CP_METRIC_COUNTER,
       read_expired},
      {"cplugin_capability_grants_revoked_total",
       "Capability grants removed with their runtime's identity.",
       CP_METRIC_COUNTER, read_revoked},
  };
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof series / sizeof series[0]; i++) {
    cp_metric_family *f = NULL;
    rc = family(reg, series[i].type, series[i].name, series[i].help, false, &f);
    if (rc == 0) {
      rc = cp_metric_family_add_func(f, NULL, series[i].read, b);
    }
  }
  cp_metric_family *refused = NULL;
  if (rc == 0) {
    rc = family(reg, CP_METRIC_COUNTER,
                "cplugin_capability_grants_refused_total",
                "Capability requests and calls the broker refused, by reason.",
                true, &refused);
  }
  static const char *const reasons[BROKER_REFUSALS] = {
      [BROKER_REFUSED_NOT_FOUND] = "not_found",
      [BROKER_REFUSED_LIMIT] = "limit",
      [BROKER_REFUSED_UNAUTHENTICATED] = "unauthenticated"};
  for (size_t i = 0; rc == 0 && i < BROKER_REFUSALS; i++) {
    const char *values[] = {reasons[i]};
    b->refused[i] = cp_counter_get(refused, values);
  }
  return rc;
}
