/* ListRateLimits: the rate policy's effective rules, behind the admin
 * check. */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "cplugin/errors.h"

/* Copies of the rules, in per-call memory, gathered while the policy's
 * table is locked. */
typedef struct gather {
  cp_call *call;
  Cplugin__Admin__V1__RateLimitRule **items;
  size_t count;
  size_t cap;
  bool failed;
} gather;

static void on_rule(const cp_rate_rule_info *rule, void *user) {
  gather *g = user;
  if (g->failed) {
    return;
  }
  if (g->count == g->cap) {
    size_t cap = g->cap != 0 ? g->cap * 2 : 16;
    void *grown = realloc(g->items, cap * sizeof *g->items);
    if (grown == NULL) {
      g->failed = true;
      return;
    }
    g->items = grown;
    g->cap = cap;
  }
  Cplugin__Admin__V1__RateLimitRule *m = cp_call_alloc(g->call, sizeof *m);
  char *path = cp_call_strdup(g->call, rule->path);
  if (m == NULL || path == NULL) {
    g->failed = true;
    return;
  }
  cplugin__admin__v1__rate_limit_rule__init(m);
  m->path = path;
  m->prefix = rule->prefix;
  m->exempt = rule->exempt;
  if (!rule->exempt) {
    m->rate_per_second = rule->limit.rate_per_sec;
    m->burst = rule->limit.burst;
  }
  m->denials = rule->denials;
  g->items[g->count++] = m;
}

cp_status_code cpi_admin_on_list_rate_limits(
    cp_call *call, const Cplugin__Admin__V1__ListRateLimitsRequest *req,
    Cplugin__Admin__V1__ListRateLimitsResponse *resp, void *user) {
  (void)req;
  cp_admin *a = user;
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = cpi_admin_authorize(a, call, principal);
  if (code != CP_STATUS_OK) {
    return code;
  }
  if (a->rate == NULL) {
    return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                         "no rate limits: this host checks none");
  }
  gather g = {.call = call};
  cp_rate_policy_foreach_rule(a->rate, on_rule, &g);
  if (!g.failed) {
    resp->rules = cp_call_alloc(call, g.count * sizeof *g.items);
    if (resp->rules != NULL) {
      memcpy(resp->rules, g.items, g.count * sizeof *g.items);
      resp->n_rules = g.count;
    } else {
      g.failed = true;
    }
  }
  free(g.items);
  if (g.failed) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  cp_rate_redis_stats shared;
  resp->enabled = cp_rate_policy_enabled(a->rate);
  resp->keyed_by = (char *)"caller identity; peer address without one";
  resp->store = cp_rate_policy_redis_stats(a->rate, &shared) == 0
                    ? (char *)"redis"
                    : (char *)"this process";
  return CP_STATUS_OK;
}
