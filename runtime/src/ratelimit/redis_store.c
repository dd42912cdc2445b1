/* Shared buckets in Redis: options, the outage state and the lease thread
 * (redis_store.h). */
#include "ratelimit/redis_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"
#include "ratelimit/lease_table.h"
#include "ratelimit/redis_link.h"

/* Buckets leased per round trip. */
#define BATCH 128
#define NS_PER_MS 1000000LL
#define RECONNECT_MIN_MS 50
/* The thread looks at the sweep and the reconnect at least this often. */
#define IDLE_TICK_MS 1000

struct cpi_redis_store {
  char *address;
  char *username;
  char *password;
  char prefix[CP_RATE_REDIS_PREFIX_MAX + 1];
  size_t prefix_len;
  cp_rate_outage outage;
  int64_t timeout_ms;
  int64_t reconnect_max_ms;
  int64_t idle_return_ns;
  cpi_lease_table *table;

  atomic_bool up;
  _Atomic int64_t reconnect_at; /* ns; the retry an outage answer carries */
  atomic_uint_fast64_t round_trips;
  atomic_uint_fast64_t leases;
  atomic_uint_fast64_t tokens_granted;
  atomic_uint_fast64_t failures;
  atomic_uint_fast64_t outage_calls;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop; /* under mu */
  bool kick; /* under mu: a bucket was queued */
  pthread_t thread;

  /* The thread's own. */
  cpi_redis_link *link;
  int64_t backoff_ms;
  bool outage_logged;
  cpi_lease_request reqs[BATCH];
  cpi_lease_reply replies[BATCH];
};

void cp_rate_redis_options_init(cp_rate_redis_options *o) {
  memset(o, 0, sizeof *o);
  o->key_prefix = "cplugin:rl:";
  o->outage = CP_RATE_OUTAGE_LOCAL;
  o->lease_ms = 50;
  o->timeout_ms = 250;
  o->reconnect_max_ms = 2000;
  o->idle_return_ms = 10000;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi) {
  return v >= lo && v <= hi;
}

static bool options_valid(const cp_rate_redis_options *o) {
  return cpi_redis_address_valid(o->address) && o->key_prefix != NULL &&
         strlen(o->key_prefix) <= CP_RATE_REDIS_PREFIX_MAX &&
         (o->outage == CP_RATE_OUTAGE_LOCAL ||
          o->outage == CP_RATE_OUTAGE_DENY) &&
         in_range(o->lease_ms, 1, 10000) && in_range(o->timeout_ms, 1, 60000) &&
         in_range(o->reconnect_max_ms, RECONNECT_MIN_MS, 600000) &&
         in_range(o->idle_return_ms, 1, 86400000);
}

static const char *outage_name(cp_rate_outage o) {
  return o == CP_RATE_OUTAGE_DENY ? "deny" : "local";
}

/* --- the thread ----------------------------------------------------------- */

static void go_down(cpi_redis_store *s, int64_t now, const char *why) {
  cpi_redis_link_close(s->link);
  s->link = NULL;
  atomic_store(&s->up, false);
  atomic_fetch_add(&s->failures, 1);
  atomic_store(&s->reconnect_at, now + s->backoff_ms * NS_PER_MS);
  s->backoff_ms = s->backoff_ms * 2 > s->reconnect_max_ms ? s->reconnect_max_ms
                                                          : s->backoff_ms * 2;
  if (!s->outage_logged) {
    s->outage_logged = true;
    cp_log(CP_LOG_WARN, "rate limit store unreachable", "address", s->address,
           "error", why, "outage_policy", outage_name(s->outage), CP_LOG_END);
  }
}

static void try_connect(cpi_redis_store *s) {
  char err[256] = "";
  int rc = cpi_redis_link_open(&s->link, s->address, s->username, s->password,
                               s->timeout_ms, err, sizeof err);
  if (rc != 0) {
    go_down(s, cpi_clock_monotonic_ns(), err);
    return;
  }
  s->backoff_ms = RECONNECT_MIN_MS;
  atomic_store(&s->up, true);
  if (s->outage_logged) {
    s->outage_logged = false;
    cp_log(CP_LOG_INFO, "rate limit store reachable", "address", s->address,
           CP_LOG_END);
  }
}

/* Sends reqs[0..n) and applies the answers. */
static void send_leases(cpi_redis_store *s, size_t n) {
  char err[256] = "";
  atomic_fetch_add(&s->round_trips, 1);
  int rc =
      cpi_redis_link_lease(s->link, s->reqs, n, s->replies, err, sizeof err);
  int64_t now = cpi_clock_monotonic_ns();
  if (rc != 0) {
    for (size_t i = 0; i < n; i++) {
      cpi_lease_apply(s->table, &s->reqs[i], false, 0, 0, now);
    }
    go_down(s, now, err);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const cpi_lease_reply *r = &s->replies[i];
    if (!r->ok) {
      /* Only a foreign script under our script's digest gets here: count
       * it, and do not ask again for a second. */
      atomic_fetch_add(&s->failures, 1);
      cp_log(CP_LOG_WARN, "rate limit store refused a lease", "address",
             s->address, CP_LOG_END);
      cpi_lease_apply(s->table, &s->reqs[i], true, 0, 1000000, now);
      continue;
    }
    if (r->foreign) {
      atomic_fetch_add(&s->failures, 1);
      cp_log(CP_LOG_WARN,
             "rate limit store: a key under the prefix held something else; "
             "replaced with a full bucket",
             "address", s->address, "prefix", s->prefix, CP_LOG_END);
    }
    atomic_fetch_add(&s->leases, 1);
    atomic_fetch_add(&s->tokens_granted, (uint_fast64_t)r->granted);
    cpi_lease_apply(s->table, &s->reqs[i], true, r->granted, r->retry_after_us,
                    now);
  }
}

static int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

static void *lease_thread(void *arg) {
  cpi_redis_store *s = arg;
  int64_t next_sweep = cpi_clock_monotonic_ns() + s->idle_return_ns / 2;
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    s->kick = false;
    pthread_mutex_unlock(&s->mu);
    int64_t now = cpi_clock_monotonic_ns();
    int64_t wake = now + IDLE_TICK_MS * NS_PER_MS;
    if (s->link == NULL && now >= atomic_load(&s->reconnect_at)) {
      try_connect(s);
    }
    if (s->link != NULL) {
      int64_t due = INT64_MAX;
      size_t n = cpi_lease_collect(s->table, s->reqs, BATCH, now, &due);
      if (n > 0) {
        send_leases(s, n);
      }
      wake = min64(wake, due);
      if (s->link != NULL && now >= next_sweep) {
        n = cpi_lease_sweep(s->table, s->idle_return_ns, now, s->reqs, BATCH);
        if (n > 0) {
          send_leases(s, n);
        }
        next_sweep = now + s->idle_return_ns / 2;
      }
      wake = min64(wake, next_sweep);
    }
    if (s->link == NULL) {
      wake = min64(wake, atomic_load(&s->reconnect_at));
    }
    pthread_mutex_lock(&s->mu);
    if (!s->stop && !s->kick && wake > cpi_clock_monotonic_ns()) {
      struct timespec ts = cpi_monotonic_timespec(wake);
      pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* --- create, take, destroy ------------------------------------------------ */

static char *dup_or_null(const char *v, bool *failed) {
  if (v == NULL) {
    return NULL;
  }
  char *d = strdup(v);
  *failed |= d == NULL;
  return d;
}

static void free_store(cpi_redis_store *s) {
  cpi_redis_link_close(s->link);
  cpi_lease_table_destroy(s->table);
  free(s->address);
  free(s->username);
  if (s->password != NULL) {
    cpi_secure_zero(s->password, strlen(s->password));
    free(s->password);
  }
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int cpi_redis_store_create(cpi_redis_store **out,
                           const cp_rate_redis_options *o, size_t max_buckets) {
  *out = NULL;
  if (o == NULL || !options_valid(o)) {
    return CP_EINVAL;
  }
  cpi_redis_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  cpi_cond_init_monotonic(&s->cv);
  bool failed = false;
  s->address = dup_or_null(o->address, &failed);
  s->username = dup_or_null(o->username, &failed);
  s->password = dup_or_null(o->password, &failed);
  s->prefix_len = strlen(o->key_prefix);
  memcpy(s->prefix, o->key_prefix, s->prefix_len);
  s->outage = o->outage;
  s->timeout_ms = o->timeout_ms;
  s->reconnect_max_ms = o->reconnect_max_ms;
  s->idle_return_ns = o->idle_return_ms * NS_PER_MS;
  s->backoff_ms = RECONNECT_MIN_MS;
  int rc = failed ? CP_ENOMEM
                  : cpi_lease_table_create(&s->table, max_buckets, o->lease_ms);
  if (rc != 0) {
    free_store(s);
    return rc;
  }
  /* Once here, so the first calls already see whether Redis is there. */
  try_connect(s);
  if (pthread_create(&s->thread, NULL, lease_thread, s) != 0) {
    free_store(s);
    return CP_ESYS;
  }
  *out = s;
  return 0;
}

void cpi_redis_store_destroy(cpi_redis_store *s) {
  if (s == NULL) {
    return;
  }
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  free_store(s);
}

cpi_store_verdict cpi_redis_store_take(cpi_redis_store *s,
                                       const char *rule_path, char tag,
                                       const char *caller, size_t len,
                                       cp_rate_limit limit, int64_t *retry_ns) {
  *retry_ns = 0;
  if (!cpi_lease_shareable(limit)) {
    return CPI_STORE_ALLOW;
  }
  /* prefix, rule path, NUL, tag, caller */
  size_t path_len = strlen(rule_path);
  size_t key_len = s->prefix_len + path_len + 2 + len;
  char key[CPI_LEASE_KEY_MAX];
  if (key_len > sizeof key) {
    return CPI_STORE_DENY; /* the policy's own bounds make this unreachable */
  }
  memcpy(key, s->prefix, s->prefix_len);
  memcpy(key + s->prefix_len, rule_path, path_len + 1);
  key[s->prefix_len + path_len + 1] = tag;
  memcpy(key + s->prefix_len + path_len + 2, caller, len);

  bool up = atomic_load_explicit(&s->up, memory_order_relaxed);
  int64_t now = cpi_clock_monotonic_ns();
  bool queued = false;
  cpi_lease_verdict v =
      cpi_lease_take(s->table, key, key_len, limit, up, now, retry_ns, &queued);
  if (queued) {
    pthread_mutex_lock(&s->mu);
    s->kick = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  switch (v) {
    case CPI_LEASE_ALLOW:
      return CPI_STORE_ALLOW;
    case CPI_LEASE_DENY:
      return CPI_STORE_DENY;
    case CPI_LEASE_FULL:
      *retry_ns = s->idle_return_ns; /* when idle buckets make room */
      return CPI_STORE_FULL;
    case CPI_LEASE_STORE_DOWN:
      break;
  }
  atomic_fetch_add_explicit(&s->outage_calls, 1, memory_order_relaxed);
  if (s->outage == CP_RATE_OUTAGE_LOCAL) {
    return CPI_STORE_ALLOW;
  }
  int64_t wait = atomic_load(&s->reconnect_at) - now;
  *retry_ns = wait > NS_PER_MS ? wait : NS_PER_MS;
  return CPI_STORE_OUTAGE;
}

void cpi_redis_store_stats(cpi_redis_store *s, cp_rate_redis_stats *out) {
  out->up = atomic_load(&s->up);
  out->round_trips = atomic_load(&s->round_trips);
  out->leases = atomic_load(&s->leases);
  out->tokens_granted = atomic_load(&s->tokens_granted);
  out->failures = atomic_load(&s->failures);
  out->outage_calls = atomic_load(&s->outage_calls);
  out->buckets = cpi_lease_count(s->table);
}
