/* The grant table: grants found by ID through a keyed hash, listed per
 * runtime (for its cap and its revocation) and in one list (for sweeps). */
#include "broker/grants.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/siphash.h"
#include "cplugin/errors.h"
#include "core/htab.h"

typedef struct owner owner;

typedef struct grant {
  cp_hnode by_id;
  owner *owner;
  struct grant *owner_prev, *owner_next; /* the owner's grants */
  struct grant *all_prev, *all_next;     /* every grant */
  grant_info info;
} grant;

struct owner {
  cp_hnode by_runtime;
  grant *grants;
  size_t count;
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
};

struct grant_table {
  pthread_mutex_t mu;
  grant_limits limits;
  cp_siphash_key key;
  cp_htab grants; /* by ID */
  cp_htab owners; /* by runtime ID */
  grant *all;
  grant_stats stats;
};

static uint64_t hash(const grant_table *t, const char *s) {
  return cpi_siphash13(&t->key, s, strlen(s));
}

int cpi_grant_table_create(grant_table **out, const grant_limits *limits) {
  *out = NULL;
  if (limits == NULL || limits->ttl_ms <= 0 || limits->max_total == 0 ||
      limits->max_per_runtime == 0 ||
      limits->max_per_runtime > limits->max_total) {
    return CP_EINVAL;
  }
  grant_table *t = calloc(1, sizeof *t);
  if (t == NULL) {
    return CP_ENOMEM;
  }
  t->limits = *limits;
  if (cpi_random_bytes(&t->key, sizeof t->key) != 0) {
    free(t);
    return CP_ESYS;
  }
  if (cpi_htab_init(&t->grants) != 0 || cpi_htab_init(&t->owners) != 0) {
    cpi_htab_release(&t->grants);
    free(t);
    return CP_ENOMEM;
  }
  pthread_mutex_init(&t->mu, NULL);
  *out = t;
  return 0;
}

static owner *find_owner_locked(grant_table *t, const char *runtime_id) {
  uint64_t h = hash(t, runtime_id);
  for (cp_hnode *n = cpi_htab_chain(&t->owners, h); n != NULL; n = n->next) {
    owner *o = CP_HNODE_ITEM(n, owner, by_runtime);
    if (n->hash == h && strcmp(o->runtime_id, runtime_id) == 0) {
      return o;
    }
  }
  return NULL;
}

static grant *find_grant_locked(grant_table *t, const char *id) {
  uint64_t h = hash(t, id);
  for (cp_hnode *n = cpi_htab_chain(&t->grants, h); n != NULL; n = n->next) {
    grant *g = CP_HNODE_ITEM(n, grant, by_id);
    if (n->hash == h && strcmp(g->info.id, id) == 0) {
      return g;
    }
  }
  return NULL;
}

/* Unlinks and frees g, and its owner once it has no grant left. */
static void remove_locked(grant_table *t, grant *g) {
  owner *o = g->owner;
  cpi_htab_remove(&t->grants, &g->by_id);
  if (g->owner_prev != NULL) {
    g->owner_prev->owner_next = g->owner_next;
  } else {
    o->grants = g->owner_next;
  }
  if (g->owner_next != NULL) {
    g->owner_next->owner_prev = g->owner_prev;
  }
  if (g->all_prev != NULL) {
    g->all_prev->all_next = g->all_next;
  } else {
    t->all = g->all_next;
  }
  if (g->all_next != NULL) {
    g->all_next->all_prev = g->all_prev;
  }
  t->stats.live--;
  cpi_secure_zero(g, sizeof *g);
  free(g);
  if (--o->count == 0) {
    cpi_htab_remove(&t->owners, &o->by_runtime);
    free(o);
  }
}

static size_t sweep_locked(grant_table *t, int64_t now_ns) {
  size_t n = 0;
  for (grant *g = t->all, *next; g != NULL; g = next) {
    next = g->all_next;
    if (g->info.expires_ns <= now_ns) {
      remove_locked(t, g);
      n++;
    }
  }
  t->stats.expired += n;
  return n;
}

static bool fits(const char *s, size_t min, size_t max) {
  size_t n = s != NULL ? strnlen(s, max + 1) : 0;
  return s != NULL && n >= min && n <= max;
}

/* A new grant for o (made if needed): ID and token random. */
static int add_locked(grant_table *t, int64_t now_ns, const char *runtime_id,
                      const char *type, const char *version, grant_info *out) {
  grant *g = calloc(1, sizeof *g);
  owner *o = find_owner_locked(t, runtime_id);
  bool new_owner = o == NULL;
  if (new_owner) {
    o = calloc(1, sizeof *o);
  }
  if (g == NULL || o == NULL) {
    free(g);
    if (new_owner) {
      free(o);
    }
    return CP_ENOMEM;
  }
  uint8_t raw[GRANT_ID_BYTES];
  if (cpi_random_bytes(raw, sizeof raw) != 0 ||
      cpi_random_token(g->info.token) != 0) {
    free(g);
    if (new_owner) {
      free(o);
    }
    return CP_ESYS;
  }
  cpi_base64url_encode(raw, sizeof raw, g->info.id, sizeof g->info.id);
  cpi_secure_zero(raw, sizeof raw);
  snprintf(g->info.runtime_id, sizeof g->info.runtime_id, "%s", runtime_id);
  snprintf(g->info.type, sizeof g->info.type, "%s", type);
  snprintf(g->info.version, sizeof g->info.version, "%s", version);
  g->info.expires_ns =
      cpi_time_after_ns(now_ns, cpi_ms_to_ns(t->limits.ttl_ms));
  if (new_owner) {
    snprintf(o->runtime_id, sizeof o->runtime_id, "%s", runtime_id);
    o->by_runtime.hash = hash(t, runtime_id);
    cpi_htab_insert(&t->owners, &o->by_runtime);
  }
  g->owner = o;
  g->owner_next = o->grants;
  if (o->grants != NULL) {
    o->grants->owner_prev = g;
  }
  o->grants = g;
  o->count++;
  g->all_next = t->all;
  if (t->all != NULL) {
    t->all->all_prev = g;
  }
  t->all = g;
  g->by_id.hash = hash(t, g->info.id);
  cpi_htab_insert(&t->grants, &g->by_id);
  t->stats.live++;
  t->stats.issued++;
  *out = g->info;
  return 0;
}

int cpi_grant_issue(grant_table *t, int64_t now_ns, const char *runtime_id,
                    const char *type, const char *version, grant_info *out) {
  if (t == NULL || out == NULL || !fits(runtime_id, 1, CP_RUNTIME_ID_MAX) ||
      !fits(type, 1, GRANT_TYPE_MAX) || !fits(version, 0, GRANT_VERSION_MAX)) {
    return CP_EINVAL;
  }
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&t->mu);
  const owner *o = find_owner_locked(t, runtime_id);
  bool runtime_full = o != NULL && o->count >= t->limits.max_per_runtime;
  bool table_full = t->stats.live >= t->limits.max_total;
  if (runtime_full || table_full) {
    sweep_locked(t, now_ns); /* may free o */
    o = find_owner_locked(t, runtime_id);
    runtime_full = o != NULL && o->count >= t->limits.max_per_runtime;
    table_full = t->stats.live >= t->limits.max_total;
  }
  int rc;
  if (runtime_full || table_full) {
    t->stats.refused_limit++;
    rc = runtime_full ? CP_ELIMIT : CP_EAGAIN;
  } else {
    rc = add_locked(t, now_ns, runtime_id, type, version, out);
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

bool cpi_grant_verify(grant_table *t, int64_t now_ns, const char *id,
                      const char *token, size_t token_len,
                      const char *runtime_id, const char *type, grant_info *out,
                      grant_refusal *why) {
  grant_refusal r = GRANT_REFUSED_UNKNOWN;
  bool ok = false;
  if (t != NULL && fits(id, GRANT_ID_CHARS, GRANT_ID_CHARS) && token != NULL &&
      runtime_id != NULL && type != NULL) {
    pthread_mutex_lock(&t->mu);
    grant *g = find_grant_locked(t, id);
    if (g != NULL) {
      /* Every part is checked, the token in constant time, whatever the
       * others say. */
      bool token_ok = token_len == GRANT_TOKEN_CHARS &&
                      cpi_ct_equal(token, g->info.token, GRANT_TOKEN_CHARS);
      bool runtime_ok = strcmp(runtime_id, g->info.runtime_id) == 0;
      bool type_ok = strcmp(type, g->info.type) == 0;
      bool live = g->info.expires_ns > now_ns;
      if (!token_ok) {
        r = GRANT_REFUSED_TOKEN;
      } else if (!runtime_ok) {
        r = GRANT_REFUSED_RUNTIME;
      } else if (!type_ok) {
        r = GRANT_REFUSED_TYPE;
      } else if (!live) {
        r = GRANT_REFUSED_EXPIRED;
      } else {
        ok = true;
        if (out != NULL) {
          *out = g->info;
          memset(out->token, 0, sizeof out->token);
        }
      }
      if (!live) {
        remove_locked(t, g);
        t->stats.expired++;
      }
    }
    pthread_mutex_unlock(&t->mu);
  }
  if (!ok && why != NULL) {
    *why = r;
  }
  return ok;
}

size_t cpi_grant_revoke_runtime(grant_table *t, const char *runtime_id) {
  if (t == NULL || runtime_id == NULL) {
    return 0;
  }
  pthread_mutex_lock(&t->mu);
  size_t n = 0;
  owner *o = find_owner_locked(t, runtime_id);
  /* The owner goes with its last grant. */
  for (size_t left = o != NULL ? o->count : 0; left > 0; left--) {
    remove_locked(t, o->grants);
    n++;
  }
  t->stats.revoked += n;
  pthread_mutex_unlock(&t->mu);
  return n;
}

size_t cpi_grant_sweep(grant_table *t, int64_t now_ns) {
  if (t == NULL) {
    return 0;
  }
  pthread_mutex_lock(&t->mu);
  size_t n = sweep_locked(t, now_ns);
  pthread_mutex_unlock(&t->mu);
  return n;
}

grant_stats cpi_grant_table_stats(grant_table *t) {
  pthread_mutex_lock(&t->mu);
  grant_stats s = t->stats;
  pthread_mutex_unlock(&t->mu);
  return s;
}

void cpi_grant_table_destroy(grant_table *t) {
  if (t == NULL) {
    return;
  }
  while (t->all != NULL) {
    remove_locked(t, t->all);
  }
  cpi_htab_release(&t->grants);
  cpi_htab_release(&t->owners);
  pthread_mutex_destroy(&t->mu);
  free(t);
}
