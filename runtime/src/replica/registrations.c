/* Registrations shared by host replicas through etcd; see registrations.h.
 * Three kinds of thread meet here: the registry's writers and the token
 * store's (local changes, queued), the mirror's (etcd's state, applied to
 * the registry) and the publisher (writes). `mu` guards the table and the
 * queue, briefly; the registry calls the replicator with its write lock
 * held, so nothing here calls the registry with `mu` held. */
#include "replica/registrations.h"

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/htab.h"
#include "core/siphash.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"
#include "etcd/etcd_call.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"
#include "etcd/mirror.h"
#include "registry/registry_replica.h"
#include "replica/identities.h"
#include "replica/registration_value.h"
#include "replica/replica_util.h"

enum {
  TICK_MS = 100,    /* the secret check's and retries' pace */
  ID_TEXT = 4 + 16, /* "reg-" and 16 hex digits */
  KEY_MAX = 512 + 4 + ID_TEXT + 1
};

/* A local change to write. */
typedef struct job {
  struct job *next;
  uint64_t id;
  uint8_t *value; /* sealed; NULL: a delete */
  size_t len;
} job;

typedef struct owner owner;

/* A registration under the prefix in etcd, as the mirror last saw it. */
typedef struct known {
  cp_hnode node; /* hash = the registration ID */
  uint64_t listing;
  owner *owner;
  struct known *owner_next;
} known;

/* An owner of known registrations: when its identity ends, they go. */
struct owner {
  cp_hnode node; /* hash = keyed hash of the ID */
  known *keys;
  char id[];
};

struct cpi_registration_sync {
  cpi_registration_sync_options opts;
  char prefix[KEY_MAX]; /* <prefix>reg/ */
  size_t prefix_len;
  cpi_seal_key seal;
  uint64_t writer;

  pthread_mutex_t mu;
  pthread_cond_t wake;
  cp_htab table;  /* known, by registration ID */
  cp_htab owners; /* owner, by runtime ID */
  cp_siphash_key owner_key;
  job *head, *tail;
  size_t pending;
  uint64_t listing;
  bool stopping;

  _Atomic uint64_t adopted, dropped, rejected, published, failures;

  cpi_etcd_mirror *mirror;
  pthread_t publisher;
};

void cpi_registration_sync_options_init(cpi_registration_sync_options *o) {
  memset(o, 0, sizeof *o);
  o->call_timeout_ms = 2000;
  o->retry_ms = 100;
}

static size_t key_of(const cpi_registration_sync *s, uint64_t id, char *key) {
  memcpy(key, s->prefix, s->prefix_len);
  snprintf(key + s->prefix_len, ID_TEXT + 1, "reg-%016" PRIx64, id);
  return s->prefix_len + ID_TEXT;
}

/* The registration ID a key names, or false. */
static bool id_of(const cpi_registration_sync *s, const ProtobufCBinaryData *k,
                  uint64_t *id) {
  char text[ID_TEXT + 1];
  if (k->len != s->prefix_len + ID_TEXT) {
    return false;
  }
  memcpy(text, k->data + s->prefix_len, ID_TEXT);
  text[ID_TEXT] = '\0';
  return strncmp(text, "reg-", 4) == 0 && cpi_hex_decode_u64(text + 4, id) == 0;
}

static known *find(const cpi_registration_sync *s, uint64_t id) {
  for (cp_hnode *n = cpi_htab_chain(&s->table, id); n != NULL; n = n->next) {
    if (n->hash == id) {
      return CP_HNODE_ITEM(n, known, node);
    }
  }
  return NULL;
}

static owner *find_owner(const cpi_registration_sync *s, const char *id,
                         uint64_t hash) {
  for (cp_hnode *n = cpi_htab_chain(&s->owners, hash); n != NULL; n = n->next) {
    owner *o = CP_HNODE_ITEM(n, owner, node);
    if (n->hash == hash && strcmp(o->id, id) == 0) {
      return o;
    }
  }
  return NULL;
}

static uint64_t owner_hash(const cpi_registration_sync *s, const char *id) {
  return cpi_siphash13(&s->owner_key, id, strlen(id));
}

static void forget(cpi_registration_sync *s, known *k) {
  owner *o = k->owner;
  for (known **link = &o->keys; *link != NULL; link = &(*link)->owner_next) {
    if (*link == k) {
      *link = k->owner_next;
      break;
    }
  }
  if (o->keys == NULL) {
    cpi_htab_remove(&s->owners, &o->node);
    free(o);
  }
  cpi_htab_remove(&s->table, &k->node);
  free(k);
}

/* Queues a write (mu held). Takes `value`. */
static void enqueue(cpi_registration_sync *s, uint64_t id, uint8_t *value,
                    size_t len) {
  job *j = malloc(sizeof *j);
  if (j == NULL) {
    free(value);
    atomic_fetch_add(&s->failures, 1);
    cp_log(CP_LOG_ERROR,
           "registry replication: out of memory, a change stays local",
           CP_LOG_END);
    return;
  }
  j->next = NULL;
  j->id = id;
  j->value = value;
  j->len = len;
  if (s->tail != NULL) {
    s->tail->next = j;
  } else {
    s->head = j;
  }
  s->tail = j;
  s->pending++;
  pthread_cond_signal(&s->wake);
}

/* ---- Local changes ---- */

/* The registry's replicator (its write lock held). */
static void local_change(bool added, const cpi_reg_record *rec, void *user) {
  cpi_registration_sync *s = user;
  uint8_t *value = NULL;
  size_t len = 0;
  if (added) {
    char key[KEY_MAX];
    size_t key_len = key_of(s, rec->id, key);
    int rc = cpi_registration_value_seal(&s->seal, key, key_len, s->writer, rec,
                                         &value, &len);
    if (rc != 0) {
      atomic_fetch_add(&s->failures, 1);
      cp_log(CP_LOG_ERROR, "registry replication: registration stays local",
             "owner", rec->owner, "error", cp_strerror(rc), CP_LOG_END);
      return;
    }
  }
  pthread_mutex_lock(&s->mu);
  enqueue(s, rec->id, value, len);
  pthread_mutex_unlock(&s->mu);
}

/* The token store's listener: an identity that ended takes its keys along,
 * wherever they were written and whether or not the registry still holds
 * them (its liveness may have removed them here already). */
static void identity_ended(const char *runtime_id, cp_token_event event,
                           void *user) {
  (void)event;
  cpi_registration_sync *s = user;
  pthread_mutex_lock(&s->mu);
  owner *o = find_owner(s, runtime_id, owner_hash(s, runtime_id));
  for (known *k = o != NULL ? o->keys : NULL; k != NULL; k = k->owner_next) {
    enqueue(s, k->node.hash, NULL, 0);
  }
  pthread_mutex_unlock(&s->mu);
}

/* ---- etcd's state (the mirror's sink) ---- */

static void log_rejected(cpi_registration_sync *s, const ProtobufCBinaryData *k,
                         const char *why) {
  cpi_replica_reject(&s->rejected, "registry replication", k, why);
}

/* Records what etcd holds for `id` (mu held). False without memory. */
static bool note(cpi_registration_sync *s, uint64_t id, const char *owner_id) {
  known *k = find(s, id);
  if (k != NULL && strcmp(k->owner->id, owner_id) != 0) {
    forget(s, k);
    k = NULL;
  }
  if (k == NULL) {
    uint64_t h = owner_hash(s, owner_id);
    owner *o = find_owner(s, owner_id, h);
    if (o == NULL) {
      size_t n = strlen(owner_id) + 1;
      o = malloc(sizeof *o + n);
      if (o == NULL) {
        return false;
      }
      memcpy(o->id, owner_id, n);
      o->keys = NULL;
      o->node.hash = h;
      cpi_htab_insert(&s->owners, &o->node);
    }
    k = malloc(sizeof *k);
    if (k == NULL) {
      if (o->keys == NULL) {
        cpi_htab_remove(&s->owners, &o->node);
        free(o);
      }
      return false;
    }
    k->node.hash = id;
    k->owner = o;
    k->owner_next = o->keys;
    o->keys = k;
    cpi_htab_insert(&s->table, &k->node);
  }
  k->listing = s->listing;
  return true;
}

static void sink_put(const ProtobufCBinaryData *k, const ProtobufCBinaryData *v,
                     int64_t revision, void *user) {
  (void)revision; /* a registration never changes: IDs are not reused */
  cpi_registration_sync *s = user;
  uint64_t id = 0;
  if (!id_of(s, k, &id)) {
    log_rejected(s, k, "not a registration ID");
    return;
  }
  cpi_registration_value *val = NULL;
  int rc = cpi_registration_value_open(&s->seal, k->data, k->len, v->data,
                                       v->len, &val);
  if (rc != 0) {
    log_rejected(s, k,
                 rc == CP_ENOMEM ? "out of memory"
                                 : "does not open with this replica's secret");
    return;
  }
  /* Its own writes (echoes) are in the registry already, or removed since:
   * installing them again would undo a removal still on its way. */
  bool ours = val->writer == s->writer;
  char why[160] = "";
  rc = ours ? 0
            : cpi_registry_adopt(s->opts.registry, id, val->owner, &val->svc,
                                 why, sizeof why);
  if (rc != 0) {
    log_rejected(s, k, rc == CP_ENOMEM ? "out of memory" : why);
  } else if (!ours) {
    atomic_fetch_add(&s->adopted, 1);
  }
  pthread_mutex_lock(&s->mu);
  bool noted = note(s, id, val->owner);
  pthread_mutex_unlock(&s->mu);
  if (!noted) {
    log_rejected(s, k, "out of memory");
  }
  free(val);
}

static void drop(cpi_registration_sync *s, uint64_t id) {
  if (cpi_registry_drop(s->opts.registry, id) == 0) {
    atomic_fetch_add(&s->dropped, 1);
  }
}

static void sink_remove(const ProtobufCBinaryData *k, void *user) {
  cpi_registration_sync *s = user;
  uint64_t id = 0;
  if (!id_of(s, k, &id)) {
    return;
  }
  pthread_mutex_lock(&s->mu);
  known *kn = find(s, id);
  if (kn != NULL) {
    forget(s, kn);
  }
  pthread_mutex_unlock(&s->mu);
  drop(s, id);
}

static void sink_resync_begin(void *user) {
  cpi_registration_sync *s = user;
  pthread_mutex_lock(&s->mu);
  s->listing++;
  pthread_mutex_unlock(&s->mu);
}

/* Not listed: gone from etcd while the watch was down. */
static void sink_resync_end(int64_t revision, void *user) {
  (void)revision;
  cpi_registration_sync *s = user;
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  for (size_t b = 0; b <= s->table.mask; b++) {
    for (cp_hnode *h = s->table.buckets[b]; h != NULL; h = h->next) {
      n += CP_HNODE_ITEM(h, known, node)->listing != s->listing;
    }
  }
  uint64_t *ids = n > 0 ? malloc(n * sizeof *ids) : NULL;
  size_t count = 0;
  for (size_t b = 0; ids != NULL && b <= s->table.mask; b++) {
    cp_hnode *h = s->table.buckets[b];
    while (h != NULL) {
      cp_hnode *next = h->next;
      known *k = CP_HNODE_ITEM(h, known, node);
      if (k->listing != s->listing) {
        ids[count++] = h->hash;
        forget(s, k);
      }
      h = next;
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (n > 0 && ids == NULL) {
    cp_log(CP_LOG_ERROR,
           "registry replication: out of memory applying a listing; "
           "removals wait for the next one",
           CP_LOG_END);
  }
  for (size_t i = 0; i < count; i++) {
    drop(s, ids[i]);
  }
  free(ids);
}

/* ---- Writes (the publisher) ---- */

static int write_job(cpi_registration_sync *s, const job *j) {
  char key[KEY_MAX];
  size_t key_len = key_of(s, j->id, key);
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = s->opts.call_timeout_ms;
  cp_status st;
  int rc;
  if (j->value != NULL) {
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = cpi_etcd_bytes(key, key_len);
    req.value = cpi_etcd_bytes(j->value, j->len);
    Etcdserverpb__PutResponse *resp = NULL;
    rc = cp_etcdserverpb__kv__put__call(s->opts.etcd, &req, &resp, &o, &st);
    cpi_etcd_free(resp);
  } else {
    rc = cpi_etcd_delete(s->opts.etcd, s->opts.call_timeout_ms, key, key_len);
  }
  return rc;
}

static void *publisher_main(void *arg) {
  cpi_registration_sync *s = arg;
  cpi_write_retry retry;
  cpi_write_retry_init(&retry, "registry replication", s->opts.retry_ms);
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    job *j = s->head;
    bool ready = j != NULL && cpi_write_retry_due(&retry);
    pthread_mutex_unlock(&s->mu);
    bool tried = ready && s->opts.secret_state(s->opts.secret_user) == 1;
    /* Only this thread takes jobs off the queue: j stays the head. */
    int rc = tried ? write_job(s, j) : 0;
    pthread_mutex_lock(&s->mu);
    if (tried && rc == 0) {
      s->head = j->next;
      if (s->tail == j) {
        s->tail = NULL;
      }
      s->pending--;
      free(j->value);
      free(j);
      atomic_fetch_add(&s->published, 1);
      cpi_write_retry_ok(&retry);
      continue;
    }
    if (rc != 0) {
      cpi_write_retry_failed(&retry, rc, &s->failures);
    }
    if (!s->stopping) { /* nothing to write now, or not yet */
      struct timespec until = cpi_monotonic_after_ms(TICK_MS);
      pthread_cond_timedwait(&s->wake, &s->mu, &until);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ---- Life cycle ---- */

static void free_all(cp_htab *t, size_t offset) {
  for (size_t b = 0; t->buckets != NULL && b <= t->mask; b++) {
    cp_hnode *n = t->buckets[b];
    while (n != NULL) {
      cp_hnode *next = n->next;
      free((char *)n - offset);
      n = next;
    }
  }
  cpi_htab_release(t);
}

static void destroy(cpi_registration_sync *s) {
  free_all(&s->table, offsetof(known, node));
  free_all(&s->owners, offsetof(owner, node));
  while (s->head != NULL) {
    job *j = s->head;
    s->head = j->next;
    free(j->value);
    free(j);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->wake);
  cpi_secure_zero(&s->seal, sizeof s->seal);
  free(s);
}

int cpi_registration_sync_start(cpi_registration_sync **out,
                                const cpi_registration_sync_options *opts) {
  if (out == NULL || opts == NULL || opts->etcd == NULL ||
      opts->registry == NULL || opts->tokens == NULL || opts->prefix == NULL ||
      opts->prefix[0] == '\0' || strlen(opts->prefix) > 512 ||
      opts->secret == NULL || opts->secret_len < CPI_REPLICA_SECRET_MIN ||
      opts->call_timeout_ms <= 0 || opts->retry_ms <= 0 ||
      opts->secret_state == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cpi_registration_sync *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  s->opts = *opts;
  s->opts.secret = NULL;
  s->opts.prefix = NULL;
  s->prefix_len =
      (size_t)snprintf(s->prefix, sizeof s->prefix, "%sreg/", opts->prefix);
  pthread_mutex_init(&s->mu, NULL);
  cpi_cond_init_monotonic(&s->wake);
  if (cpi_htab_init(&s->table) != 0 || cpi_htab_init(&s->owners) != 0) {
    destroy(s);
    return CP_ENOMEM;
  }
  if (cpi_seal_key_derive(&s->seal, opts->secret, opts->secret_len,
                          "cplugin replica registrations v1") != 0 ||
      cpi_random_bytes(&s->writer, sizeof s->writer) != 0 ||
      cpi_random_bytes(&s->owner_key, sizeof s->owner_key) != 0) {
    destroy(s);
    return CP_ESYS;
  }
  int rc = cp_token_store_subscribe(opts->tokens, identity_ended, s);
  if (rc != 0) {
    destroy(s);
    return rc;
  }
  /* Hooked before the mirror lists: a registration made meanwhile is
   * written, one made before is this replica's alone (documented). */
  cpi_registry_set_replicator(opts->registry, local_change, s);
  cpi_etcd_mirror_options mo;
  cpi_etcd_mirror_options_init(&mo);
  mo.etcd = opts->etcd;
  mo.prefix = s->prefix;
  mo.call_timeout_ms = opts->call_timeout_ms;
  cpi_etcd_sink sink = {sink_resync_begin, sink_put, sink_remove,
                        sink_resync_end, s};
  rc = cpi_etcd_mirror_start(&s->mirror, &mo, &sink);
  if (rc == 0 && pthread_create(&s->publisher, NULL, publisher_main, s) != 0) {
    cpi_etcd_mirror_stop(s->mirror);
    rc = CP_ESYS;
  }
  if (rc != 0) {
    cpi_registry_set_replicator(opts->registry, NULL, NULL);
    (void)cp_token_store_unsubscribe(opts->tokens, identity_ended, s);
    destroy(s);
    return rc;
  }
  *out = s;
  return 0;
}

void cpi_registration_sync_stop(cpi_registration_sync *s) {
  if (s == NULL) {
    return;
  }
  cpi_registry_set_replicator(s->opts.registry, NULL, NULL);
  (void)cp_token_store_unsubscribe(s->opts.tokens, identity_ended, s);
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->publisher, NULL);
  cpi_etcd_mirror_stop(s->mirror);
  destroy(s);
}

void cpi_registration_sync_get_stats(cpi_registration_sync *s,
                                     cpi_registration_sync_stats *out) {
  memset(out, 0, sizeof *out);
  out->adopted = atomic_load(&s->adopted);
  out->dropped = atomic_load(&s->dropped);
  out->rejected = atomic_load(&s->rejected);
  out->published = atomic_load(&s->published);
  out->failures = atomic_load(&s->failures);
  pthread_mutex_lock(&s->mu);
  out->pending = s->pending;
  out->known = s->table.count;
  pthread_mutex_unlock(&s->mu);
}
