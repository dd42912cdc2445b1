/* The retry interceptor: runs an invocation again after failures that are
 * safe to repeat, waiting a jittered backoff or the server's retry-after-ms,
 * never past the call's deadline. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/ratelimit_policy.h"
#include "cplugin/resilience.h"
#include "resilience/retry_internal.h"

typedef struct route {
  char *prefix;
  size_t len;
  cp_retry_policy policy;
} route;

struct cp_retry {
  cp_retry_policy policy;
  route *routes;
  size_t route_count;
  const cp_clock *clock;
  cp_retry_sleep_fn sleep;
  void *sleep_user;
  cp_retry_random_fn random;
  void *random_user;
  atomic_uint_fast64_t rng_state;
  atomic_uint_fast64_t retries;
};

static void real_sleep(int64_t ns, void *user) {
  (void)user;
  cpi_sleep_ns(ns);
}

/* splitmix64 over an atomic counter: lock-free and good enough for jitter. */
static double default_random(void *user) {
  cp_retry *r = user;
  uint64_t z = atomic_fetch_add(&r->rng_state, UINT64_C(0x9E3779B97F4A7C15)) +
               UINT64_C(0x9E3779B97F4A7C15);
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

void cp_retry_options_init(cp_retry_options *opts) {
  memset(opts, 0, sizeof *opts);
  cp_retry_policy_init(&opts->policy);
}

bool cpi_retry_after_parse(const char *value, int64_t *ms) {
  if (value == NULL || value[0] == '\0') {
    return false;
  }
  int64_t v = 0;
  for (const char *p = value; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') {
      return false;
    }
    v = v * 10 + (*p - '0');
    if (v > 24LL * 60 * 60 * 1000) {
      return false;
    }
  }
  *ms = v;
  return true;
}

static void free_routes(route *routes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(routes[i].prefix);
  }
  free(routes);
}

/* Copies the routes and their prefixes (*out stays NULL for none). */
static int copy_routes(const cp_retry_route *src, size_t n, route **out) {
  *out = NULL;
  if (n == 0) {
    return 0;
  }
  route *routes = calloc(n, sizeof *routes);
  if (routes == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(src[i].prefix);
    routes[i].prefix = malloc(len + 1);
    if (routes[i].prefix == NULL) {
      free_routes(routes, i);
      return CP_ENOMEM;
    }
    memcpy(routes[i].prefix, src[i].prefix, len + 1);
    routes[i].len = len;
    routes[i].policy = src[i].policy;
  }
  *out = routes;
  return 0;
}

int cp_retry_create(cp_retry **out, const cp_retry_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_retry_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_retry_options_init(&o);
  }
  if (!cpi_retry_policy_valid(&o.policy) ||
      o.route_count > CP_RETRY_MAX_ROUTES ||
      (o.route_count > 0 && o.routes == NULL)) {
    return CP_EINVAL;
  }
  for (size_t i = 0; i < o.route_count; i++) {
    const char *pre = o.routes[i].prefix;
    if (pre == NULL || pre[0] != '/' ||
        !cpi_retry_policy_valid(&o.routes[i].policy)) {
      return CP_EINVAL;
    }
  }
  route *routes = NULL;
  int rc = copy_routes(o.routes, o.route_count, &routes);
  if (rc != 0) {
    return rc;
  }
  cp_retry *r = calloc(1, sizeof *r);
  if (r == NULL) {
    free_routes(routes, o.route_count);
    return CP_ENOMEM;
  }
  r->policy = o.policy;
  r->routes = routes;
  r->route_count = o.route_count;
  r->clock = o.clock;
  r->sleep = o.sleep != NULL ? o.sleep : real_sleep;
  r->sleep_user = o.sleep_user;
  r->random = o.random != NULL ? o.random : default_random;
  r->random_user = o.random != NULL ? o.random_user : r;
  atomic_init(&r->rng_state, (uint_fast64_t)cp_clock_now_ns(NULL) ^
                                 (uint_fast64_t)(uintptr_t)r);
  atomic_init(&r->retries, 0);
  *out = r;
  return 0;
}

void cp_retry_destroy(cp_retry *retry) {
  if (retry == NULL) {
    return;
  }
  free_routes(retry->routes, retry->route_count);
  free(retry);
}

uint64_t cp_retry_count(const cp_retry *retry) {
  return retry == NULL ? 0 : atomic_load(&retry->retries);
}

static const cp_retry_policy *policy_for(const cp_retry *r, const char *path) {
  const cp_retry_policy *best = &r->policy;
  size_t best_len = 0;
  for (size_t i = 0; i < r->route_count; i++) {
    const route *rt = &r->routes[i];
    if (rt->len > best_len && strncmp(path, rt->prefix, rt->len) == 0) {
      best = &rt->policy;
      best_len = rt->len;
    }
  }
  return best;
}

/* Whether the latest attempt may be retried, and after how long. */
static bool next_wait_ns(cp_retry *r, const cp_retry_policy *p,
                         const cp_invocation *inv, int attempt,
                         int64_t *wait_ns) {
  cp_status_code code = cp_invocation_status(inv)->code;
  if (code == CP_STATUS_OK || (p->retry_codes & CP_CODE_BIT(code)) == 0) {
    return false;
  }
  int64_t after_ms = 0;
  bool has_after = cpi_retry_after_parse(
      cp_invocation_trailer(inv, CP_MD_RETRY_AFTER_MS), &after_ms);
  if (has_after) {
    /* The server knows when it can take the call: no jitter below that. */
    if (after_ms > p->max_retry_after_ms) {
      return false;
    }
    *wait_ns = after_ms * 1000000;
    return true;
  }
  if (code == CP_STATUS_RESOURCE_EXHAUSTED) {
    return false; /* no invitation to come back: waiting will not help */
  }
  double ns = (double)cp_retry_backoff_ms(p, attempt) * 1e6;
  if (p->jitter) {
    ns *= 0.5 + 0.5 * r->random(r->random_user);
  }
  *wait_ns = (int64_t)ns;
  return true;
}

static int attempt_once(const cp_retry_policy *p, cp_invocation *inv,
                        bool stream) {
  int rc = cp_invocation_proceed(inv);
  if (rc == 0 && stream && p->streams == CP_RETRY_STREAM_FIRST_MESSAGE) {
    rc = cp_invocation_await_first_message(inv);
  }
  return rc;
}

/* One call's retry state: the policy, the attempt number and the deadline
 * as a budget on the retry's clock. */
typedef struct retry_run {
  cp_retry *r;
  const cp_retry_policy *p;
  int attempt;
  int64_t budget_ns; /* INT64_MAX: no deadline */
  int64_t start;
} retry_run;

static void run_init(retry_run *run, cp_retry *r, const cp_invocation *inv) {
  run->r = r;
  run->p = policy_for(r, cp_invocation_method(inv)->path);
  run->attempt = 1;
  /* The deadline is on the system clock; keep it as time left so an
   * injected clock measures the same budget. */
  int64_t deadline = cp_invocation_deadline_ns(inv);
  run->budget_ns =
      deadline == INT64_MAX ? INT64_MAX : deadline - cp_clock_now_ns(NULL);
  run->start = cp_clock_now_ns(r->clock);
}

/* Whether attempt `run->attempt`, which ended with `rc`, is tried again,
 * and after how long. */
static bool should_retry(const retry_run *run, const cp_invocation *inv, int rc,
                         int64_t *wait_ns) {
  /* Only a status from the target is worth another try: bad arguments,
   * a closed client or an unencodable request stay what they are. */
  if (rc != CP_ERPC || run->attempt >= run->p->max_attempts) {
    return false;
  }
  if (!next_wait_ns(run->r, run->p, inv, run->attempt, wait_ns)) {
    return false;
  }
  if (run->budget_ns != INT64_MAX) {
    int64_t left =
        run->budget_ns - (cp_clock_now_ns(run->r->clock) - run->start);
    if (*wait_ns >= left) {
      return false; /* the next attempt could not finish in time */
    }
  }
  return true;
}

static int retry_intercept(cp_invocation *inv, void *user) {
  retry_run run;
  run_init(&run, user, inv);
  bool stream = cp_invocation_method(inv)->kind != CP_METHOD_UNARY;
  for (;; run.attempt++) {
    int rc = attempt_once(run.p, inv, stream);
    int64_t wait_ns = 0;
    if (!should_retry(&run, inv, rc, &wait_ns)) {
      return rc;
    }
    if (wait_ns > 0) {
      run.r->sleep(wait_ns, run.r->sleep_user);
    }
    atomic_fetch_add(&run.r->retries, 1);
  }
}

/* The asynchronous form: the backoff is a timer on the client's callback
 * thread (the injected sleep is for blocking calls only), so no thread
 * waits; closing the client ends the wait at once. */
static void retry_attempt_done(cp_invocation *inv, int rc, void *arg);

static void retry_backoff_done(cp_invocation *inv, int rc, void *arg) {
  retry_run *run = arg;
  if (rc != 0) {
    cp_invocation_complete(inv, rc); /* closed while waiting */
    return;
  }
  atomic_fetch_add(&run->r->retries, 1);
  run->attempt++;
  cp_invocation_proceed_async(inv, retry_attempt_done, run);
}

static void retry_attempt_done(cp_invocation *inv, int rc, void *arg) {
  retry_run *run = arg;
  int64_t wait_ns = 0;
  if (!should_retry(run, inv, rc, &wait_ns)) {
    cp_invocation_complete(inv, rc);
    return;
  }
  cp_invocation_resume_after(inv, wait_ns, retry_backoff_done, run);
}

static void retry_intercept_async(cp_invocation *inv, void *user) {
  retry_run *run = cp_invocation_alloc(inv, sizeof *run);
  if (run == NULL) {
    cp_invocation_complete(
        inv, cp_invocation_fail(inv, CP_STATUS_INTERNAL, "out of memory"));
    return;
  }
  run_init(run, user, inv);
  cp_invocation_proceed_async(inv, retry_attempt_done, run);
}

int cp_retry_attach(cp_retry *retry, cp_client *client) {
  if (retry == NULL) {
    return CP_EINVAL;
  }
  return cp_client_add_interceptor_async(client, retry_intercept,
                                         retry_intercept_async, retry);
}
