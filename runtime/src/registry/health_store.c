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

const char *cpi_reg_check_health(cp_plugin_health state, const char *reason,
                                 const char *const *deps, size_t n, char *buf,
                                 size_t cap) {
  return cpi_check_health_report((int)state, reason, deps, n, buf, cap);
}

void cpi_reg_health_detail_free(reg_health_detail *d) {
  if (d == NULL) {
    return;
  }
  for (size_t i = 0; i < d->dep_count; i++) {
    free(d->deps[i]);
  }
  free(d->deps);
  free(d->reason);
  free(d);
}

/* The strings of a report, copied before the lock is taken; NULL when out of
 * memory. */
static reg_health_detail *copy_report(const char *reason,
                                      const char *const *deps, size_t n) {
  reg_health_detail *d = calloc(1, sizeof *d);
  if (d == NULL) {
    return NULL;
  }
  d->reason = strdup(reason != NULL ? reason : "");
  d->deps = n > 0 ? calloc(n, sizeof *d->deps) : NULL;
  if (d->reason == NULL || (n > 0 && d->deps == NULL)) {
    cpi_reg_health_detail_free(d);
    return NULL;
  }
  for (; d->dep_count < n; d->dep_count++) {
    d->deps[d->dep_count] = strdup(deps[d->dep_count]);
    if (d->deps[d->dep_count] == NULL) {
      cpi_reg_health_detail_free(d);
      return NULL;
    }
  }
  return d;
}

int cpi_reg_set_health(cp_registry *reg, const char *runtime_id,
                       cp_plugin_health state, const char *reason,
                       const char *const *deps, size_t n,
                       bool refuse_forgotten) {
  reg_health_detail *d = copy_report(reason, deps, n);
  if (d == NULL) {
    return CP_ENOMEM;
  }
  cpi_rwshard_wrlock(&reg->lock);
  if (refuse_forgotten && reg->forgotten_count > 0 &&
      cpi_reg_find_runtime(reg, runtime_id) == NULL &&
      cpi_reg_forgotten(reg, runtime_id)) {
    cpi_reg_commit_unlock(reg);
    cpi_reg_health_detail_free(d);
    return CP_ENOTFOUND;
  }
  rt_entry *rt = cpi_reg_get_runtime(reg, runtime_id);
  if (rt == NULL) {
    cpi_reg_commit_unlock(reg);
    cpi_reg_health_detail_free(d);
    return CP_ENOMEM;
  }
  cpi_reg_runtime_touch(reg, rt); /* the report renews the lease */
  bool was_blocked = cpi_reg_runtime_blocked(rt);
  reg_health_detail *old = rt->detail;
  rt->detail = d;
  rt->health = (uint8_t)state;
  rt->has_health = true;
  bool rebuild = was_blocked != cpi_reg_runtime_blocked(rt);
  for (reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    cpi_reg_mark_dirty(reg, e->type, rebuild);
  }
  cpi_reg_commit_unlock(reg);
  cpi_reg_health_detail_free(old);
  return 0;
}

int cp_registry_report_health(cp_registry *reg, const char *runtime_id,
                              cp_plugin_health state, const char *reason,
                              const char *const *dependencies,
                              size_t dependency_count) {
  char why[128];
  if (reg == NULL || runtime_id == NULL || runtime_id[0] == '\0' ||
      strnlen(runtime_id, CP_REGISTRY_OWNER_MAX + 1) > CP_REGISTRY_OWNER_MAX ||
      cpi_reg_check_health(state, reason, dependencies, dependency_count, why,
                           sizeof why) != NULL) {
    return CP_EINVAL;
  }
  return cpi_reg_set_health(reg, runtime_id, state, reason, dependencies,
                            dependency_count, false);
}

int cp_registry_drain_runtime(cp_registry *reg, const char *runtime_id) {
  if (reg == NULL || runtime_id == NULL) {
    return CP_EINVAL;
  }
  cpi_rwshard_wrlock(&reg->lock);
  rt_entry *rt = cpi_reg_find_runtime(reg, runtime_id);
  if (rt == NULL) {
    cpi_reg_commit_unlock(reg);
    return CP_ENOTFOUND;
  }
  bool was_blocked = cpi_reg_runtime_blocked(rt);
  rt->draining = true;
  for (reg_entry *e = rt->regs; e != NULL && !was_blocked; e = e->owner_next) {
    cpi_reg_mark_dirty(reg, e->type, true);
  }
  cpi_reg_commit_unlock(reg);
  return 0;
}

int cp_registry_get_health(cp_registry *reg, const char *runtime_id,
                           cp_plugin_health_report *out) {
  if (reg == NULL || runtime_id == NULL || out == NULL) {
    return CP_EINVAL;
  }
  size_t shard = cpi_rwshard_rdlock(&reg->lock);
  rt_entry *rt = cpi_reg_find_runtime(reg, runtime_id);
  int rc = rt != NULL && rt->has_health ? 0 : CP_ENOTFOUND;
  if (rc == 0) {
    out->state = (cp_plugin_health)rt->health;
    /* Lengths were bounded when the report was stored. */
    const reg_health_detail *d = rt->detail;
    memcpy(out->reason, d->reason, strlen(d->reason) + 1);
    out->dependency_count = d->dep_count;
    for (size_t i = 0; i < d->dep_count; i++) {
      memcpy(out->dependencies[i], d->deps[i], strlen(d->deps[i]) + 1);
    }
  }
  cpi_rwshard_rdunlock(&reg->lock, shard);
  return rc;
}
