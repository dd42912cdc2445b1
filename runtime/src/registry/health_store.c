/* Health reports per runtime (PluginLifecycle.ReportHealth and the host
 * API): stored with the runtime, they decide routing and watch events. */
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

_Static_assert(CP_HEALTH_REASON_MAX == CP_HEALTH_REPORT_REASON_MAX &&
                   CP_HEALTH_MAX_DEPENDENCIES == CP_HEALTH_REPORT_MAX_DEPS &&
                   CP_HEALTH_DEPENDENCY_MAX == CP_HEALTH_REPORT_DEP_MAX,
               "health report limits: registry.h and validate.h agree");

const char *reg_check_health(cp_plugin_health state, const char *reason,
                             const char *const *deps, size_t n, char *buf,
                             size_t cap) {
  return cp_check_health_report((int)state, reason, deps, n, buf, cap);
}

/* The strings of a report, copied before the lock is taken. */
typedef struct health_copy {
  char *reason;
  char **deps;
  size_t dep_count;
} health_copy;

static void copy_free(health_copy *c) {
  for (size_t i = 0; i < c->dep_count; i++) {
    free(c->deps[i]);
  }
  free(c->deps);
  free(c->reason);
}

static bool copy_report(const char *reason, const char *const *deps, size_t n,
                        health_copy *c) {
  memset(c, 0, sizeof *c);
  c->reason = strdup(reason != NULL ? reason : "");
  c->deps = n > 0 ? calloc(n, sizeof *c->deps) : NULL;
  if (c->reason == NULL || (n > 0 && c->deps == NULL)) {
    copy_free(c);
    return false;
  }
  for (; c->dep_count < n; c->dep_count++) {
    c->deps[c->dep_count] = strdup(deps[c->dep_count]);
    if (c->deps[c->dep_count] == NULL) {
      copy_free(c);
      return false;
    }
  }
  return true;
}

int reg_set_health(cp_registry *reg, const char *runtime_id,
                   cp_plugin_health state, const char *reason,
                   const char *const *deps, size_t n) {
  health_copy c;
  if (!copy_report(reason, deps, n, &c)) {
    return CP_ENOMEM;
  }
  cp_rwshard_wrlock(&reg->lock);
  rt_entry *rt = reg_get_runtime(reg, runtime_id);
  if (rt == NULL) {
    reg_commit_unlock(reg);
    copy_free(&c);
    return CP_ENOMEM;
  }
  bool was_blocked = reg_runtime_blocked(rt);
  health_copy old = {rt->reason, rt->deps, rt->dep_count};
  rt->reason = c.reason;
  rt->deps = c.deps;
  rt->dep_count = c.dep_count;
  rt->health = state;
  rt->has_health = true;
  bool rebuild = was_blocked != reg_runtime_blocked(rt);
  for (reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    reg_mark_dirty(reg, e->type, rebuild);
  }
  reg_commit_unlock(reg);
  copy_free(&old);
  return 0;
}

int cp_registry_report_health(cp_registry *reg, const char *runtime_id,
                              cp_plugin_health state, const char *reason,
                              const char *const *dependencies,
                              size_t dependency_count) {
  char why[128];
  if (reg == NULL || runtime_id == NULL || runtime_id[0] == '\0' ||
      strnlen(runtime_id, CP_REGISTRY_OWNER_MAX + 1) > CP_REGISTRY_OWNER_MAX ||
      reg_check_health(state, reason, dependencies, dependency_count, why,
                       sizeof why) != NULL) {
    return CP_EINVAL;
  }
  return reg_set_health(reg, runtime_id, state, reason, dependencies,
                        dependency_count);
}

int cp_registry_get_health(cp_registry *reg, const char *runtime_id,
                           cp_plugin_health_report *out) {
  if (reg == NULL || runtime_id == NULL || out == NULL) {
    return CP_EINVAL;
  }
  size_t shard = cp_rwshard_rdlock(&reg->lock);
  rt_entry *rt = reg_find_runtime(reg, runtime_id);
  int rc = rt != NULL && rt->has_health ? 0 : CP_ENOTFOUND;
  if (rc == 0) {
    out->state = rt->health;
    /* Lengths were bounded when the report was stored. */
    memcpy(out->reason, rt->reason, strlen(rt->reason) + 1);
    out->dependency_count = rt->dep_count;
    for (size_t i = 0; i < rt->dep_count; i++) {
      memcpy(out->dependencies[i], rt->deps[i], strlen(rt->deps[i]) + 1);
    }
  }
  cp_rwshard_rdunlock(&reg->lock, shard);
  return rc;
}
