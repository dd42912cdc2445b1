/* Runtime identities shared by host replicas through etcd; see
 * identities.h. Three threads meet here: the token store's callers (local
 * changes, through the replicator), the mirror's thread (etcd's state) and
 * the publisher (writes, the secret check, staleness). `mu` guards the
 * table and the queue, briefly, and is never held while calling the store;
 * `store_mu` orders what this module does to the store (installs, drops,
 * withdrawals), so that a withdrawal and an install never interleave. */
#include "replica/identities.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/htab.h"
#include "core/monotonic_cond.h"
#include "core/siphash.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"
#include "etcd/etcd_call.h"
#include "etcd/mirror.h"
#include "replica/identity_value.h"
#include "replica/replica_util.h"

enum {
  TICK_MS = 50,    /* staleness and retry checks */
  LEASE_SLOTS = 8, /* leases the publisher keeps at hand */
  KEY_MAX = 512 + 3 + CP_RUNTIME_ID_MAX + 1 /* prefix, "id/", ID, NUL */
};

static const char CHECK_TEXT[] = "cplugin replica secret check";

typedef enum op { OP_NONE, OP_PUT, OP_DELETE } op;

/* One identity known here through etcd or written here. */
typedef struct entry {
  cp_hnode node;
  char id[CP_RUNTIME_ID_MAX + 1];
  uint8_t value[CPI_IDENTITY_VALUE_MAX]; /* sealed: the newest state */
  size_t value_len;                      /* 0: none (a pending delete) */
  uint64_t listing;                      /* the last listing that had it */
  bool landed;     /* the key exists in etcd as far as we know */
  int64_t written; /* the revision of this replica's last write */
  /* A newer state from etcd that came while a local change was pending:
   * installed if it is still newer once that change is written (rare:
   * allocated when needed, NULL otherwise). */
  uint8_t *newer;
  size_t newer_len;
  int64_t newer_rev;
  op pending;         /* a local change still to write */
  uint64_t version;   /* local changes so far */
  int64_t until_s;    /* Unix time by which both its tokens expired */
  struct entry *next; /* queue link */
} entry;

struct cpi_identity_sync {
  cpi_identity_sync_options opts;
  char *prefix; /* <prefix>id/ */
  size_t prefix_len;
  char check_key[KEY_MAX];
  size_t check_len;
  cpi_seal_key seal;
  uint64_t writer;
  cp_siphash_key hash_key;

  pthread_mutex_t store_mu;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  cp_htab table;
  entry *queue_head, *queue_tail;
  uint64_t listing; /* the listing under way (mirror thread) */
  bool visible;     /* etcd's identities are installed */
  bool stopping;
  int secret;

  _Atomic uint64_t adopted, dropped, rejected, published, failures;

  /* The publisher's leases: identities whose lives end in the same
   * window share one, so an issue or refresh costs etcd one write. */
  struct {
    int64_t end_s; /* Unix time the lease's window ends (0: unused) */
    int64_t id;
  } leases[LEASE_SLOTS];

  cpi_etcd_mirror *mirror;
  pthread_t publisher;
};

void cpi_identity_sync_options_init(cpi_identity_sync_options *o) {
  memset(o, 0, sizeof *o);
  o->stale_ms = 900;
  o->call_timeout_ms = 2000;
  o->retry_ms = 100;
}

static size_t key_of(const cpi_identity_sync *s, const char *id, char *key) {
  size_t n = strlen(id);
  memcpy(key, s->prefix, s->prefix_len);
  memcpy(key + s->prefix_len, id, n + 1);
  return s->prefix_len + n;
}

static entry *find(cpi_identity_sync *s, const char *id) {
  uint64_t h = cpi_siphash13(&s->hash_key, id, strlen(id));
  for (cp_hnode *n = cpi_htab_chain(&s->table, h); n != NULL; n = n->next) {
    entry *e = CP_HNODE_ITEM(n, entry, node);
    if (n->hash == h && strcmp(e->id, id) == 0) {
      return e;
    }
  }
  return NULL;
}

static entry *find_or_add(cpi_identity_sync *s, const char *id) {
  entry *e = find(s, id);
  if (e == NULL && (e = calloc(1, sizeof *e)) != NULL) {
    snprintf(e->id, sizeof e->id, "%s", id);
    e->node.hash = cpi_siphash13(&s->hash_key, id, strlen(id));
    cpi_htab_insert(&s->table, &e->node);
  }
  return e;
}

/* A walk over every entry (mu held), which may remove the entry it was
 * just given: `walk w = {0}; while ((e = walk_next(s, &w)) != NULL)`. */
typedef struct walk {
  size_t bucket;
  cp_hnode *next;
  bool started;
} walk;

static entry *walk_next(const cpi_identity_sync *s, walk *w) {
  while (w->next == NULL) {
    if (w->started) {
      w->bucket++;
    }
    w->started = true;
    if (w->bucket > s->table.mask) {
      return NULL;
    }
    w->next = s->table.buckets[w->bucket];
  }
  cp_hnode *n = w->next;
  w->next = n->next;
  return CP_HNODE_ITEM(n, entry, node);
}

static void drop_newer(entry *e) {
  if (e->newer != NULL) {
    cpi_secure_zero(e->newer, e->newer_len);
    free(e->newer);
  }
  e->newer = NULL;
  e->newer_len = 0;
  e->newer_rev = 0;
}

/* Forgets an entry (mu held); a queued one is unlinked first. */
static void remove_entry(cpi_identity_sync *s, entry *e) {
  drop_newer(e);
  if (e->pending != OP_NONE) {
    entry **link = &s->queue_head;
    entry *before = NULL;
    while (*link != e) {
      before = *link;
      link = &(*link)->next;
    }
    *link = e->next;
    if (s->queue_tail == e) {
      s->queue_tail = before;
    }
  }
  cpi_htab_remove(&s->table, &e->node);
  cpi_secure_zero(e->value, sizeof e->value);
  free(e);
}

static void enqueue(cpi_identity_sync *s, entry *e, op what) {
  if (e->pending == OP_NONE) {
    e->next = NULL;
    if (s->queue_tail != NULL) {
      s->queue_tail->next = e;
    } else {
      s->queue_head = e;
    }
    s->queue_tail = e;
  }
  e->pending = what;
  e->version++;
  pthread_cond_signal(&s->wake);
}

/* ---- Local changes (the token store's replicator) ---- */

static void local_change(cpi_token_change change, const cpi_token_record *rec,
                         void *user) {
  cpi_identity_sync *s = user;
  char key[KEY_MAX];
  size_t key_len = key_of(s, rec->runtime_id, key);
  uint8_t value[CPI_IDENTITY_VALUE_MAX];
  size_t value_len = 0;
  cpi_clock_pair now = cpi_clock_pair_now(s->opts.tokens);
  if (change == CPI_TOKEN_PUT &&
      cpi_identity_value_seal(&s->seal, key, key_len, s->writer, rec, now,
                              value, &value_len) != 0) {
    atomic_fetch_add(&s->failures, 1);
    return; /* the identity stays local to this replica */
  }
  pthread_mutex_lock(&s->mu);
  entry *e = change == CPI_TOKEN_PUT ? find_or_add(s, rec->runtime_id)
                                     : find(s, rec->runtime_id);
  if (e != NULL && change == CPI_TOKEN_PUT) {
    memcpy(e->value, value, value_len);
    e->value_len = value_len;
    int64_t last = rec->expires_ns > rec->prev_expires_ns
                       ? rec->expires_ns
                       : rec->prev_expires_ns;
    e->until_s = (now.unix_ms + (last - now.store_ns) / 1000000) / 1000 + 1;
    enqueue(s, e, OP_PUT);
  } else if (e != NULL) {
    /* Even one never written: a first write may be on its way. */
    e->value_len = 0;
    enqueue(s, e, OP_DELETE);
  }
  pthread_mutex_unlock(&s->mu);
  cpi_secure_zero(value, sizeof value);
}

/* ---- etcd's state (the mirror's sink) ---- */

static void log_rejected(cpi_identity_sync *s, const ProtobufCBinaryData *k,
                         const char *why) {
  cpi_replica_reject(&s->rejected, "identity replication", k, why);
}

/* The runtime ID a key names (NUL-terminated into id), or false. */
static bool id_of(const cpi_identity_sync *s, const ProtobufCBinaryData *k,
                  char id[CP_RUNTIME_ID_MAX + 1]) {
  size_t n = k->len - s->prefix_len; /* the mirror only sees the prefix */
  if (k->len <= s->prefix_len || n > CP_RUNTIME_ID_MAX ||
      memchr(k->data + s->prefix_len, '\0', n) != NULL) {
    return false;
  }
  memcpy(id, k->data + s->prefix_len, n);
  id[n] = '\0';
  return true;
}

/* Installs an opened record (it calls nothing back: safe under mu). */
static void install(cpi_identity_sync *s, const cpi_token_record *rec) {
  if (rec->expires_ns <= cpi_token_store_now_ns(s->opts.tokens)) {
    return; /* expired on the way: etcd drops it too */
  }
  int rc = cpi_token_store_adopt(s->opts.tokens, rec);
  if (rc == 0) {
    atomic_fetch_add(&s->adopted, 1);
  } else {
    cp_log(CP_LOG_WARN, "identity replication: not installed", "runtime_id",
           rec->runtime_id, "error", cp_strerror(rc), CP_LOG_END);
  }
}

static void sink_put(const ProtobufCBinaryData *k, const ProtobufCBinaryData *v,
                     int64_t revision, void *user) {
  cpi_identity_sync *s = user;
  cpi_token_record rec;
  memset(&rec, 0, sizeof rec);
  uint64_t writer = 0;
  if (!id_of(s, k, rec.runtime_id)) {
    log_rejected(s, k, "not a runtime ID");
    return;
  }
  if (cpi_identity_value_open(&s->seal, k->data, k->len, v->data, v->len,
                              cpi_clock_pair_now(s->opts.tokens), &rec,
                              &writer) != 0) {
    log_rejected(s, k, "does not open with this replica's secret");
    return;
  }
  pthread_mutex_lock(&s->store_mu);
  pthread_mutex_lock(&s->mu);
  entry *e = find_or_add(s, rec.runtime_id);
  bool apply = false;
  if (e != NULL) {
    e->listing = s->listing;
    e->landed = true;
    /* Older than (or the echo of) this replica's last write: ignored. */
    if (revision > e->written && e->pending != OP_NONE) {
      drop_newer(e);
      e->newer = malloc(v->len);
      if (e->newer != NULL) { /* without memory: the local change stands */
        memcpy(e->newer, v->data, v->len);
        e->newer_len = v->len;
        e->newer_rev = revision;
      }
    } else if (revision > e->written) {
      memcpy(e->value, v->data, v->len);
      e->value_len = v->len;
      apply = s->visible;
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (apply) {
    install(s, &rec);
  }
  pthread_mutex_unlock(&s->store_mu);
  cpi_secure_zero(&rec, sizeof rec);
}

/* Drops `id` here: revoked, expired or removed elsewhere (store_mu held). */
static void drop(cpi_identity_sync *s, const char *id) {
  if (cpi_token_store_drop(s->opts.tokens, id) == 0) {
    atomic_fetch_add(&s->dropped, 1);
  }
}

static void sink_remove(const ProtobufCBinaryData *k, void *user) {
  cpi_identity_sync *s = user;
  char id[CP_RUNTIME_ID_MAX + 1];
  if (!id_of(s, k, id)) {
    return;
  }
  pthread_mutex_lock(&s->store_mu);
  pthread_mutex_lock(&s->mu);
  entry *e = find(s, id);
  bool known = e != NULL && e->landed;
  if (known) {
    remove_entry(s, e); /* a revocation wins over a pending refresh */
  }
  pthread_mutex_unlock(&s->mu);
  if (known) {
    drop(s, id);
  }
  pthread_mutex_unlock(&s->store_mu);
}

static void sink_resync_begin(void *user) {
  cpi_identity_sync *s = user;
  pthread_mutex_lock(&s->mu);
  s->listing++;
  pthread_mutex_unlock(&s->mu);
}

static void sink_resync_end(int64_t revision, void *user) {
  (void)revision;
  cpi_identity_sync *s = user;
  /* Not listed: gone from etcd (unless its first write is still to come).
   * Taken out under mu, dropped without it (dropping tells listeners). */
  typedef struct gone_id {
    char id[CP_RUNTIME_ID_MAX + 1];
  } gone_id;
  pthread_mutex_lock(&s->store_mu);
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  walk w = {0};
  entry *e = NULL;
  while ((e = walk_next(s, &w)) != NULL) {
    n += e->listing != s->listing && e->landed;
  }
  gone_id *ids = n > 0 ? malloc(n * sizeof *ids) : NULL;
  size_t k = 0;
  walk again = {0};
  while (ids != NULL && (e = walk_next(s, &again)) != NULL) {
    if (e->listing != s->listing && e->landed) {
      memcpy(ids[k++].id, e->id, sizeof e->id);
      remove_entry(s, e);
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (n > 0 && ids == NULL) {
    cp_log(CP_LOG_ERROR,
           "identity replication: out of memory applying a "
           "listing; removals wait for the next one",
           CP_LOG_END);
  }
  for (size_t i = 0; i < k; i++) {
    drop(s, ids[i].id);
  }
  free(ids);
  pthread_mutex_unlock(&s->store_mu);
}

/* ---- Staleness: withdraw and reinstate ---- */

static void reinstate(cpi_identity_sync *s, const entry *e) {
  char key[KEY_MAX];
  size_t key_len = key_of(s, e->id, key);
  cpi_token_record rec;
  memset(&rec, 0, sizeof rec);
  uint64_t writer = 0;
  if (cpi_identity_value_open(&s->seal, key, key_len, e->value, e->value_len,
                              cpi_clock_pair_now(s->opts.tokens), &rec,
                              &writer) == 0) {
    memcpy(rec.runtime_id, e->id, sizeof e->id);
    install(s, &rec);
  }
  cpi_secure_zero(&rec, sizeof rec);
}

static void check_freshness(cpi_identity_sync *s) {
  if (s->opts.stale_ms == 0) {
    return;
  }
  cpi_etcd_mirror_stats ms;
  cpi_etcd_mirror_get_stats(s->mirror, &ms);
  int64_t now = cpi_clock_monotonic_ns();
  bool fresh = ms.watching && ms.heard_ns != 0 &&
               now - ms.heard_ns < cpi_ms_to_ns(s->opts.stale_ms);
  pthread_mutex_lock(&s->store_mu);
  pthread_mutex_lock(&s->mu);
  bool change = fresh != s->visible;
  s->visible = fresh;
  /* Forgetting and installing call nothing back, so mu may stay held. */
  walk w = {0};
  entry *e = NULL;
  while (change && (e = walk_next(s, &w)) != NULL) {
    if (e->landed && e->value_len > 0 && fresh) {
      reinstate(s, e);
    } else if (e->landed && e->value_len > 0) {
      (void)cpi_token_store_forget(s->opts.tokens, e->id);
    }
  }
  size_t count = s->table.count;
  pthread_mutex_unlock(&s->mu);
  pthread_mutex_unlock(&s->store_mu);
  if (change) {
    char n[24];
    snprintf(n, sizeof n, "%zu", count);
    cp_log(fresh ? CP_LOG_INFO : CP_LOG_WARN,
           fresh ? "identity replication: etcd in sight, identities back"
                 : "identity replication: etcd out of sight, identities "
                   "known through it withdrawn",
           "identities", n, CP_LOG_END);
  }
}

/* ---- Writes (the publisher) ---- */

static void call_opts(const cpi_identity_sync *s, cp_call_options *o) {
  cp_call_options_init(o);
  o->timeout_ms = s->opts.call_timeout_ms;
}

static int grant(cpi_identity_sync *s, int64_t ttl_s, int64_t *lease) {
  cp_call_options o;
  call_opts(s, &o);
  Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  req.ttl = ttl_s;
  Etcdserverpb__LeaseGrantResponse *resp = NULL;
  cp_status st;
  int rc = cp_etcdserverpb__lease__lease_grant__call(s->opts.etcd, &req, &resp,
                                                     &o, &st);
  if (rc == 0 && (resp->id == 0 || resp->error[0] != '\0')) {
    rc = CP_EDECODE;
  }
  *lease = rc == 0 ? resp->id : 0;
  cpi_etcd_free(resp);
  return rc;
}

/* The end of the window an identity over by `until_s` falls in: windows
 * are a power of two seconds, about 1/16 of its remaining life, so a key
 * outlives its identity by at most that (harmlessly: every replica checks
 * the expiry itself). */
static int64_t window_end(int64_t until_s, int64_t now_s) {
  int64_t life = until_s > now_s ? until_s - now_s : 1;
  int64_t width = 1;
  while (width * 2 <= life / 16) {
    width *= 2;
  }
  return (until_s + width - 1) / width * width;
}

static int64_t now_unix_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

/* A lease that lasts past `end_s`: one at hand, or a new one (in the slot
 * whose window ends first). */
static int lease_for(cpi_identity_sync *s, int64_t end_s, int64_t *lease) {
  size_t oldest = 0;
  for (size_t i = 0; i < LEASE_SLOTS; i++) {
    if (s->leases[i].end_s == end_s) {
      *lease = s->leases[i].id;
      return 0;
    }
    if (s->leases[i].end_s < s->leases[oldest].end_s) {
      oldest = i;
    }
  }
  /* Two seconds more: etcd times the lease from the grant, on its clock. */
  int rc = grant(s, end_s - now_unix_s() + 2, lease);
  if (rc == 0) {
    s->leases[oldest].end_s = end_s;
    s->leases[oldest].id = *lease;
  }
  return rc;
}

/* After a failed write: the lease may be gone (expired, etcd's data lost),
 * so the next write of that window asks for a new one. */
static void forget_lease(cpi_identity_sync *s, int64_t lease) {
  for (size_t i = 0; i < LEASE_SLOTS; i++) {
    if (s->leases[i].id == lease) {
      s->leases[i].end_s = 0;
      s->leases[i].id = 0;
    }
  }
}

/* Txn: if the key's version compares to 0 as `cmp`, put value on lease;
 * else read the key when `read_else`. */
static int put_if(cpi_identity_sync *s, const char *key, size_t key_len,
                  Etcdserverpb__Compare__CompareResult cmp,
                  const uint8_t *value, size_t len, int64_t lease,
                  bool read_else, Etcdserverpb__TxnResponse **out) {
  Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
  c.result = cmp;
  c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
  c.key = cpi_etcd_bytes(key, key_len);
  c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
  c.version = 0;
  Etcdserverpb__Compare *cs[] = {&c};
  Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
  put.key = cpi_etcd_bytes(key, key_len);
  put.value = cpi_etcd_bytes(value, len);
  put.lease = lease;
  Etcdserverpb__RequestOp then = ETCDSERVERPB__REQUEST_OP__INIT;
  then.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
  then.request_put = &put;
  Etcdserverpb__RequestOp *thens[] = {&then};
  Etcdserverpb__RangeRequest range = ETCDSERVERPB__RANGE_REQUEST__INIT;
  range.key = cpi_etcd_bytes(key, key_len);
  Etcdserverpb__RequestOp other = ETCDSERVERPB__REQUEST_OP__INIT;
  other.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
  other.request_range = &range;
  Etcdserverpb__RequestOp *others[] = {&other};
  Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
  req.n_compare = 1;
  req.compare = cs;
  req.n_success = 1;
  req.success = thens;
  req.n_failure = read_else ? 1 : 0;
  req.failure = read_else ? others : NULL;
  cp_call_options o;
  call_opts(s, &o);
  cp_status st;
  *out = NULL;
  int rc = cp_etcdserverpb__kv__txn__call(s->opts.etcd, &req, out, &o, &st);
  if (rc == 0 && (*out)->header == NULL) {
    cpi_etcd_free(*out);
    *out = NULL;
    rc = CP_EDECODE;
  }
  return rc;
}

/* What the publisher took from the queue head. */
typedef struct job {
  char id[CP_RUNTIME_ID_MAX + 1];
  uint8_t value[CPI_IDENTITY_VALUE_MAX];
  size_t value_len;
  op what;
  bool landed;
  int64_t until_s;
  uint64_t version;
} job;

/* DONE: written. RETRY: etcd failed. FOUND: a first write found its key,
 * so an earlier try landed and its answer was lost: again, as a later
 * write. GONE_ELSEWHERE: a later write found no key (revoked or expired
 * elsewhere meanwhile). */
typedef enum outcome { DONE, RETRY, FOUND, GONE_ELSEWHERE } outcome;

static outcome write_put(cpi_identity_sync *s, const job *j, const char *key,
                         size_t key_len, int64_t *revision) {
  int64_t lease = 0;
  if (lease_for(s, window_end(j->until_s, now_unix_s()), &lease) != 0) {
    return RETRY;
  }
  /* A first write lands only on an absent key, a later one only on a
   * present key (absent: revoked or expired elsewhere meanwhile). */
  Etcdserverpb__TxnResponse *resp = NULL;
  bool first = !j->landed;
  if (put_if(s, key, key_len,
             first ? ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
                   : ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER,
             j->value, j->value_len, lease, false, &resp) != 0) {
    forget_lease(s, lease);
    return RETRY;
  }
  bool ok = resp->succeeded;
  *revision = resp->header->revision;
  cpi_etcd_free(resp);
  if (ok) {
    return DONE;
  }
  return first ? FOUND : GONE_ELSEWHERE;
}

/* Writes one local change; false when etcd failed (to be retried). */
static bool publish_one(cpi_identity_sync *s, const job *j) {
  char key[KEY_MAX];
  size_t key_len = key_of(s, j->id, key);
  int64_t revision = 0;
  outcome out;
  if (j->what == OP_PUT) {
    out = write_put(s, j, key, key_len, &revision);
  } else {
    out = cpi_etcd_delete(s->opts.etcd, s->opts.call_timeout_ms, key,
                          key_len) == 0
              ? DONE
              : RETRY;
  }
  pthread_mutex_lock(&s->store_mu);
  pthread_mutex_lock(&s->mu);
  entry *e = find(s, j->id);
  if (out == DONE) {
    atomic_fetch_add(&s->published, 1);
  }
  bool same = e != NULL && e->version == j->version; /* not changed since */
  if (e != NULL && (out == GONE_ELSEWHERE ||
                    (out == DONE && same && j->what == OP_DELETE))) {
    remove_entry(s, e);
  } else if (e != NULL && out == FOUND) {
    e->landed = true; /* stays queued */
  } else if (e != NULL && out == DONE && j->what == OP_PUT) {
    e->landed = true;
    e->written = revision;
  }
  if (same && out == DONE && j->what == OP_PUT) {
    /* Written as it stands: off the queue (it is at its head). */
    s->queue_head = e->next;
    if (s->queue_tail == e) {
      s->queue_tail = NULL;
    }
    e->pending = OP_NONE;
    if (e->newer_rev > revision) {
      /* Another replica wrote after this one: its state stands. */
      memcpy(e->value, e->newer, e->newer_len);
      e->value_len = e->newer_len;
      if (s->visible) {
        reinstate(s, e);
      }
    }
    drop_newer(e);
  }
  pthread_mutex_unlock(&s->mu);
  if (out == GONE_ELSEWHERE) {
    drop(s, j->id);
  }
  pthread_mutex_unlock(&s->store_mu);
  return out != RETRY;
}

/* Writes the check value if there is none, else compares it. Returns 0
 * when etcd answered (s->secret set), else an error. */
static int check_secret(cpi_identity_sync *s) {
  uint8_t value[sizeof CHECK_TEXT + CPI_SEAL_OVERHEAD];
  if (cpi_seal(&s->seal, s->check_key, s->check_len, CHECK_TEXT,
               sizeof CHECK_TEXT, value) != 0) {
    return CP_ESYS;
  }
  Etcdserverpb__TxnResponse *resp = NULL;
  int rc = put_if(s, s->check_key, s->check_len,
                  ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL, value,
                  sizeof value, 0, true, &resp);
  if (rc != 0) {
    return rc;
  }
  bool match = resp->succeeded;
  if (!match && resp->n_responses == 1 &&
      resp->responses[0]->response_case ==
          ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
      resp->responses[0]->response_range->n_kvs == 1) {
    const ProtobufCBinaryData *v =
        &resp->responses[0]->response_range->kvs[0]->value;
    uint8_t text[sizeof CHECK_TEXT];
    size_t len = 0;
    match = v->len == sizeof value &&
            cpi_seal_open(&s->seal, s->check_key, s->check_len, v->data, v->len,
                          text, &len) == 0 &&
            len == sizeof CHECK_TEXT && memcmp(text, CHECK_TEXT, len) == 0;
  }
  cpi_etcd_free(resp);
  pthread_mutex_lock(&s->mu);
  s->secret = match ? 1 : 0;
  pthread_mutex_unlock(&s->mu);
  if (!match) {
    cp_log(CP_LOG_ERROR,
           "identity replication: this replica's shared secret differs from "
           "the other replicas'; its identities stay local and theirs are "
           "not accepted",
           "check_key", s->check_key, CP_LOG_END);
  }
  return 0;
}

static void *publisher_main(void *arg) {
  cpi_identity_sync *s = arg;
  cpi_write_retry retry;
  cpi_write_retry_init(&retry, "identity replication", s->opts.retry_ms);
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    bool due = cpi_write_retry_due(&retry);
    int secret = s->secret;
    entry *head = s->queue_head;
    job j;
    bool have_job = due && secret == 1 && head != NULL;
    if (have_job) {
      snprintf(j.id, sizeof j.id, "%s", head->id);
      memcpy(j.value, head->value, head->value_len);
      j.value_len = head->value_len;
      j.what = head->pending;
      j.landed = head->landed;
      j.until_s = head->until_s;
      j.version = head->version;
    }
    pthread_mutex_unlock(&s->mu);
    check_freshness(s);
    int rc = 0;
    if (due && secret == -1) {
      rc = check_secret(s);
    } else if (have_job) {
      rc = publish_one(s, &j) ? 0 : CP_ERPC;
      cpi_secure_zero(j.value, sizeof j.value);
    }
    if (rc != 0) {
      cpi_write_retry_failed(&retry, rc, &s->failures);
    } else if (due && (secret == -1 || have_job)) {
      cpi_write_retry_ok(&retry);
    }
    pthread_mutex_lock(&s->mu);
    /* Sleeps only with nothing to write now (a change made meanwhile has
     * already signalled, while this thread was not waiting). */
    bool more =
        s->queue_head != NULL && s->secret == 1 && cpi_write_retry_due(&retry);
    if (!s->stopping && !more) {
      struct timespec until = cpi_monotonic_after_ms(TICK_MS);
      pthread_cond_timedwait(&s->wake, &s->mu, &until);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ---- Life cycle ---- */

static void destroy(cpi_identity_sync *s) {
  for (size_t b = 0; s->table.buckets != NULL && b <= s->table.mask; b++) {
    cp_hnode *n = s->table.buckets[b];
    while (n != NULL) {
      entry *e = CP_HNODE_ITEM(n, entry, node);
      n = n->next;
      drop_newer(e);
      cpi_secure_zero(e, sizeof *e);
      free(e);
    }
  }
  cpi_htab_release(&s->table);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->store_mu);
  pthread_cond_destroy(&s->wake);
  cpi_secure_zero(&s->seal, sizeof s->seal);
  free(s->prefix);
  free(s);
}

int cpi_identity_sync_start(cpi_identity_sync **out,
                            const cpi_identity_sync_options *opts) {
  if (out == NULL || opts == NULL || opts->etcd == NULL ||
      opts->tokens == NULL || opts->prefix == NULL || opts->prefix[0] == '\0' ||
      strlen(opts->prefix) > 512 || opts->secret == NULL ||
      opts->secret_len < CPI_REPLICA_SECRET_MIN || opts->stale_ms < 0 ||
      opts->call_timeout_ms <= 0 || opts->retry_ms <= 0) {
    return CP_EINVAL;
  }
  *out = NULL;
  cpi_identity_sync *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  s->opts = *opts;
  s->opts.secret = NULL;
  s->opts.prefix = NULL;
  size_t plen = strlen(opts->prefix);
  s->prefix = malloc(plen + 4);
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->store_mu, NULL);
  cpi_cond_init_monotonic(&s->wake);
  if (s->prefix == NULL || cpi_htab_init(&s->table) != 0) {
    destroy(s);
    return CP_ENOMEM;
  }
  snprintf(s->prefix, plen + 4, "%sid/", opts->prefix);
  s->prefix_len = plen + 3;
  s->check_len = (size_t)snprintf(s->check_key, sizeof s->check_key,
                                  "%ssecret-check", opts->prefix);
  s->secret = -1;
  s->visible = opts->stale_ms == 0;
  if (cpi_seal_key_derive(&s->seal, opts->secret, opts->secret_len,
                          "cplugin replica identities v1") != 0 ||
      cpi_random_bytes(&s->writer, sizeof s->writer) != 0 ||
      cpi_random_bytes(&s->hash_key, sizeof s->hash_key) != 0) {
    destroy(s);
    return CP_ESYS;
  }
  cpi_etcd_mirror_options mo;
  cpi_etcd_mirror_options_init(&mo);
  mo.etcd = opts->etcd;
  mo.prefix = s->prefix;
  mo.call_timeout_ms = opts->call_timeout_ms;
  cpi_etcd_sink sink = {sink_resync_begin, sink_put, sink_remove,
                        sink_resync_end, s};
  int rc = cpi_etcd_mirror_start(&s->mirror, &mo, &sink);
  if (rc != 0) {
    destroy(s);
    return rc;
  }
  if (pthread_create(&s->publisher, NULL, publisher_main, s) != 0) {
    cpi_etcd_mirror_stop(s->mirror);
    destroy(s);
    return CP_ESYS;
  }
  cpi_token_store_set_replicator(opts->tokens, local_change, s);
  *out = s;
  return 0;
}

void cpi_identity_sync_stop(cpi_identity_sync *s) {
  if (s == NULL) {
    return;
  }
  cpi_token_store_set_replicator(s->opts.tokens, NULL, NULL);
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->publisher, NULL);
  cpi_etcd_mirror_stop(s->mirror);
  destroy(s);
}

int cpi_identity_sync_secret(cpi_identity_sync *s) {
  pthread_mutex_lock(&s->mu);
  int secret = s->secret;
  pthread_mutex_unlock(&s->mu);
  return secret;
}

void cpi_identity_sync_get_stats(cpi_identity_sync *s,
                                 cpi_identity_sync_stats *out) {
  memset(out, 0, sizeof *out);
  out->adopted = atomic_load(&s->adopted);
  out->dropped = atomic_load(&s->dropped);
  out->rejected = atomic_load(&s->rejected);
  out->published = atomic_load(&s->published);
  out->failures = atomic_load(&s->failures);
  pthread_mutex_lock(&s->mu);
  for (entry *e = s->queue_head; e != NULL; e = e->next) {
    out->pending++;
  }
  out->known = s->table.count;
  out->stale = !s->visible;
  out->secret = s->secret;
  pthread_mutex_unlock(&s->mu);
}
