/* The registry object: options, create/destroy, statistics, and the commit
 * that ends every write. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "crypto/crypto.h"
#include "registry/registry_internal.h"

void cp_registry_options_init(cp_registry_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_registrations_per_runtime = 64;
  opts->max_bytes_per_runtime = (size_t)1 << 20;
  opts->max_registrations = 65536;
  opts->max_bytes = (size_t)64 << 20;
  opts->max_watchers_per_runtime = 16;
  opts->max_watchers = 4096;
  opts->watch_retry_interval_ms = 50;
  opts->host_provider = "host";
  opts->base_url_allow = CP_BASE_URL_LOOPBACK | CP_BASE_URL_PEER;
  opts->lease_interval_ms = 2000;
  opts->lease_misses = 3;
  opts->gone_grace_ms = 30000;
}

/* Bounds that keep lease and grace arithmetic in nanoseconds far from
 * overflow: a day per interval, 1000 intervals, 30 days of grace. */
#define LEASE_INTERVAL_MAX_MS ((int64_t)86400000)
#define LEASE_MISSES_MAX 1000u
#define GONE_GRACE_MAX_MS ((int64_t)30 * 86400000)

static size_t at_most_u32(size_t v) {
  return v < UINT32_MAX ? v : UINT32_MAX;
}

static int copy_options(cp_registry *reg, const cp_registry_options *o) {
  if (o->max_registrations_per_runtime == 0 || o->max_registrations == 0 ||
      o->max_bytes_per_runtime == 0 || o->max_bytes == 0 ||
      o->max_watchers_per_runtime == 0 || o->max_watchers == 0 ||
      o->watch_retry_interval_ms <= 0 || o->lease_interval_ms < 0 ||
      o->lease_interval_ms > LEASE_INTERVAL_MAX_MS || o->lease_misses == 0 ||
      o->lease_misses > LEASE_MISSES_MAX || o->gone_grace_ms < 0 ||
      o->gone_grace_ms > GONE_GRACE_MAX_MS ||
      (o->runtime_provider_count > 0 && o->runtime_providers == NULL)) {
    return CP_EINVAL;
  }
  reg->tokens = o->tokens;
  reg->require_allow_list = o->require_allow_list;
  reg->allow_self_id_keys = o->allow_self_id_keys;
  /* A runtime's counts are 32-bit (rt_entry): larger per-runtime caps
   * could never be reached in memory anyway. */
  reg->max_regs_per_runtime = at_most_u32(o->max_registrations_per_runtime);
  reg->max_bytes_per_runtime = at_most_u32(o->max_bytes_per_runtime);
  reg->max_bytes = o->max_bytes;
  reg->max_regs = o->max_registrations;
  reg->max_watchers_per_runtime = at_most_u32(o->max_watchers_per_runtime);
  reg->max_watchers = o->max_watchers;
  reg->random = o->random;
  reg->random_user = o->random_user;
  reg->base_url_allow = o->base_url_allow;
  reg->on_removed = o->on_removed;
  reg->on_removed_user = o->on_removed_user;
  reg->clock = o->clock;
  reg->lease_ns = o->lease_interval_ms * 1000000;
  reg->lease_misses = o->lease_misses;
  reg->grace_ns = o->gone_grace_ms * 1000000;
  reg->probe = o->probe;
  reg->probe_user = o->probe_user;
  static const char *const default_provider = "runtime-token";
  const char *const *providers = o->runtime_providers;
  size_t n = o->runtime_provider_count;
  if (n == 0) {
    providers = &default_provider;
    n = 1;
  }
  reg->runtime_providers = calloc(n, sizeof *reg->runtime_providers);
  if (reg->runtime_providers == NULL) {
    return CP_ENOMEM;
  }
  reg->runtime_provider_count = n;
  for (size_t i = 0; i < n; i++) {
    if (providers[i] == NULL || providers[i][0] == '\0') {
      return CP_EINVAL;
    }
    reg->runtime_providers[i] = strdup(providers[i]);
    if (reg->runtime_providers[i] == NULL) {
      return CP_ENOMEM;
    }
  }
  reg->host_provider = strdup(o->host_provider != NULL ? o->host_provider : "");
  return reg->host_provider == NULL ? CP_ENOMEM : 0;
}

static int seed(cp_registry *reg, uint64_t random_seed) {
  uint64_t k[3];
  int rc = cpi_random_bytes(k, sizeof k);
  if (rc != 0) {
    return rc;
  }
  reg->hash_key.k0 = k[0];
  reg->hash_key.k1 = k[1];
  atomic_init(&reg->rng_state, random_seed != 0 ? random_seed : k[2]);
  return 0;
}

static int init_tables(cp_registry *reg) {
  cp_htab *tables[] = {&reg->types, &reg->runtimes, &reg->regs, &reg->streams,
                       &reg->allows};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    if (cpi_htab_init(tables[i]) != 0) {
      return CP_ENOMEM;
    }
  }
  return 0;
}

int cp_registry_create(cp_registry **out, const cp_registry_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_registry_options defaults;
  if (opts == NULL) {
    cp_registry_options_init(&defaults);
    opts = &defaults;
  }
  /* The lock's shards are cache-line aligned, which calloc does not give. */
  size_t size = (sizeof(cp_registry) + 63) & ~(size_t)63;
  cp_registry *reg = aligned_alloc(64, size);
  if (reg == NULL) {
    return CP_ENOMEM;
  }
  memset(reg, 0, size);
  cpi_sweep_mark_init(&reg->liveness_mark);
  if (cpi_rwshard_init(&reg->lock) != 0) {
    free(reg);
    return CP_ENOMEM;
  }
  int rc = copy_options(reg, opts);
  if (rc == 0) {
    rc = seed(reg, opts->random_seed);
  }
  if (rc == 0) {
    rc = init_tables(reg);
  }
  if (rc == 0) {
    rc = cpi_push_hub_create(&reg->hub, opts->watch_retry_interval_ms);
  }
  if (rc == 0 && reg->tokens != NULL) {
    rc = cpi_reg_tokens_attach(reg);
  }
  if (rc != 0) {
    cp_registry_destroy(reg);
    return rc;
  }
  *out = reg;
  return 0;
}

static void free_types(cp_registry *reg) {
  for (size_t i = 0; reg->types.buckets != NULL && i <= reg->types.mask; i++) {
    cp_hnode *n = reg->types.buckets[i];
    while (n != NULL) {
      cp_hnode *next = n->next;
      svc_type *t = CP_HNODE_ITEM(n, svc_type, node);
      free(t->providers);
      free(t->routable);
      free(t->cum_weight);
      free(t);
      n = next;
    }
  }
}

static void free_allows(cp_registry *reg) {
  for (size_t i = 0; reg->allows.buckets != NULL && i <= reg->allows.mask;
       i++) {
    cp_hnode *n = reg->allows.buckets[i];
    while (n != NULL) {
      cp_hnode *next = n->next;
      cpi_reg_allow_free(CP_HNODE_ITEM(n, allow_entry, node));
      n = next;
    }
  }
}

/* Drops every runtime (ending its watchers), then frees the tables. */
static void free_contents(cp_registry *reg) {
  if (reg->runtimes.buckets != NULL) {
    cpi_rwshard_wrlock(&reg->lock);
    for (size_t i = 0; i <= reg->runtimes.mask; i++) {
      while (reg->runtimes.buckets[i] != NULL) {
        rt_entry *rt = CP_HNODE_ITEM(reg->runtimes.buckets[i], rt_entry, node);
        cpi_reg_drop_runtime_locked(reg, rt, CP_STATUS_UNAVAILABLE,
                                    "service registry closed");
      }
    }
    cpi_reg_commit_unlock(reg);
  }
  free_types(reg);
  free_allows(reg);
  cpi_htab_release(&reg->types);
  cpi_htab_release(&reg->runtimes);
  cpi_htab_release(&reg->regs);
  cpi_htab_release(&reg->streams);
  cpi_htab_release(&reg->allows);
}

void cp_registry_destroy(cp_registry *reg) {
  if (reg == NULL) {
    return;
  }
  if (reg->live_id != 0) {
    cpi_reg_tokens_detach(reg);
  }
  if (reg->hub != NULL) {
    /* First: a retry in flight would end watchers, which reaches into the
     * tables that free_contents is about to free. */
    cpi_push_hub_stop(reg->hub);
    free_contents(reg);
    cpi_push_hub_destroy(reg->hub);
  } else {
    cpi_htab_release(&reg->types);
    cpi_htab_release(&reg->runtimes);
    cpi_htab_release(&reg->regs);
    cpi_htab_release(&reg->streams);
    cpi_htab_release(&reg->allows);
  }
  for (size_t i = 0; i < reg->runtime_provider_count; i++) {
    free(reg->runtime_providers[i]);
  }
  free(reg->runtime_providers);
  free(reg->host_provider);
  cpi_reg_forgotten_free(reg);
  cpi_rwshard_destroy(&reg->lock);
  free(reg);
}

void cpi_reg_mark_dirty(cp_registry *reg, svc_type *t, bool rebuild) {
  t->needs_rebuild |= rebuild;
  if (!t->dirty) {
    t->dirty = true;
    t->dirty_next = reg->dirty;
    reg->dirty = t;
  }
}

void cpi_reg_commit_unlock(cp_registry *reg) {
  for (svc_type *t = reg->dirty; t != NULL; t = t->dirty_next) {
    if (t->needs_rebuild) {
      cpi_sel_rebuild(t);
      t->needs_rebuild = false;
    }
    cpi_watch_announce(reg, t);
  }
  svc_type *t = reg->dirty;
  reg->dirty = NULL;
  while (t != NULL) {
    svc_type *next = t->dirty_next;
    t->dirty = false;
    t->dirty_next = NULL;
    cpi_reg_type_maybe_free(reg, t);
    t = next;
  }
  reg_entry *trash = reg->trash;
  reg->trash = NULL;
  reg_watcher *gone = reg->gone;
  reg->gone = NULL;
  cpi_rwshard_wrunlock(&reg->lock);
  while (trash != NULL) {
    reg_entry *next = trash->owner_next;
    if (reg->on_removed != NULL && reg_entry_base_url(trash) != NULL) {
      reg->on_removed(reg_entry_base_url(trash), reg->on_removed_user);
    }
    free(trash);
    trash = next;
  }
  cpi_watch_end(gone);
  cpi_push_hub_flush(reg->hub);
}

void cpi_registry_set_replicator(cp_registry *reg, cpi_reg_replicator_fn fn,
                                 void *user) {
  cpi_rwshard_wrlock(&reg->lock);
  reg->replicator = fn;
  reg->replicator_user = user;
  cpi_reg_commit_unlock(reg);
}

static size_t table_bytes(const cp_htab *t) {
  return t->buckets != NULL ? (t->mask + 1) * sizeof *t->buckets : 0;
}

/* The registry's structures and the strings its caps count (read lock):
 * an estimate without allocator overhead or pushes' pending events. */
static size_t structure_bytes(const cp_registry *reg) {
  return sizeof *reg + table_bytes(&reg->types) + table_bytes(&reg->runtimes) +
         table_bytes(&reg->regs) + table_bytes(&reg->streams) +
         table_bytes(&reg->allows) + reg->reg_count * sizeof(reg_entry) +
         reg->reg_bytes + reg->runtimes.count * sizeof(rt_entry) +
         reg->types.count * sizeof(svc_type) +
         reg->watcher_count * sizeof(reg_watcher);
}

void cp_registry_get_stats(cp_registry *reg, cp_registry_stats *out) {
  memset(out, 0, sizeof *out);
  size_t shard = cpi_rwshard_rdlock(&reg->lock);
  out->registrations = reg->reg_count;
  out->bytes = reg->reg_bytes;
  out->runtimes = reg->runtimes.count;
  out->service_types = reg->types.count;
  out->watchers = reg->watcher_count;
  out->runtimes_gone = reg->gone_count;
  out->liveness_gone_total = reg->gone_total;
  out->takeovers_total = reg->takeover_total;
  out->memory_bytes = structure_bytes(reg);
  cpi_rwshard_rdunlock(&reg->lock, shard);
  out->liveness_passes = cpi_sweep_mark_count(&reg->liveness_mark);
  out->last_liveness_unix_ms = cpi_sweep_mark_unix_ms(&reg->liveness_mark);
  cp_push_stats ps;
  cpi_push_hub_stats(reg->hub, &ps);
  out->watch_events_sent = ps.sent;
  out->watch_events_coalesced = ps.coalesced;
  out->watch_stalls = ps.stalls;
  out->watch_events_encoded = ps.encoded;
  out->watch_max_held_bytes = ps.max_held_bytes;
}
