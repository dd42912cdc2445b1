/* The runtime identity token store: issue, validate, revoke, refresh, sweep,
 * and listeners for revocation and expiry. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/housekeeper.h"
#include "core/siphash.h"
#include "crypto/crypto.h"
#include "cplugin/errors.h"
#include "cplugin/tokens.h"
#include "tokens/token_codec.h"
#include "tokens/token_replica.h"
#include "tokens/token_store_testing.h"
#include "core/sweep_mark.h"
#include "tokens/token_table.h"

enum {
  SHARD_COUNT = 64, /* must match SHARD_BITS in token_table.c */
  SUFFIX_HEX = 16,
  ISSUE_ATTEMPTS = 8
};

/* Previous-token records are named by 32-bit indices. */
_Static_assert(CP_TOKEN_STORE_MAX_TOKENS < UINT32_MAX,
               "a shard's entries fit 32-bit indices");

typedef struct listener {
  cp_token_listener_fn fn;
  void *user;
} listener;

struct cp_token_store {
  cp_token_store_options opts;
  int64_t ttl_ns;
  int64_t overlap_ns;
  cp_siphash_key id_key;
  atomic_size_t live;

  pthread_mutex_t listeners_mu;
  pthread_cond_t listeners_idle; /* notifying dropped to 0 */
  /* Slots in order of subscription; fn == NULL marks one removed while a
   * notification was walking the list (indices stay put until the last
   * walker leaves, which compacts). */
  listener *listeners;
  size_t listener_count; /* slots in use, removed ones included */
  size_t listener_cap;
  size_t notifying; /* notify() calls walking the list */

  /* Told of local issues, refreshes and revocations (host replicas); held
   * during a call so that clearing it waits for one in progress. */
  pthread_mutex_t replicator_mu;
  cpi_token_replicator_fn replicator;
  void *replicator_user;

  /* The background sweep, on the process's housekeeping thread for the
   * store's clock (sweep_interval_ms > 0; hk NULL otherwise). */
  cpi_housekeeper *hk;
  cpi_timer sweep_timer;
  cpi_sweep_mark swept;

  /* Last: each shard is cache-line aligned. */
  cp_token_shard shards[SHARD_COUNT];
};

void cp_token_store_options_init(cp_token_store_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->ttl_ms = 24LL * 60 * 60 * 1000;
  opts->max_tokens = 100000;
  opts->refresh_overlap_ms = 60000;
  opts->sweep_interval_ms = 60000;
  opts->clock = NULL;
}

bool cp_self_id_valid(const char *self_id) {
  if (self_id == NULL) {
    return false;
  }
  size_t n = strnlen(self_id, CP_SELF_ID_MAX + 1);
  if (n == 0 || n > CP_SELF_ID_MAX) {
    return false;
  }
  char c = self_id[0];
  if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
    return false;
  }
  for (size_t i = 1; i < n; i++) {
    c = self_id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

static int64_t now_ns(const cp_token_store *s) {
  return s->opts.clock->now_ns(s->opts.clock->user);
}

static int random_bytes(const cp_token_store *s, void *buf, size_t n) {
  if (s->opts.random != NULL) {
    return s->opts.random(buf, n, s->opts.random_user);
  }
  return cpi_random_bytes(buf, n);
}

static cp_token_shard *shard_of(cp_token_store *s, uint64_t key) {
  return &s->shards[key & (SHARD_COUNT - 1)];
}

/* Splits "<prefix>-<16 hex>" and returns the suffix as the table key. */
static bool parse_key(const char *id, size_t len, uint64_t *key) {
  if (len < SUFFIX_HEX + 2 || len > CP_RUNTIME_ID_MAX ||
      id[len - SUFFIX_HEX - 1] != '-') {
    return false;
  }
  return cpi_token_decode_hex16(id + len - SUFFIX_HEX, key) && *key != 0;
}

/* Binds the name part of a runtime ID to its entry: the suffix is matched
 * exactly, the prefix through a keyed hash (only the prefix: it is short,
 * which keeps the validation path cheap). */
static uint64_t prefix_hash(const cp_token_store *s, const char *id,
                            size_t len) {
  return cpi_siphash13(&s->id_key, id, len - SUFFIX_HEX - 1);
}

/* Entries one shard must be able to hold: random keys spread max_tokens
 * binomially over the shards, so the mean plus eight standard deviations
 * (and a floor for small stores) is practically never reached; if it is,
 * issuing draws another key, which lands in another shard. */
static size_t shard_entries(size_t max_tokens) {
  size_t mean = (max_tokens + SHARD_COUNT - 1) / SHARD_COUNT;
  size_t root = 1;
  while (root * root < mean) {
    root++;
  }
  size_t entries = mean + 8 * root + 32;
  return entries < max_tokens ? entries : max_tokens;
}

/* The background sweep: on the housekeeping thread, every interval. */
static void sweep_due(void *user) {
  cp_token_store *s = user;
  cp_token_store_sweep(s);
  /* Re-armed; without memory the sweeps stop and validation still drops
   * expired tokens lazily. */
  (void)cpi_timer_arm(&s->sweep_timer, cpi_ms_to_ns(s->opts.sweep_interval_ms));
}

int cp_token_store_create(cp_token_store **out,
                          const cp_token_store_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_token_store_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_token_store_options_init(&o);
  }
  if (o.ttl_ms <= 0 || o.max_tokens == 0 ||
      o.max_tokens > CP_TOKEN_STORE_MAX_TOKENS || o.refresh_overlap_ms < 0 ||
      o.sweep_interval_ms < 0 || o.sweep_interval_ms > INT64_MAX / 1000000 ||
      o.ttl_ms > INT64_MAX / 1000000 ||
      o.refresh_overlap_ms > INT64_MAX / 1000000) {
    return CP_EINVAL;
  }
  /* Sweeps are timed on the clock given, or the system clock. */
  const cp_clock *sweep_clock = o.clock;
  if (o.clock == NULL) {
    o.clock = cpi_clock_coarse(); /* expiry: millisecond precision */
  }
  cp_token_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return CP_ENOMEM;
  }
  s->opts = o;
  s->ttl_ns = o.ttl_ms * 1000000;
  s->overlap_ns = o.refresh_overlap_ms * 1000000;
  if (cpi_random_bytes(&s->id_key, sizeof s->id_key) != 0) {
    free(s);
    return CP_ESYS;
  }
  atomic_init(&s->live, 0);
  cpi_sweep_mark_init(&s->swept);
  size_t per_shard = shard_entries(o.max_tokens);
  size_t ready = 0;
  for (; ready < SHARD_COUNT; ready++) {
    if (cpi_token_shard_init(&s->shards[ready], per_shard, &s->id_key) != 0) {
      break;
    }
  }
  if (ready < SHARD_COUNT) {
    while (ready > 0) {
      cpi_token_shard_destroy(&s->shards[--ready]);
    }
    free(s);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&s->listeners_mu, NULL);
  pthread_cond_init(&s->listeners_idle, NULL);
  pthread_mutex_init(&s->replicator_mu, NULL);
  int rc = 0;
  if (o.sweep_interval_ms > 0) {
    rc = cpi_housekeeper_acquire(sweep_clock, &s->hk);
  }
  if (rc == 0 && s->hk != NULL) {
    cpi_timer_init(&s->sweep_timer, s->hk, sweep_due, s);
    rc =
        cpi_timer_arm(&s->sweep_timer, cpi_ms_to_ns(s->opts.sweep_interval_ms));
  }
  if (rc != 0) {
    cp_token_store_destroy(s);
    return rc;
  }
  *out = s;
  return 0;
}

void cp_token_store_destroy(cp_token_store *s) {
  if (s == NULL) {
    return;
  }
  if (s->hk != NULL) {
    cpi_timer_cancel(&s->sweep_timer);
    cpi_housekeeper_release(s->hk);
  }
  for (size_t i = 0; i < SHARD_COUNT; i++) {
    cpi_token_shard_destroy(&s->shards[i]);
  }
  free(s->listeners);
  pthread_mutex_destroy(&s->listeners_mu);
  pthread_cond_destroy(&s->listeners_idle);
  pthread_mutex_destroy(&s->replicator_mu);
  free(s);
}

int cp_token_store_subscribe(cp_token_store *s, cp_token_listener_fn fn,
                             void *user) {
  if (s == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&s->listeners_mu);
  int rc = 0;
  if (s->listener_count == s->listener_cap) {
    size_t cap = s->listener_cap == 0 ? 4 : s->listener_cap * 2;
    listener *grown = realloc(s->listeners, cap * sizeof *grown);
    if (grown == NULL) {
      rc = CP_ENOMEM;
    } else {
      s->listeners = grown;
      s->listener_cap = cap;
    }
  }
  if (rc == 0) {
    s->listeners[s->listener_count].fn = fn;
    s->listeners[s->listener_count].user = user;
    s->listener_count++;
  }
  pthread_mutex_unlock(&s->listeners_mu);
  return rc;
}

/* Drops the removed slots (listeners_mu held, nobody walking the list). */
static void compact_listeners(cp_token_store *s) {
  size_t kept = 0;
  for (size_t i = 0; i < s->listener_count; i++) {
    if (s->listeners[i].fn != NULL) {
      s->listeners[kept++] = s->listeners[i];
    }
  }
  s->listener_count = kept;
}

int cp_token_store_unsubscribe(cp_token_store *s, cp_token_listener_fn fn,
                               void *user) {
  if (s == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&s->listeners_mu);
  int rc = CP_ENOTFOUND;
  for (size_t i = 0; i < s->listener_count; i++) {
    if (s->listeners[i].fn == fn && s->listeners[i].user == user) {
      s->listeners[i].fn = NULL;
      rc = 0;
      break;
    }
  }
  if (rc == 0 && s->notifying == 0) {
    compact_listeners(s);
  }
  /* A notification may be inside this very listener: wait for it, so `user`
   * may go away on return. Walks that have not reached it skip it. */
  while (rc == 0 && s->notifying > 0) {
    pthread_cond_wait(&s->listeners_idle, &s->listeners_mu);
  }
  pthread_mutex_unlock(&s->listeners_mu);
  return rc;
}

size_t cpi_token_store_removed_listeners(cp_token_store *s) {
  pthread_mutex_lock(&s->listeners_mu);
  size_t removed = 0;
  for (size_t i = 0; i < s->listener_count; i++) {
    removed += s->listeners[i].fn == NULL;
  }
  pthread_mutex_unlock(&s->listeners_mu);
  return removed;
}

/* Calls every listener, without the lock held during a call: listeners may
 * call back into the store, also to subscribe. Nothing is allocated here,
 * so no listener can miss an event for want of memory. */
static void notify(cp_token_store *s, const char *id, cp_token_event ev) {
  pthread_mutex_lock(&s->listeners_mu);
  s->notifying++;
  for (size_t i = 0; i < s->listener_count; i++) {
    listener l = s->listeners[i];
    if (l.fn == NULL) {
      continue;
    }
    pthread_mutex_unlock(&s->listeners_mu);
    l.fn(id, ev, l.user);
    pthread_mutex_lock(&s->listeners_mu);
  }
  if (--s->notifying == 0) {
    compact_listeners(s);
    pthread_cond_broadcast(&s->listeners_idle);
  }
  pthread_mutex_unlock(&s->listeners_mu);
}

/* The name part of a runtime ID: self_id lower-cased, copied with its NUL. */
static void lower_copy(const char *self_id, char *out) {
  size_t i = 0;
  for (; self_id[i] != '\0'; i++) {
    unsigned char c = (unsigned char)self_id[i];
    out[i] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
  }
  out[i] = '\0';
}

/* "<name>-<16 hex of key>": a runtime ID from what the table keeps. */
static void format_runtime_id(const char *name, uint64_t key, char *out) {
  snprintf(out, CP_RUNTIME_ID_MAX + 1, "%s-%016" PRIx64, name, key);
}

static bool reserve_slot(cp_token_store *s) {
  size_t live = atomic_fetch_add(&s->live, 1);
  if (live < s->opts.max_tokens) {
    return true;
  }
  atomic_fetch_sub(&s->live, 1);
  return false;
}

/* What a shard interns per identity: the name (lower-cased self_id) and,
 * after its NUL, the principal ("" when anonymous), so identities of one
 * name and principal share a copy. Every reader of the name stops at the
 * first NUL. The caller frees the result (the shard keeps its own copy). */
static char *make_name(const char *name, const char *principal) {
  size_t n = strlen(name);
  size_t p = strlen(principal);
  char *kept = malloc(n + p + 2);
  if (kept != NULL) {
    memcpy(kept, name, n + 1);
    memcpy(kept + n + 1, principal, p + 1);
  }
  return kept;
}

static const char *name_principal(const char *kept) {
  return kept + strlen(kept) + 1;
}

/* Tells the replicator, if any, that `id` now holds `token` (and `prev`
 * until prev_expires_ns, INT64_MIN: none). */
static void replicate_put(cp_token_store *s, const char *id,
                          const char *principal, const uint64_t *token,
                          int64_t expires_ns, const uint64_t *prev,
                          int64_t prev_expires_ns) {
  pthread_mutex_lock(&s->replicator_mu);
  if (s->replicator != NULL) {
    cpi_token_record rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.runtime_id, sizeof rec.runtime_id, "%s", id);
    snprintf(rec.principal, sizeof rec.principal, "%s", principal);
    memcpy(rec.token, token, sizeof rec.token);
    rec.expires_ns = expires_ns;
    if (prev != NULL) {
      memcpy(rec.prev_token, prev, sizeof rec.prev_token);
    }
    rec.prev_expires_ns = prev_expires_ns;
    s->replicator(CPI_TOKEN_PUT, &rec, s->replicator_user);
    cpi_secure_zero(&rec, sizeof rec);
  }
  pthread_mutex_unlock(&s->replicator_mu);
}

static void replicate_gone(cp_token_store *s, const char *id) {
  pthread_mutex_lock(&s->replicator_mu);
  if (s->replicator != NULL) {
    cpi_token_record rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.runtime_id, sizeof rec.runtime_id, "%s", id);
    s->replicator(CPI_TOKEN_GONE, &rec, s->replicator_user);
  }
  pthread_mutex_unlock(&s->replicator_mu);
}

void cpi_token_store_set_replicator(cp_token_store *s,
                                    cpi_token_replicator_fn fn, void *user) {
  pthread_mutex_lock(&s->replicator_mu);
  s->replicator = fn;
  s->replicator_user = fn != NULL ? user : NULL;
  pthread_mutex_unlock(&s->replicator_mu);
}

int cp_token_store_issue(cp_token_store *s, const char *self_id,
                         char *runtime_id, size_t runtime_id_cap,
                         char token[CP_TOKEN_LEN + 1]) {
  return cp_token_store_issue_for(s, self_id, NULL, runtime_id, runtime_id_cap,
                                  token);
}

int cp_token_store_issue_for(cp_token_store *s, const char *self_id,
                             const char *principal, char *runtime_id,
                             size_t runtime_id_cap,
                             char token[CP_TOKEN_LEN + 1]) {
  if (principal == NULL) {
    principal = "";
  }
  if (s == NULL || !cp_self_id_valid(self_id) || runtime_id == NULL ||
      token == NULL || runtime_id_cap < strlen(self_id) + SUFFIX_HEX + 2 ||
      strnlen(principal, CP_PRINCIPAL_MAX + 1) > CP_PRINCIPAL_MAX) {
    return CP_EINVAL;
  }
  if (!reserve_slot(s)) {
    /* Expired identities may still hold places: free them and retry once. */
    cp_token_store_sweep(s);
    if (!reserve_slot(s)) {
      return CP_ELIMIT;
    }
  }
  cp_token_slot slot;
  memset(&slot, 0, sizeof slot);
  /* One read of the random source for the token and the first suffix. */
  struct {
    uint64_t token[CP_TOKEN_WORDS];
    uint64_t key;
  } fresh;
  if (random_bytes(s, &fresh, sizeof fresh) != 0) {
    atomic_fetch_sub(&s->live, 1);
    return CP_ESYS;
  }
  memcpy(slot.token, fresh.token, sizeof slot.token);
  char name[CP_SELF_ID_MAX + 1];
  lower_copy(self_id, name);
  int rc = CP_ESYS;
  for (int attempt = 0; attempt < ISSUE_ATTEMPTS; attempt++) {
    uint64_t key = fresh.key;
    if (attempt > 0 && random_bytes(s, &key, sizeof key) != 0) {
      rc = CP_ESYS;
      break;
    }
    if (key == 0) {
      continue;
    }
    char id[CP_RUNTIME_ID_MAX + 1];
    format_runtime_id(name, key, id);
    cp_token_shard *sh = shard_of(s, key);
    pthread_mutex_lock(&sh->mu);
    if (cpi_token_shard_find(sh, key) >= 0) {
      /* Collision with a live identity: never overwrite it, draw again. */
      pthread_mutex_unlock(&sh->mu);
      continue;
    }
    slot.key = key;
    slot.id_hash = prefix_hash(s, id, strlen(id));
    slot.expires_ns = cpi_time_after_ns(now_ns(s), s->ttl_ns);
    char *kept = make_name(name, principal);
    rc = kept == NULL
             ? CP_ENOMEM
             : cpi_token_shard_insert(sh, &slot, kept,
                                      strlen(name) + 1 + strlen(principal));
    free(kept);
    pthread_mutex_unlock(&sh->mu);
    if (rc == 0) {
      snprintf(runtime_id, runtime_id_cap, "%s", id);
      cpi_base64url_encode((const uint8_t *)slot.token, sizeof slot.token,
                           token, CP_TOKEN_LEN + 1);
      replicate_put(s, id, principal, slot.token, slot.expires_ns, NULL,
                    INT64_MIN);
      break;
    }
    if (rc != CP_ELIMIT) {
      break;
    }
    /* This shard is full (practically never): another key, another shard. */
  }
  if (rc != 0) {
    atomic_fetch_sub(&s->live, 1);
  }
  /* The token's bytes never outlive this call outside the table. */
  cpi_secure_zero(slot.token, sizeof slot.token);
  cpi_secure_zero(&fresh, sizeof fresh);
  return rc;
}

/* Tells the listeners that the identity `name`/`key` is gone. */
static void notify_removed(cp_token_store *s, const char *name, uint64_t key,
                           cp_token_event ev) {
  char id[CP_RUNTIME_ID_MAX + 1];
  format_runtime_id(name, key, id);
  notify(s, id, ev);
}

/* Removes an expired identity found by a validation, if its shard is free
 * right now; otherwise the sweep gets it. */
static void remove_if_expired(cp_token_store *s, uint64_t key, int64_t now) {
  cp_token_shard *sh = shard_of(s, key);
  if (pthread_mutex_trylock(&sh->mu) != 0) {
    return;
  }
  char name[CP_SELF_ID_MAX + 1];
  bool removed = false;
  long i = cpi_token_shard_find(sh, key);
  if (i >= 0 && cpi_token_shard_valid_until(sh, i) <= now) {
    cpi_token_shard_remove(sh, i, name, sizeof name);
    removed = true;
  }
  pthread_mutex_unlock(&sh->mu);
  if (removed) {
    atomic_fetch_sub(&s->live, 1);
    notify_removed(s, name, key, CP_TOKEN_EXPIRED);
  }
}

bool cp_token_store_validate(cp_token_store *s, const char *runtime_id,
                             size_t runtime_id_len, const char *token,
                             size_t token_len) {
  if (s == NULL || runtime_id == NULL || token == NULL ||
      token_len != CP_TOKEN_LEN) {
    return false;
  }
  uint64_t presented[CP_TOKEN_WORDS];
  if (!cpi_token_decode44(token, presented)) {
    return false;
  }
  uint64_t key = 0;
  if (!parse_key(runtime_id, runtime_id_len, &key)) {
    return false;
  }
  cp_token_view v;
  bool found = cpi_token_shard_read(shard_of(s, key), key, &v);
  if (!found) {
    /* Compare anyway, so that an unknown ID costs what a known one does. */
    memset(&v, 0, sizeof v);
    v.expires_ns = INT64_MIN;
    v.prev_expires_ns = INT64_MIN;
  }
  int64_t now = now_ns(s);
  bool id_ok = found && v.id_hash == prefix_hash(s, runtime_id, runtime_id_len);
  bool cur_ok = cpi_ct_equal(presented, v.token, sizeof presented);
  bool prev_ok = cpi_ct_equal(presented, v.prev_token, sizeof presented);
  bool cur_live = now < v.expires_ns;
  bool prev_live = now < v.prev_expires_ns;
  if (found && !cur_live && !prev_live) {
    remove_if_expired(s, key, now);
  }
  return id_ok && ((cur_ok && cur_live) || (prev_ok && prev_live));
}

/* Finds the identity named exactly `runtime_id`; returns its shard (locked)
 * and index, or NULL. */
static cp_token_shard *lock_identity(cp_token_store *s, const char *runtime_id,
                                     long *index) {
  uint64_t key = 0;
  if (runtime_id == NULL || !parse_key(runtime_id, strlen(runtime_id), &key)) {
    return NULL;
  }
  cp_token_shard *sh = shard_of(s, key);
  pthread_mutex_lock(&sh->mu);
  long i = cpi_token_shard_find(sh, key);
  size_t name_len = strlen(runtime_id) - SUFFIX_HEX - 1;
  if (i < 0 ||
      strncmp(cpi_token_shard_name(sh, i), runtime_id, name_len) != 0 ||
      cpi_token_shard_name(sh, i)[name_len] != '\0') {
    pthread_mutex_unlock(&sh->mu);
    return NULL;
  }
  *index = i;
  return sh;
}

/* Removes the identity; tells the listeners with `ev` (0: nobody). */
static int remove_identity(cp_token_store *s, const char *runtime_id,
                           cp_token_event ev) {
  if (s == NULL) {
    return CP_EINVAL;
  }
  long i = -1;
  cp_token_shard *sh = lock_identity(s, runtime_id, &i);
  if (sh == NULL) {
    return CP_ENOTFOUND;
  }
  uint64_t key = cpi_token_shard_slot(sh, i)->key;
  char name[CP_SELF_ID_MAX + 1];
  cpi_token_shard_remove(sh, i, name, sizeof name);
  pthread_mutex_unlock(&sh->mu);
  atomic_fetch_sub(&s->live, 1);
  if (ev != 0) {
    notify_removed(s, name, key, ev);
  }
  return 0;
}

int cp_token_store_revoke(cp_token_store *s, const char *runtime_id) {
  int rc = remove_identity(s, runtime_id, CP_TOKEN_REVOKED);
  if (rc == 0) {
    replicate_gone(s, runtime_id);
  }
  return rc;
}

int cpi_token_store_drop(cp_token_store *s, const char *runtime_id) {
  return remove_identity(s, runtime_id, CP_TOKEN_REVOKED);
}

int cpi_token_store_forget(cp_token_store *s, const char *runtime_id) {
  return remove_identity(s, runtime_id, 0);
}

int cp_token_store_principal(cp_token_store *s, const char *runtime_id,
                             char out[CP_PRINCIPAL_MAX + 1]) {
  if (s == NULL || runtime_id == NULL || out == NULL) {
    return CP_EINVAL;
  }
  long i = -1;
  cp_token_shard *sh = lock_identity(s, runtime_id, &i);
  if (sh == NULL) {
    return CP_ENOTFOUND;
  }
  snprintf(out, CP_PRINCIPAL_MAX + 1, "%s",
           name_principal(cpi_token_shard_name(sh, i)));
  pthread_mutex_unlock(&sh->mu);
  return 0;
}

int cp_token_store_refresh(cp_token_store *s, const char *runtime_id,
                           char token[CP_TOKEN_LEN + 1]) {
  if (s == NULL || token == NULL) {
    return CP_EINVAL;
  }
  uint64_t fresh[CP_TOKEN_WORDS];
  if (random_bytes(s, fresh, sizeof fresh) != 0) {
    return CP_ESYS;
  }
  long i = -1;
  cp_token_shard *sh = lock_identity(s, runtime_id, &i);
  if (sh == NULL) {
    return CP_ENOTFOUND;
  }
  int64_t now = now_ns(s);
  const cp_token_slot *slot = cpi_token_shard_slot(sh, i);
  int64_t prev_until = cpi_time_after_ns(now, s->overlap_ns);
  if (prev_until > slot->expires_ns) {
    prev_until = slot->expires_ns; /* never beyond the old token's own life */
  }
  uint64_t old[CP_TOKEN_WORDS];
  memcpy(old, slot->token, sizeof old);
  int64_t expires = cpi_time_after_ns(now, s->ttl_ns);
  cpi_token_shard_set(sh, i, fresh, expires, old, prev_until);
  char principal[CP_PRINCIPAL_MAX + 1];
  snprintf(principal, sizeof principal, "%s",
           name_principal(cpi_token_shard_name(sh, i)));
  pthread_mutex_unlock(&sh->mu);
  replicate_put(s, runtime_id, principal, fresh, expires, old, prev_until);
  cpi_base64url_encode((const uint8_t *)fresh, sizeof fresh, token,
                       CP_TOKEN_LEN + 1);
  cpi_secure_zero(fresh, sizeof fresh);
  cpi_secure_zero(old, sizeof old);
  return 0;
}

int64_t cpi_token_store_now_ns(const cp_token_store *s) {
  return now_ns(s);
}

/* A name part the store could have issued: a valid self_id, lower-cased. */
static bool issued_name(const char *name) {
  for (const char *c = name; *c != '\0'; c++) {
    if (*c >= 'A' && *c <= 'Z') {
      return false;
    }
  }
  return cp_self_id_valid(name);
}

int cpi_token_store_adopt(cp_token_store *s, const cpi_token_record *rec) {
  size_t len = strnlen(rec->runtime_id, sizeof rec->runtime_id);
  uint64_t key = 0;
  if (len == sizeof rec->runtime_id || !parse_key(rec->runtime_id, len, &key) ||
      strnlen(rec->principal, sizeof rec->principal) > CP_PRINCIPAL_MAX ||
      rec->expires_ns <= now_ns(s)) {
    return CP_EINVAL;
  }
  char name[CP_SELF_ID_MAX + 1];
  size_t name_len = len - SUFFIX_HEX - 1;
  memcpy(name, rec->runtime_id, name_len);
  name[name_len] = '\0';
  if (!issued_name(name)) {
    return CP_EINVAL;
  }
  uint64_t token[CP_TOKEN_WORDS];
  uint64_t prev[CP_TOKEN_WORDS];
  memcpy(token, rec->token, sizeof token);
  memcpy(prev, rec->prev_token, sizeof prev);
  /* No sweep when full (unlike issuing): it would call listeners, and an
   * adopter may hold its own locks. */
  bool reserved = reserve_slot(s);
  cp_token_shard *sh = shard_of(s, key);
  pthread_mutex_lock(&sh->mu);
  long i = cpi_token_shard_find(sh, key);
  int rc = 0;
  bool inserted = false;
  if (i >= 0 && strcmp(cpi_token_shard_name(sh, i), name) != 0) {
    rc = CP_EINVAL; /* the suffix is another name's */
  } else if (i < 0 && !reserved) {
    rc = CP_ELIMIT;
  } else if (i < 0) {
    cp_token_slot slot;
    memset(&slot, 0, sizeof slot);
    slot.key = key;
    slot.id_hash = prefix_hash(s, rec->runtime_id, len);
    memcpy(slot.token, token, sizeof slot.token);
    slot.expires_ns = rec->expires_ns;
    char *kept = make_name(name, rec->principal);
    rc = kept == NULL
             ? CP_ENOMEM
             : cpi_token_shard_insert(sh, &slot, kept,
                                      name_len + 1 + strlen(rec->principal));
    free(kept);
    cpi_secure_zero(slot.token, sizeof slot.token);
    if (rc == 0) {
      reserved = false; /* the new entry holds the place */
      inserted = true;
      i = cpi_token_shard_find(sh, key);
    }
  }
  /* Present, or inserted with a previous token: both tokens as the record
   * has them (a record without one clears the entry's). */
  if (rc == 0 && (!inserted || rec->prev_expires_ns != INT64_MIN)) {
    cpi_token_shard_set(sh, i, token, rec->expires_ns, prev,
                        rec->prev_expires_ns);
  }
  pthread_mutex_unlock(&sh->mu);
  if (reserved) {
    atomic_fetch_sub(&s->live, 1);
  }
  cpi_secure_zero(token, sizeof token);
  cpi_secure_zero(prev, sizeof prev);
  return rc;
}

typedef struct removed {
  uint64_t key;
  char name[CP_SELF_ID_MAX + 1];
} removed;

/* Removes the expired identities of one shard into `out` (at most `cap`);
 * returns how many, and whether more remain. */
static size_t sweep_shard(cp_token_shard *sh, int64_t now, removed *out,
                          size_t cap, bool *more) {
  size_t n = 0;
  *more = false;
  pthread_mutex_lock(&sh->mu);
  for (size_t i = 0; i < sh->size;) {
    const cp_token_slot *slot = cpi_token_shard_slot(sh, (long)i);
    if (slot->key == 0 || cpi_token_shard_valid_until(sh, (long)i) > now) {
      i++;
      continue;
    }
    if (n == cap) {
      *more = true;
      break;
    }
    /* Removal may shift a later entry into slot i: look at i again. */
    out[n].key = slot->key;
    cpi_token_shard_remove(sh, (long)i, out[n].name, sizeof out[n].name);
    n++;
  }
  pthread_mutex_unlock(&sh->mu);
  return n;
}

size_t cp_token_store_sweep(cp_token_store *s) {
  if (s == NULL) {
    return 0;
  }
  enum { BATCH = 32 }; /* names copied out: about 4 KiB of stack */
  removed batch[BATCH];
  size_t total = 0;
  int64_t now = now_ns(s);
  for (size_t k = 0; k < SHARD_COUNT; k++) {
    bool more = true;
    while (more) {
      size_t n = sweep_shard(&s->shards[k], now, batch, BATCH, &more);
      atomic_fetch_sub(&s->live, n);
      for (size_t i = 0; i < n; i++) {
        notify_removed(s, batch[i].name, batch[i].key, CP_TOKEN_EXPIRED);
      }
      total += n;
    }
  }
  cpi_sweep_mark_done(&s->swept);
  return total;
}

void cp_token_store_get_stats(cp_token_store *s, cp_token_store_stats *out) {
  memset(out, 0, sizeof *out);
  if (s == NULL) {
    return;
  }
  out->identities = atomic_load(&s->live);
  for (size_t k = 0; k < SHARD_COUNT; k++) {
    cp_token_shard *sh = &s->shards[k];
    pthread_mutex_lock(&sh->mu);
    out->memory_bytes += cpi_token_shard_bytes(sh);
    pthread_mutex_unlock(&sh->mu);
  }
  out->sweeps = cpi_sweep_mark_count(&s->swept);
  out->last_sweep_unix_ms = cpi_sweep_mark_unix_ms(&s->swept);
}

int64_t cp_token_store_ttl_ms(const cp_token_store *s) {
  return s == NULL ? 0 : s->opts.ttl_ms;
}

size_t cp_token_store_count(const cp_token_store *s) {
  return s == NULL ? 0 : atomic_load(&((cp_token_store *)s)->live);
}
