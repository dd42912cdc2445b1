/* The rate policy: per-method limits applied by a server interceptor. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/ratelimit_policy.h"
#include "ratelimit/peer_key.h"
#include "ratelimit/policy_rules.h"
#include "ratelimit/redis_store.h"

struct cp_rate_policy {
  cp_rate_limiter *limiter;
  cpi_redis_store *shared; /* NULL: limits of this process only */
  unsigned ipv6_prefix_bits;
  cp_rate_deny_fn on_deny;
  void *on_deny_user;
  atomic_bool enabled;
  rl_rules rules;
};

/* Bucket keys: a tag byte, the rule's group (2 bytes), then either the
 * provider, a NUL and the identity, or the peer's key (its address, or
 * "uid:N" on a Unix socket). The NUL cannot occur in either string, so no
 * two callers share a key. */
enum { KEY_HEAD = 3, KEY_BY_IDENTITY = 'i', KEY_BY_PEER = 'p' };

#define NS_PER_MS 1000000LL

static const rl_rule_spec host_table[] = {
    /* The registry bursts are the per-runtime caps (64 registrations, 16
     * watchers, cp_registry_options): a plugin joins, or rejoins after a
     * host restart, with everything it declares at once; the rates still
     * bound churn. Upstream's design (bursts 5 and 3) cut the join of a
     * plugin with more, which then retried it forever. */
    {CP_RATE_HANDSHAKE_PATH, {10, 20}}, {CP_RATE_REGISTER_PATH, {1, 64}},
    {CP_RATE_UNREGISTER_PATH, {1, 64}}, {CP_RATE_DISCOVER_PATH, {100, 200}},
    {CP_RATE_WATCH_PATH, {1, 16}},      {CP_RATE_CAPABILITY_PATH, {10, 20}},
};
static const cp_rate_limit host_default = {1000, 2000};

void cp_rate_policy_options_init(cp_rate_policy_options *opts) {
  memset(opts, 0, sizeof *opts);
  cp_rate_limiter_options_init(&opts->limiter);
  opts->host_defaults = true;
  opts->ipv6_prefix_bits = 64;
}

int cp_rate_policy_create(cp_rate_policy **out,
                          const cp_rate_policy_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_rate_policy_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_rate_policy_options_init(&o);
  }
  if (o.ipv6_prefix_bits > 128) {
    return CP_EINVAL;
  }
  cp_rate_policy *p = calloc(1, sizeof *p);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  int rc = cp_rate_limiter_create(&p->limiter, &o.limiter);
  if (rc != 0) {
    free(p);
    return rc;
  }
  if (o.redis != NULL &&
      (rc = cpi_redis_store_create(&p->shared, o.redis,
                                   o.limiter.max_buckets)) != 0) {
    cp_rate_limiter_destroy(p->limiter);
    free(p);
    return rc;
  }
  cpi_rules_init(&p->rules);
  p->ipv6_prefix_bits = o.ipv6_prefix_bits;
  p->on_deny = o.on_deny;
  p->on_deny_user = o.on_deny_user;
  atomic_init(&p->enabled, true);
  if (o.host_defaults && (rc = cp_rate_policy_host_defaults(p)) != 0) {
    cp_rate_policy_destroy(p);
    return rc;
  }
  *out = p;
  return 0;
}

void cp_rate_policy_destroy(cp_rate_policy *p) {
  if (p == NULL) {
    return;
  }
  cpi_redis_store_destroy(p->shared);
  cp_rate_limiter_destroy(p->limiter);
  cpi_rules_destroy(&p->rules);
  free(p);
}

int cp_rate_policy_host_defaults(cp_rate_policy *p) {
  if (p == NULL) {
    return CP_EINVAL;
  }
  int rc = cpi_rules_replace_all(&p->rules, host_table,
                                 sizeof host_table / sizeof host_table[0],
                                 host_default);
  if (rc == 0) {
    cp_rate_policy_set_enabled(p, true);
  }
  return rc;
}

int cp_rate_policy_set(cp_rate_policy *p, const char *path,
                       cp_rate_limit limit) {
  return p == NULL ? CP_EINVAL
                   : cpi_rules_set(&p->rules, path, RL_RULE_LIMIT, limit);
}

int cp_rate_policy_exempt(cp_rate_policy *p, const char *path) {
  static const cp_rate_limit none = {0, 0};
  return p == NULL ? CP_EINVAL
                   : cpi_rules_set(&p->rules, path, RL_RULE_EXEMPT, none);
}

int cp_rate_policy_clear(cp_rate_policy *p, const char *path) {
  static const cp_rate_limit none = {0, 0};
  return p == NULL ? CP_EINVAL
                   : cpi_rules_set(&p->rules, path, RL_RULE_NONE, none);
}

void cp_rate_policy_set_default(cp_rate_policy *p, cp_rate_limit limit) {
  if (p != NULL) {
    cpi_rules_set_default(&p->rules, RL_RULE_LIMIT, limit);
  }
}

void cp_rate_policy_exempt_default(cp_rate_policy *p) {
  static const cp_rate_limit none = {0, 0};
  if (p != NULL) {
    cpi_rules_set_default(&p->rules, RL_RULE_EXEMPT, none);
  }
}

void cp_rate_policy_set_enabled(cp_rate_policy *p, bool enabled) {
  if (p != NULL) {
    atomic_store_explicit(&p->enabled, enabled, memory_order_relaxed);
  }
}

int cp_rate_policy_lookup(const cp_rate_policy *p, const char *path,
                          cp_rate_limit *limit) {
  if (p == NULL || path == NULL || limit == NULL) {
    return CP_EINVAL;
  }
  if (!atomic_load_explicit(&p->enabled, memory_order_relaxed)) {
    return CP_ENOTFOUND;
  }
  rl_match m = cpi_rules_match(&p->rules, path);
  if (m.kind != RL_RULE_LIMIT) {
    return CP_ENOTFOUND;
  }
  *limit = m.limit;
  return 0;
}

cp_rate_limiter *cp_rate_policy_limiter(cp_rate_policy *p) {
  return p == NULL ? NULL : p->limiter;
}

int cp_rate_policy_redis_stats(const cp_rate_policy *p,
                               cp_rate_redis_stats *out) {
  if (p == NULL || out == NULL) {
    return CP_EINVAL;
  }
  if (p->shared == NULL) {
    return CP_ENOTFOUND;
  }
  cpi_redis_store_stats(p->shared, out);
  return 0;
}

uint64_t cp_rate_policy_denials(const cp_rate_policy *p, const char *path) {
  return p == NULL ? 0 : cpi_rules_denials(&p->rules, path);
}

void cp_rate_policy_foreach_rule(const cp_rate_policy *p, cp_rate_rule_fn fn,
                                 void *user) {
  if (p != NULL && fn != NULL) {
    cpi_rules_foreach((rl_rules *)&p->rules, fn, user);
  }
}

bool cp_rate_policy_enabled(const cp_rate_policy *p) {
  return p != NULL && atomic_load_explicit(&((cp_rate_policy *)p)->enabled,
                                           memory_order_relaxed);
}

void cp_rate_policy_foreach_denials(const cp_rate_policy *p,
                                    cp_rate_denials_fn fn, void *user) {
  if (p != NULL && fn != NULL) {
    cpi_rules_foreach_denials(&p->rules, fn, user);
  }
}

/* --- the interceptor -------------------------------------------------------
 */

/* Appends s[0..n) at key[*len]; false when the key would pass its limit. */
static bool append(char *key, size_t *len, const char *s, size_t n) {
  if (n > CP_RATE_KEY_MAX - *len) {
    return false;
  }
  memcpy(key + *len, s, n);
  *len += n;
  return true;
}

/* Builds the bucket key of `call` for rule group `group`. */
static bool call_key(const cp_rate_policy *p, cp_call *call, uint16_t group,
                     char key[CP_RATE_KEY_MAX], size_t *len) {
  const char *provider = NULL;
  const char *identity = cp_call_identity(call, &provider);
  key[1] = (char)(group & 0xff);
  key[2] = (char)(group >> 8);
  *len = KEY_HEAD;
  if (identity != NULL) {
    key[0] = KEY_BY_IDENTITY;
    if (provider == NULL) {
      provider = "";
    }
    return append(key, len, provider, strlen(provider) + 1) &&
           append(key, len, identity, strlen(identity));
  }
  key[0] = KEY_BY_PEER;
  char addr[CP_RATE_KEY_MAX - KEY_HEAD];
  const char *peer = cp_call_peer(call);
  int n = cpi_peer_key_bits(peer, p->ipv6_prefix_bits, addr, sizeof addr);
  if (n < 0) {
    /* Unrecognised peers share one bucket per rule: limited, not exempt. */
    return append(key, len, "?", 1);
  }
  return append(key, len, addr, (size_t)n);
}

static void add_retry_after(cp_call *call, int64_t retry_ns) {
  if (retry_ns == CP_RATE_RETRY_NEVER) {
    return; /* retrying will not help: do not invite it */
  }
  int64_t ms = retry_ns / NS_PER_MS + (retry_ns % NS_PER_MS != 0 ? 1 : 0);
  char value[24];
  snprintf(value, sizeof value, "%" PRId64, ms < 1 ? (int64_t)1 : ms);
  cp_call_add_trailer(call, CP_MD_RETRY_AFTER_MS, value);
}

/* The caller's bucket shared with the other replicas: named by the rule's
 * path rather than its group (group numbers differ between replicas), and
 * the caller's part of the local key (its tag, then what follows the
 * group). */
static cp_rate_result shared_check(cp_rate_policy *p, rl_match m,
                                   const char *key, size_t len,
                                   int64_t *retry_ns) {
  switch (cpi_redis_store_take(p->shared, cpi_rules_path(&p->rules, m.group),
                               key[0], key + KEY_HEAD, len - KEY_HEAD, m.limit,
                               retry_ns)) {
    case CPI_STORE_ALLOW:
      return CP_RATE_ALLOW;
    case CPI_STORE_FULL:
      return CP_RATE_DENY_FULL;
    case CPI_STORE_OUTAGE:
      return CP_RATE_DENY_OUTAGE;
    case CPI_STORE_DENY:
      break;
  }
  return CP_RATE_DENY;
}

/* The interceptor, in the policy phase: after authentication recorded the
 * identity it keys on. */
static cp_status_code limit_call(cp_call *call, void *user) {
  cp_rate_policy *p = user;
  if (!atomic_load_explicit(&p->enabled, memory_order_relaxed)) {
    return CP_STATUS_OK;
  }
  const char *path = cp_call_path(call);
  if (path == NULL) {
    path = "";
  }
  rl_match m = cpi_rules_match(&p->rules, path);
  if (m.kind != RL_RULE_LIMIT) {
    return CP_STATUS_OK;
  }
  char key[CP_RATE_KEY_MAX];
  size_t len = 0;
  if (!call_key(p, call, m.group, key, &len)) {
    /* Only an identity of hundreds of bytes gets here: a server
     * configuration problem, refused rather than left unlimited. */
    return cp_call_error(call, CP_STATUS_INTERNAL,
                         "caller identity too long for rate limiting");
  }
  int64_t retry_ns = 0;
  cp_rate_result r = CP_RATE_DENY;
  /* The key and limiter are valid here; an error would leave r a denial. */
  (void)cp_rate_limiter_check(p->limiter, key, len, m.limit, &r, &retry_ns);
  if (r == CP_RATE_ALLOW && p->shared != NULL) {
    r = shared_check(p, m, key, len, &retry_ns);
  }
  if (r == CP_RATE_ALLOW) {
    return CP_STATUS_OK;
  }
  cpi_rules_count_denial(&p->rules, m.group);
  if (p->on_deny != NULL) {
    p->on_deny(call, r, p->on_deny_user);
  }
  add_retry_after(call, retry_ns);
  if (r == CP_RATE_DENY_OUTAGE) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "rate limit store unreachable");
  }
  return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                       "rate limit exceeded");
}

int cp_rate_policy_register(cp_rate_policy *p, cp_server *server) {
  if (p == NULL || server == NULL) {
    return CP_EINVAL;
  }
  return cp_server_add_interceptor(server, CP_PHASE_POLICY, limit_call, p);
}
