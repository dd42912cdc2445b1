/* The rate policy's rule table: seqlock-read, mutex-written. */
#include "ratelimit/policy_rules.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "ratelimit/gcra.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void cpi_rules_init(rl_rules *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
}

void cpi_rules_destroy(rl_rules *r) {
  for (size_t i = 0; i < r->count; i++) {
    free(r->rule[i].path);
  }
  pthread_mutex_destroy(&r->mu);
}

static void write_begin(rl_rules *r) {
  uint32_t s = LOAD(&r->seq);
  STORE(&r->seq, s + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(rl_rules *r) {
  uint32_t s = LOAD(&r->seq);
  __atomic_store_n(&r->seq, s + 1, __ATOMIC_RELEASE);
}

static bool path_valid(const char *path) {
  return path != NULL && path[0] == '/' &&
         strnlen(path, RL_RULE_PATH_MAX + 1) <= RL_RULE_PATH_MAX;
}

/* Slot of `path`, or -1 (writers, or readers of published slots). */
static long find_slot(const rl_rules *r, size_t count, const char *path) {
  size_t len = strlen(path);
  for (size_t i = 0; i < count; i++) {
    if (r->rule[i].len == len && memcmp(r->rule[i].path, path, len) == 0) {
      return (long)i;
    }
  }
  return -1;
}

/* Fills slot `count` for `path` (not yet published). Requires r->mu. */
static int prepare_slot(rl_rules *r, size_t count, const char *path) {
  if (count == CP_RATE_POLICY_MAX_RULES) {
    return CP_ELIMIT;
  }
  char *copy = strdup(path);
  if (copy == NULL) {
    return CP_ENOMEM;
  }
  rl_rule *x = &r->rule[count];
  x->path = copy;
  x->len = strlen(copy);
  x->prefix = copy[x->len - 1] == '/';
  STORE(&x->kind, (uint32_t)RL_RULE_NONE);
  return 0;
}

static void publish(rl_rules *r, size_t count) {
  __atomic_store_n(&r->count, count, __ATOMIC_RELEASE);
}

int cpi_rules_set(rl_rules *r, const char *path, rl_rule_kind kind,
                  cp_rate_limit limit) {
  if (!path_valid(path)) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&r->mu);
  size_t count = r->count;
  long i = find_slot(r, count, path);
  int rc = 0;
  if (i < 0 && kind == RL_RULE_NONE) {
    rc = CP_ENOTFOUND;
  } else if (i < 0) {
    rc = prepare_slot(r, count, path);
    i = (long)count++;
  }
  if (rc == 0) {
    write_begin(r);
    STORE(&r->rule[i].limit, rl_limit_pack(limit));
    STORE(&r->rule[i].kind, (uint32_t)kind);
    publish(r, count);
    write_end(r);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

void cpi_rules_set_default(rl_rules *r, rl_rule_kind kind,
                           cp_rate_limit limit) {
  pthread_mutex_lock(&r->mu);
  write_begin(r);
  STORE(&r->default_limit, rl_limit_pack(limit));
  STORE(&r->default_kind, (uint32_t)kind);
  write_end(r);
  pthread_mutex_unlock(&r->mu);
}

int cpi_rules_replace_all(rl_rules *r, const rl_rule_spec *specs, size_t n,
                          cp_rate_limit default_limit) {
  pthread_mutex_lock(&r->mu);
  /* Slots for new paths first: a failure leaves the table as it was (the
   * prepared, unpublished slots are reused or freed at destroy). */
  size_t count = r->count;
  long slots[CP_RATE_POLICY_MAX_RULES];
  int rc = n > CP_RATE_POLICY_MAX_RULES ? CP_ELIMIT : 0;
  for (size_t k = 0; rc == 0 && k < n; k++) {
    slots[k] = find_slot(r, count, specs[k].path);
    if (slots[k] < 0) {
      rc = prepare_slot(r, count, specs[k].path);
      if (rc == 0) {
        slots[k] = (long)count;
        count++;
      }
    }
  }
  if (rc != 0) {
    for (size_t i = r->count; i < count; i++) {
      free(r->rule[i].path);
      r->rule[i].path = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
  }
  write_begin(r);
  for (size_t i = 0; i < count; i++) {
    STORE(&r->rule[i].kind, (uint32_t)RL_RULE_NONE);
  }
  for (size_t k = 0; k < n; k++) {
    STORE(&r->rule[slots[k]].limit, rl_limit_pack(specs[k].limit));
    STORE(&r->rule[slots[k]].kind, (uint32_t)RL_RULE_LIMIT);
  }
  STORE(&r->default_limit, rl_limit_pack(default_limit));
  STORE(&r->default_kind, (uint32_t)RL_RULE_LIMIT);
  publish(r, count);
  write_end(r);
  pthread_mutex_unlock(&r->mu);
  return 0;
}

/* One scan; the caller validates it against the sequence counter. */
static rl_match match_once(const rl_rules *r, const char *path, size_t len) {
  size_t count = __atomic_load_n(&r->count, __ATOMIC_ACQUIRE);
  long best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < count; i++) {
    const rl_rule *x = &r->rule[i];
    if (LOAD(&x->kind) == RL_RULE_NONE) {
      continue;
    }
    if (!x->prefix) {
      if (x->len == len && memcmp(x->path, path, len) == 0) {
        best = (long)i;
        break; /* an exact path wins over any prefix */
      }
    } else if (x->len > best_len && x->len <= len &&
               memcmp(x->path, path, x->len) == 0) {
      best = (long)i;
      best_len = x->len;
    }
  }
  rl_match m;
  if (best >= 0) {
    m.kind = (rl_rule_kind)LOAD(&r->rule[best].kind);
    m.limit = rl_limit_unpack(LOAD(&r->rule[best].limit));
    m.group = (uint16_t)best;
  } else {
    m.kind = (rl_rule_kind)LOAD(&r->default_kind);
    m.limit = rl_limit_unpack(LOAD(&r->default_limit));
    m.group = RL_GROUP_DEFAULT;
  }
  return m;
}

rl_match cpi_rules_match(const rl_rules *r, const char *path) {
  size_t len = strlen(path);
  for (;;) {
    uint32_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
    if ((s1 & 1U) == 0) {
      rl_match m = match_once(r, path, len);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (LOAD(&r->seq) == s1) {
        return m;
      }
    }
  }
}

void cpi_rules_count_denial(rl_rules *r, uint16_t group) {
  uint64_t *counter =
      group == RL_GROUP_DEFAULT ? &r->default_denials : &r->rule[group].denials;
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

const char *cpi_rules_path(const rl_rules *r, uint16_t group) {
  return group == RL_GROUP_DEFAULT ? "*" : r->rule[group].path;
}

uint64_t cpi_rules_denials(const rl_rules *r, const char *path) {
  if (path == NULL) {
    return LOAD(&r->default_denials);
  }
  size_t count = __atomic_load_n(&r->count, __ATOMIC_ACQUIRE);
  long i = find_slot(r, count, path);
  return i < 0 ? 0 : LOAD(&r->rule[i].denials);
}

void cpi_rules_foreach(rl_rules *r, cp_rate_rule_fn fn, void *user) {
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->count; i++) {
    const rl_rule *x = &r->rule[i];
    uint32_t kind = LOAD(&x->kind);
    if (kind == RL_RULE_NONE) {
      continue; /* cleared: the slot stays for its id */
    }
    cp_rate_rule_info info = {x->path, x->prefix, kind == RL_RULE_EXEMPT,
                              rl_limit_unpack(LOAD(&x->limit)),
                              LOAD(&x->denials)};
    fn(&info, user);
  }
  uint32_t kind = LOAD(&r->default_kind);
  cp_rate_rule_info info = {"*", false, kind != RL_RULE_LIMIT,
                            rl_limit_unpack(LOAD(&r->default_limit)),
                            LOAD(&r->default_denials)};
  fn(&info, user);
  pthread_mutex_unlock(&r->mu);
}

void cpi_rules_foreach_denials(const rl_rules *r,
                               void (*fn)(const char *path, uint64_t denials,
                                          void *user),
                               void *user) {
  size_t count = __atomic_load_n(&r->count, __ATOMIC_ACQUIRE);
  for (size_t i = 0; i < count; i++) {
    uint64_t n = LOAD(&r->rule[i].denials);
    if (n > 0) {
      fn(r->rule[i].path, n, user);
    }
  }
  uint64_t n = LOAD(&r->default_denials);
  if (n > 0) {
    fn("*", n, user);
  }
}
