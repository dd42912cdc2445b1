/* Choosing a provider: the routable list of each type, the four strategies,
 * and the two lookups built on them (cp_registry_resolve for the router,
 * DiscoverService for plugins). */
#include <string.h>

#include "cplugin/errors.h"
#include "registry/registry_internal.h"
#include "core/semver.h"

void cpi_sel_append(svc_type *t, reg_entry *e) {
  if (cpi_reg_runtime_blocked(e->owner)) {
    return;
  }
  /* type_reserve keeps the routable arrays as large as the provider list. */
  size_t n = t->routable_count;
  t->routable[n] = e;
  if (t->cum_weight != NULL) {
    t->cum_weight[n] = (n > 0 ? t->cum_weight[n - 1] : 0) + e->weight;
  }
  t->routable_count = n + 1;
}

/* Drops the providers unlink_entry marked (owner NULL), keeping the
 * registration order of the others. */
static void compact_providers(svc_type *t) {
  size_t kept = 0;
  for (size_t i = 0; i < t->count; i++) {
    if (t->providers[i]->owner != NULL) {
      t->providers[kept++] = t->providers[i];
    }
  }
  t->count = kept;
  t->unlinked = 0;
}

void cpi_sel_rebuild(svc_type *t) {
  if (t->unlinked > 0) {
    compact_providers(t);
  }
  size_t n = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < t->count; i++) {
    reg_entry *e = t->providers[i];
    if (!cpi_reg_runtime_blocked(e->owner)) {
      total += e->weight;
      t->routable[n] = e;
      if (t->cum_weight != NULL) {
        t->cum_weight[n] = total;
      }
      n++;
    }
  }
  t->routable_count = n;
}

/* SplitMix64 over an atomic counter: deterministic for a fixed seed when
 * one thread draws, safe when many do. */
static uint64_t sel_random(cp_registry *reg) {
  if (reg->random != NULL) {
    return reg->random(reg->random_user);
  }
  const uint64_t gamma = 0x9E3779B97F4A7C15ULL;
  uint64_t z =
      atomic_fetch_add_explicit(&reg->rng_state, gamma, memory_order_relaxed) +
      gamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* r scaled into [0, n) without the bias of a modulo (Lemire). */
static uint64_t scale(uint64_t r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

/* Index among n candidates whose cumulative weights are cum[0..n). */
static size_t pick(cp_registry *reg, svc_type *t, size_t n,
                   const uint64_t *cum) {
  switch (t->strategy) {
    case CP_SELECT_ROUND_ROBIN:
      return (
          size_t)(atomic_fetch_add_explicit(&t->rr, 1, memory_order_relaxed) %
                  n);
    case CP_SELECT_RANDOM:
      return (size_t)scale(sel_random(reg), n);
    case CP_SELECT_WEIGHTED: {
      uint64_t r = scale(sel_random(reg), cum[n - 1]);
      size_t lo = 0;
      size_t hi = n - 1;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > r) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      return lo;
    }
    case CP_SELECT_FIRST:
    default:
      return 0;
  }
}

/* --- cp_registry_resolve ------------------------------------------------- */

static void copy_bounded(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void cpi_sel_fill_endpoint(cp_registry_endpoint *out, const reg_entry *e) {
  const rt_entry *rt = e->owner;
  memcpy(out->provider_id, rt->id, rt->id_len + 1);
  cpi_reg_format_id(reg_entry_id(e), out->registration_id);
  copy_bounded(out->version, sizeof out->version, reg_entry_version(e));
  copy_bounded(out->endpoint_path, sizeof out->endpoint_path,
               reg_entry_path(e));
  const char *base_url = reg_entry_base_url(e);
  out->has_base_url = base_url != NULL;
  copy_bounded(out->base_url, sizeof out->base_url,
               base_url != NULL ? base_url : "");
  out->health =
      rt->has_health ? (cp_plugin_health)rt->health : CP_PLUGIN_HEALTH_UNKNOWN;
}

/* A runtime's first registration of `t`. */
static reg_entry *of_runtime(const rt_entry *rt, const svc_type *t) {
  for (reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    if (e->type == t) {
      return e;
    }
  }
  return NULL;
}

int cp_registry_resolve(cp_registry *reg, const char *service_type,
                        const char *provider_id, cp_registry_endpoint *out) {
  if (reg == NULL || service_type == NULL || out == NULL) {
    return CP_EINVAL;
  }
  size_t shard = cpi_rwshard_rdlock(&reg->lock);
  int rc = CP_ENOTFOUND;
  svc_type *t = cpi_reg_find_type(reg, service_type);
  reg_entry *e = NULL;
  if (t != NULL && t->count > 0 && provider_id == NULL) {
    rc = CP_EDENIED; /* every provider is UNHEALTHY */
    if (t->routable_count > 0) {
      e = t->routable[pick(reg, t, t->routable_count, t->cum_weight)];
    }
  } else if (t != NULL && t->count > 0) {
    rt_entry *rt = cpi_reg_find_runtime(reg, provider_id);
    e = rt != NULL ? of_runtime(rt, t) : NULL;
    if (e != NULL && cpi_reg_runtime_blocked(rt)) {
      rc = CP_EDENIED;
      e = NULL;
    }
  }
  if (e != NULL) {
    cpi_sel_fill_endpoint(out, e);
    rc = 0;
  }
  cpi_rwshard_rdunlock(&reg->lock, shard);
  return rc;
}

/* --- DiscoverService ----------------------------------------------------- */

/* Routable providers at least `min_version`, with cumulative weights, in
 * per-call memory. Returns the count; *compatible counts them whatever
 * their health. */
static size_t filter_versions(cp_call *call, const svc_type *t,
                              const char *min_version, reg_entry ***cands,
                              uint64_t **cum, size_t *compatible) {
  *cands = cp_call_alloc(call, t->count * sizeof **cands);
  *cum = cp_call_alloc(call, t->count * sizeof **cum);
  *compatible = 0;
  if (*cands == NULL || *cum == NULL) {
    return 0;
  }
  size_t n = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < t->count; i++) {
    reg_entry *e = t->providers[i];
    if (cpi_semver_compare(reg_entry_version(e), min_version) < 0) {
      continue;
    }
    (*compatible)++;
    if (!cpi_reg_runtime_blocked(e->owner)) {
      total += e->weight;
      (*cands)[n] = e;
      (*cum)[n] = total;
      n++;
    }
  }
  return n;
}

static cp_status_code choose(cp_registry *reg, cp_call *call, svc_type *t,
                             const char *name, const char *min_version,
                             reg_entry **out) {
  if (t == NULL || t->count == 0) {
    return cp_call_error(call, CP_STATUS_NOT_FOUND,
                         "no providers for service \"%s\"", name);
  }
  if (min_version == NULL || min_version[0] == '\0') {
    if (t->routable_count == 0) {
      return cp_call_error(call, CP_STATUS_NOT_FOUND,
                           "no available providers for service \"%s\" (all "
                           "unhealthy)",
                           name);
    }
    *out = t->routable[pick(reg, t, t->routable_count, t->cum_weight)];
    return CP_STATUS_OK;
  }
  reg_entry **cands = NULL;
  uint64_t *cum = NULL;
  size_t compatible = 0;
  size_t n = filter_versions(call, t, min_version, &cands, &cum, &compatible);
  if (cands == NULL || cum == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (compatible == 0) {
    return cp_call_error(call, CP_STATUS_NOT_FOUND,
                         "no compatible providers for service \"%s\" (min "
                         "version: %s)",
                         name, min_version);
  }
  if (n == 0) {
    return cp_call_error(call, CP_STATUS_NOT_FOUND,
                         "no available providers for service \"%s\" (all "
                         "unhealthy)",
                         name);
  }
  *out = cands[pick(reg, t, n, cum)];
  return CP_STATUS_OK;
}

cp_status_code cpi_sel_discover(
    cp_registry *reg, cp_call *call, const char *service_type,
    const char *min_version, Connectplugin__V1__DiscoverServiceResponse *resp) {
  size_t shard = cpi_rwshard_rdlock(&reg->lock);
  svc_type *t = cpi_reg_find_type(reg, service_type);
  reg_entry *e = NULL;
  cp_status_code code = choose(reg, call, t, service_type, min_version, &e);
  if (code == CP_STATUS_OK) {
    void *mem = cp_call_alloc(call, cpi_ep_bytes(e));
    if (mem == NULL) {
      code = cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
      resp->endpoint = cpi_ep_build(mem, e);
      resp->single_provider = t->count == 1;
    }
  }
  cpi_rwshard_rdunlock(&reg->lock, shard);
  return code;
}
