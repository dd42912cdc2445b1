/* A replica's leased tokens per shared bucket (lease_table.h). */
#include "ratelimit/lease_table.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/htab.h"
#include "core/siphash.h"
#include "crypto/crypto.h"
#include "cplugin/errors.h"

#define SHARDS 16
#define NS_PER_US 1000LL
#define NS_PER_MS 1000000LL
#define US_PER_SEC 1000000LL
/* The retry a caller gets while its bucket's next lease is on its way: a
 * store round trip on the same network, rounded up to the trailer's unit. */
#define LEASE_ON_ITS_WAY_NS NS_PER_MS
/* The longest bucket the script takes, interval x burst, in us. */
#define MAX_BUCKET_US (INT64_C(1) << 50)
/* Caps a retry the store answers (about 290 years) so it fits in ns. */
#define MAX_RETRY_US (INT64_C(1) << 53)

struct cpi_lease {
  cp_hnode node;
  cpi_lease *next_queued;
  cp_rate_limit limit;
  int64_t allowance;  /* tokens this replica may still admit */
  int64_t debt;       /* admitted on credit, not yet charged in the store */
  int64_t wait_until; /* the store said empty: no lease before this */
  int64_t last_used;
  bool queued;
  bool in_flight;
  size_t key_len;
  char key[];
};

typedef struct shard {
  pthread_mutex_t mu;
  cp_htab tab;
} shard;

struct cpi_lease_table {
  shard shards[SHARDS];
  cp_siphash_key hash_key;
  size_t max_entries;
  int64_t lease_ms;
  atomic_size_t count;
  pthread_mutex_t queue_mu;
  cpi_lease *queue; /* queued buckets, newest first */
};

uint32_t cpi_lease_size(cp_rate_limit limit, int64_t lease_ms) {
  int64_t by_rate =
      ((int64_t)limit.rate_per_sec * lease_ms + 999) / 1000; /* ceil */
  int64_t floor = limit.burst < 8 ? (int64_t)limit.burst : 8;
  int64_t n = by_rate > floor ? by_rate : floor;
  if (n > (int64_t)limit.burst) {
    n = limit.burst;
  }
  return n < 1 ? 1 : (uint32_t)n;
}

bool cpi_lease_shareable(cp_rate_limit limit) {
  return limit.rate_per_sec > 0 && limit.burst > 0;
}

int cpi_lease_table_create(cpi_lease_table **out, size_t max_entries,
                           int64_t lease_ms) {
  cpi_lease_table *t = calloc(1, sizeof *t);
  if (t == NULL) {
    return CP_ENOMEM;
  }
  if (cpi_random_bytes(&t->hash_key, sizeof t->hash_key) != 0) {
    free(t);
    return CP_ESYS;
  }
  size_t ready = 0;
  for (; ready < SHARDS; ready++) {
    if (cpi_htab_init(&t->shards[ready].tab) != 0) {
      break;
    }
    pthread_mutex_init(&t->shards[ready].mu, NULL);
  }
  if (ready < SHARDS) {
    for (size_t i = 0; i < ready; i++) {
      cpi_htab_release(&t->shards[i].tab);
      pthread_mutex_destroy(&t->shards[i].mu);
    }
    free(t);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&t->queue_mu, NULL);
  t->max_entries = max_entries;
  t->lease_ms = lease_ms;
  atomic_init(&t->count, 0);
  *out = t;
  return 0;
}

/* Unlinks and frees every entry of `s` (the caller holds no other lock). */
static void free_shard_entries(shard *s) {
  for (size_t b = 0; b <= s->tab.mask; b++) {
    cp_hnode *n = s->tab.buckets[b];
    while (n != NULL) {
      cp_hnode *next = n->next;
      free(CP_HNODE_ITEM(n, cpi_lease, node));
      n = next;
    }
    s->tab.buckets[b] = NULL;
  }
  s->tab.count = 0;
}

void cpi_lease_table_destroy(cpi_lease_table *t) {
  if (t == NULL) {
    return;
  }
  for (size_t i = 0; i < SHARDS; i++) {
    free_shard_entries(&t->shards[i]);
    cpi_htab_release(&t->shards[i].tab);
    pthread_mutex_destroy(&t->shards[i].mu);
  }
  pthread_mutex_destroy(&t->queue_mu);
  free(t);
}

static cpi_lease *find(shard *s, uint64_t h, const char *key, size_t len) {
  for (cp_hnode *n = cpi_htab_chain(&s->tab, h); n != NULL; n = n->next) {
    cpi_lease *e = CP_HNODE_ITEM(n, cpi_lease, node);
    if (n->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) {
      return e;
    }
  }
  return NULL;
}

/* A bucket new to this replica, with one lease on credit. */
static cpi_lease *create_entry(cpi_lease_table *t, shard *s, uint64_t h,
                               const char *key, size_t len,
                               cp_rate_limit limit) {
  size_t n = atomic_fetch_add(&t->count, 1);
  if (n >= t->max_entries) {
    atomic_fetch_sub(&t->count, 1);
    return NULL;
  }
  cpi_lease *e = calloc(1, sizeof *e + len);
  if (e == NULL) {
    atomic_fetch_sub(&t->count, 1);
    return NULL;
  }
  memcpy(e->key, key, len);
  e->key_len = len;
  e->limit = limit;
  e->allowance = cpi_lease_size(limit, t->lease_ms);
  e->debt = e->allowance;
  e->node.hash = h;
  cpi_htab_insert(&s->tab, &e->node);
  return e;
}

/* Whether `e` wants another lease now (its shard's mutex held). */
static bool wants_lease(const cpi_lease_table *t, const cpi_lease *e,
                        int64_t now) {
  if (e->queued || e->in_flight) {
    return false;
  }
  if (e->debt != 0) {
    return true;
  }
  int64_t low_water = cpi_lease_size(e->limit, t->lease_ms) / 2;
  return e->allowance <= low_water && now >= e->wait_until;
}

static void enqueue(cpi_lease_table *t, cpi_lease *e) {
  e->queued = true;
  pthread_mutex_lock(&t->queue_mu);
  e->next_queued = t->queue;
  t->queue = e;
  pthread_mutex_unlock(&t->queue_mu);
}

cpi_lease_verdict cpi_lease_take(cpi_lease_table *t, const char *key,
                                 size_t key_len, cp_rate_limit limit,
                                 bool store_up, int64_t now_ns,
                                 int64_t *retry_ns, bool *queued) {
  uint64_t h = cpi_siphash13(&t->hash_key, key, key_len);
  shard *s = &t->shards[h % SHARDS];
  *retry_ns = 0;
  *queued = false;
  pthread_mutex_lock(&s->mu);
  cpi_lease *e = find(s, h, key, key_len);
  if (e == NULL) {
    if (!store_up) {
      pthread_mutex_unlock(&s->mu);
      return CPI_LEASE_STORE_DOWN;
    }
    e = create_entry(t, s, h, key, key_len, limit);
    if (e == NULL) {
      pthread_mutex_unlock(&s->mu);
      return CPI_LEASE_FULL;
    }
  }
  e->limit = limit; /* a changed limit applies from the next lease on */
  e->last_used = now_ns;
  cpi_lease_verdict v = CPI_LEASE_ALLOW;
  if (e->allowance > 0) {
    e->allowance--;
  } else if (!store_up) {
    v = CPI_LEASE_STORE_DOWN;
  } else {
    v = CPI_LEASE_DENY;
    *retry_ns =
        e->wait_until > now_ns ? e->wait_until - now_ns : LEASE_ON_ITS_WAY_NS;
  }
  if (store_up && wants_lease(t, e, now_ns)) {
    enqueue(t, e);
    *queued = true;
  }
  pthread_mutex_unlock(&s->mu);
  return v;
}

static shard *shard_of(cpi_lease_table *t, const cpi_lease *e) {
  return &t->shards[e->node.hash % SHARDS];
}

static void fill_request(cpi_lease_request *r, cpi_lease *e, uint32_t wanted,
                         int64_t debt) {
  r->entry = e;
  memcpy(r->key, e->key, e->key_len);
  r->key_len = e->key_len;
  r->interval_us =
      (US_PER_SEC + e->limit.rate_per_sec - 1) / (int64_t)e->limit.rate_per_sec;
  /* The script keeps interval x burst under 2^50 us (35 years of tokens):
   * a burst beyond that is as good as endless, so it is cut to fit. */
  int64_t burst = e->limit.burst;
  if (burst > MAX_BUCKET_US / r->interval_us) {
    burst = MAX_BUCKET_US / r->interval_us;
  }
  r->burst = (uint32_t)burst;
  r->wanted = wanted < r->burst ? wanted : r->burst;
  /* The script's bound; only a burst lowered meanwhile makes it bite. */
  int64_t bound = 4 * burst;
  r->debt = debt > bound ? bound : debt < -bound ? -bound : debt;
}

size_t cpi_lease_collect(cpi_lease_table *t, cpi_lease_request *reqs,
                         size_t max, int64_t now_ns, int64_t *wake_ns) {
  *wake_ns = INT64_MAX;
  pthread_mutex_lock(&t->queue_mu);
  cpi_lease *list = t->queue;
  t->queue = NULL;
  pthread_mutex_unlock(&t->queue_mu);

  size_t n = 0;
  cpi_lease *keep = NULL;
  while (list != NULL) {
    cpi_lease *e = list;
    list = e->next_queued;
    shard *s = shard_of(t, e);
    pthread_mutex_lock(&s->mu);
    if (n == max || (e->debt == 0 && now_ns < e->wait_until)) {
      if (n < max && e->wait_until < *wake_ns) {
        *wake_ns = e->wait_until;
      }
      e->next_queued = keep; /* still queued: back on the list below */
      keep = e;
    } else {
      fill_request(&reqs[n++], e, cpi_lease_size(e->limit, t->lease_ms),
                   e->debt);
      e->debt = 0;
      e->queued = false;
      e->in_flight = true;
    }
    pthread_mutex_unlock(&s->mu);
  }
  if (keep != NULL) {
    pthread_mutex_lock(&t->queue_mu);
    cpi_lease *tail = keep;
    while (tail->next_queued != NULL) {
      tail = tail->next_queued;
    }
    tail->next_queued = t->queue;
    t->queue = keep;
    pthread_mutex_unlock(&t->queue_mu);
    if (n == max) {
      *wake_ns = now_ns; /* more to send at once */
    }
  }
  return n;
}

void cpi_lease_apply(cpi_lease_table *t, const cpi_lease_request *req, bool ok,
                     int64_t granted, int64_t retry_after_us, int64_t now_ns) {
  cpi_lease *e = req->entry;
  if (e == NULL) {
    return; /* a return: its entry is gone already */
  }
  shard *s = shard_of(t, e);
  pthread_mutex_lock(&s->mu);
  e->in_flight = false;
  if (!ok) {
    e->debt += req->debt;
  } else {
    e->allowance += granted;
    if (granted == 0 && retry_after_us > 0) {
      /* The script's answers stay below 2^53 us. */
      int64_t us =
          retry_after_us < MAX_RETRY_US ? retry_after_us : MAX_RETRY_US;
      e->wait_until = cpi_time_after_ns(now_ns, us * NS_PER_US);
    }
  }
  pthread_mutex_unlock(&s->mu);
}

size_t cpi_lease_sweep(cpi_lease_table *t, int64_t idle_ns, int64_t now_ns,
                       cpi_lease_request *reqs, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < SHARDS && n < max; i++) {
    shard *s = &t->shards[i];
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b <= s->tab.mask && n < max; b++) {
      cp_hnode *node = s->tab.buckets[b];
      while (node != NULL && n < max) {
        cp_hnode *next = node->next;
        cpi_lease *e = CP_HNODE_ITEM(node, cpi_lease, node);
        if (!e->queued && !e->in_flight && now_ns - e->last_used >= idle_ns) {
          int64_t owed = e->debt - e->allowance;
          if (owed != 0) {
            fill_request(&reqs[n++], e, 0, owed);
            reqs[n - 1].entry = NULL;
          }
          cpi_htab_remove(&s->tab, node);
          free(e);
          atomic_fetch_sub(&t->count, 1);
        }
        node = next;
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
  return n;
}

size_t cpi_lease_count(cpi_lease_table *t) {
  return atomic_load(&t->count);
}
