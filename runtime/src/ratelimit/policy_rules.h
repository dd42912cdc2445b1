/* The rate policy's rule table (internal): which limit a method path gets.
 *
 * Readers (the interceptor, on every call) take no lock: they scan under a
 * sequence counter and retry when a writer overlapped. Writers hold `mu`.
 * A rule's slot, path and index never change once published (clearing a
 * rule only marks it unused, and setting the same path again reuses the
 * slot), so the index is a stable id for the rule's buckets and counters. */
#ifndef CPLUGIN_RATELIMIT_POLICY_RULES_H
#define CPLUGIN_RATELIMIT_POLICY_RULES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/ratelimit_policy.h"

/* Longest rule path. */
#define RL_RULE_PATH_MAX 512
/* Group id of the default rule (rule indexes are below 256). */
#define RL_GROUP_DEFAULT 0xffffU

typedef enum rl_rule_kind {
  RL_RULE_NONE = 0,  /* no rule (cleared): fall through */
  RL_RULE_LIMIT = 1, /* limited by `limit` */
  RL_RULE_EXEMPT = 2 /* never limited */
} rl_rule_kind;

typedef struct rl_rule {
  char *path; /* immutable once published */
  size_t len;
  bool prefix;      /* "/pkg.Svc/" */
  uint32_t kind;    /* rl_rule_kind; atomic */
  uint64_t limit;   /* rl_limit_pack; atomic */
  uint64_t denials; /* atomic counter */
} rl_rule;

typedef struct rl_rules {
  uint32_t seq;
  size_t count; /* published slots; atomic */
  rl_rule rule[CP_RATE_POLICY_MAX_RULES];
  uint32_t default_kind;
  uint64_t default_limit;
  uint64_t default_denials;
  pthread_mutex_t mu;
} rl_rules;

/* What a call gets. */
typedef struct rl_match {
  rl_rule_kind kind;
  cp_rate_limit limit;
  uint16_t group; /* rule index, or RL_GROUP_DEFAULT */
} rl_match;

/* One entry of a table given to cpi_rules_replace_all. */
typedef struct rl_rule_spec {
  const char *path;
  cp_rate_limit limit;
} rl_rule_spec;

void cpi_rules_init(rl_rules *r);
void cpi_rules_destroy(rl_rules *r);

/* Sets the rule for `path` (RL_RULE_NONE clears it). Returns 0, CP_EINVAL,
 * CP_ELIMIT, CP_ENOMEM, or CP_ENOTFOUND when clearing an absent rule. */
int cpi_rules_set(rl_rules *r, const char *path, rl_rule_kind kind,
                  cp_rate_limit limit);

void cpi_rules_set_default(rl_rules *r, rl_rule_kind kind, cp_rate_limit limit);

/* Clears every rule and installs `specs` and the default in one step, so
 * no call sees a half-installed table. Returns 0, CP_ELIMIT or CP_ENOMEM
 * (then the previous table is kept). */
int cpi_rules_replace_all(rl_rules *r, const rl_rule_spec *specs, size_t n,
                          cp_rate_limit default_limit);

/* Lock-free: the rule for a call to `path` (NUL-terminated). */
rl_match cpi_rules_match(const rl_rules *r, const char *path);

void cpi_rules_count_denial(rl_rules *r, uint16_t group);

/* The path of rule `group` ("*" for the default), which names its buckets
 * in a shared store; stable once the rule is published. */
const char *cpi_rules_path(const rl_rules *r, uint16_t group);

/* Denials of the rule whose path is `path` (NULL: the default). */
uint64_t cpi_rules_denials(const rl_rules *r, const char *path);

/* Every published rule, then the default ("*"), under the writer lock. */
void cpi_rules_foreach(rl_rules *r, cp_rate_rule_fn fn, void *user);

void cpi_rules_foreach_denials(const rl_rules *r,
                               void (*fn)(const char *path, uint64_t denials,
                                          void *user),
                               void *user);

#endif /* CPLUGIN_RATELIMIT_POLICY_RULES_H */
