/* The registry's tables of service types and runtimes: lookups, creation
 * and release. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

uint64_t cpi_reg_hash_name(const cp_registry *reg, const char *s, size_t len) {
  return cpi_siphash13(&reg->hash_key, s, len);
}

/* --- service types ------------------------------------------------------- */

svc_type *cpi_reg_find_type(const cp_registry *reg, const char *name) {
  size_t len = strnlen(name, CP_REGISTRY_TYPE_MAX + 1);
  if (len > CP_REGISTRY_TYPE_MAX) {
    return NULL;
  }
  uint64_t h = cpi_reg_hash_name(reg, name, len);
  for (cp_hnode *n = cpi_htab_chain(&reg->types, h); n != NULL; n = n->next) {
    svc_type *t = CP_HNODE_ITEM(n, svc_type, node);
    if (n->hash == h && t->name_len == len && memcmp(t->name, name, len) == 0) {
      return t;
    }
  }
  return NULL;
}

svc_type *cpi_reg_get_type(cp_registry *reg, const char *name) {
  svc_type *t = cpi_reg_find_type(reg, name);
  if (t != NULL) {
    return t;
  }
  size_t len = strlen(name);
  t = calloc(1, sizeof *t + len + 1);
  if (t == NULL) {
    return NULL;
  }
  memcpy(t->name, name, len + 1);
  t->name_len = len;
  t->strategy = CP_SELECT_FIRST;
  atomic_init(&t->rr, 0);
  t->node.hash = cpi_reg_hash_name(reg, name, len);
  cpi_htab_insert(&reg->types, &t->node);
  return t;
}

void cpi_reg_type_maybe_free(cp_registry *reg, svc_type *t) {
  if (t->count > 0 || t->watchers != NULL || t->pinned || t->dirty) {
    return;
  }
  cpi_htab_remove(&reg->types, &t->node);
  free(t->providers);
  free(t->routable);
  free(t->cum_weight);
  free(t);
}

int cp_registry_set_strategy(cp_registry *reg, const char *service_type,
                             cp_select_strategy strategy) {
  if (reg == NULL || cpi_check_service_type(service_type) != NULL ||
      strategy < CP_SELECT_FIRST || strategy > CP_SELECT_WEIGHTED) {
    return CP_EINVAL;
  }
  cpi_rwshard_wrlock(&reg->lock);
  svc_type *t = cpi_reg_get_type(reg, service_type);
  int rc = t == NULL ? CP_ENOMEM : 0;
  if (t != NULL && strategy == CP_SELECT_WEIGHTED && t->cum_weight == NULL &&
      t->cap > 0) {
    /* Only weighted selection reads cumulative weights: other types do not
     * keep them. */
    t->cum_weight = malloc(t->cap * sizeof *t->cum_weight);
    rc = t->cum_weight == NULL ? CP_ENOMEM : 0;
  }
  if (rc == 0) {
    if (strategy != CP_SELECT_WEIGHTED) {
      free(t->cum_weight);
      t->cum_weight = NULL;
    }
    t->strategy = strategy;
    t->pinned = true;
    cpi_sel_rebuild(t); /* the weights, when they are now kept */
  } else if (t != NULL) {
    cpi_reg_type_maybe_free(reg, t); /* if this call created it */
  }
  cpi_rwshard_wrunlock(&reg->lock);
  return rc;
}

/* --- runtimes ------------------------------------------------------------ */

/* docs/performance.md: a runtime with a 29-byte ID ("bench-plugin-<16 hex>")
 * and its NUL fits a 112-byte malloc chunk (8 bytes of it malloc's). */
_Static_assert(offsetof(rt_entry, id) + 30 + 8 <= 112, "runtime record size");

rt_entry *cpi_reg_find_runtime(const cp_registry *reg, const char *id) {
  size_t len = strnlen(id, CP_REGISTRY_OWNER_MAX + 1);
  if (len > CP_REGISTRY_OWNER_MAX) {
    return NULL;
  }
  uint64_t h = cpi_reg_hash_name(reg, id, len);
  for (cp_hnode *n = cpi_htab_chain(&reg->runtimes, h); n != NULL;
       n = n->next) {
    rt_entry *rt = CP_HNODE_ITEM(n, rt_entry, node);
    if (n->hash == h && rt->id_len == len && memcmp(rt->id, id, len) == 0) {
      return rt;
    }
  }
  return NULL;
}

rt_entry *cpi_reg_get_runtime(cp_registry *reg, const char *id) {
  rt_entry *rt = cpi_reg_find_runtime(reg, id);
  if (rt != NULL) {
    return rt;
  }
  size_t len = strnlen(id, CP_REGISTRY_OWNER_MAX + 1);
  if (len > CP_REGISTRY_OWNER_MAX) {
    return NULL;
  }
  rt = calloc(1, offsetof(rt_entry, id) + len + 1);
  if (rt == NULL) {
    return NULL;
  }
  memcpy(rt->id, id, len);
  rt->id_len = (uint16_t)len;
  rt->last_seen_ns = cpi_reg_now(reg);
  rt->node.hash = cpi_reg_hash_name(reg, id, len);
  cpi_htab_insert(&reg->runtimes, &rt->node);
  if (reg->forgotten_count > 0) {
    cpi_reg_unforget(reg, rt->id); /* it is back */
  }
  return rt;
}

void cpi_reg_runtime_clear_health(rt_entry *rt) {
  cpi_reg_health_detail_free(rt->detail);
  rt->detail = NULL;
  rt->has_health = false;
  rt->health = (uint8_t)CP_PLUGIN_HEALTH_UNKNOWN;
}

void cpi_reg_runtime_maybe_free(cp_registry *reg, rt_entry *rt) {
  if (rt->regs != NULL || rt->watchers != NULL || rt->has_health) {
    return;
  }
  if (rt->gone) {
    reg->gone_count--;
  }
  cpi_htab_remove(&reg->runtimes, &rt->node);
  free(rt);
}

bool cpi_reg_runtime_blocked(const rt_entry *rt) {
  return rt->health == CP_PLUGIN_HEALTH_UNHEALTHY || rt->gone || rt->draining;
}
