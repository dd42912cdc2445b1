/* Liveness: which runtimes are still there. A runtime proves it is alive by
 * registering, by reporting its health (the lease) or by answering a probe
 * of its base_url. cp_registry_check_liveness probes the runtimes silent
 * for one interval and declares GONE those nothing proved alive for
 * lease_misses intervals; GONE runtimes are unrouted at once and removed
 * after the grace period.
 *
 * Why both signals: periodic reports cost the host nothing and need no
 * connection to the provider, so they are the primary signal; but plugins
 * that never report (upstream's, or ours between reports) must not be
 * killed for their silence, so a silent runtime is probed before it is
 * declared gone, and only a runtime that can be neither probed nor heard
 * from after having reported lapses on its lease alone. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "registry/registry_internal.h"

int64_t cpi_reg_now(const cp_registry *reg) {
  return cp_clock_now_ns(reg->clock);
}

static void mark_types(cp_registry *reg, rt_entry *rt) {
  for (reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    cpi_reg_mark_dirty(reg, e->type, true);
  }
}

void cpi_reg_runtime_touch(cp_registry *reg, rt_entry *rt) {
  int64_t now = cpi_reg_now(reg);
  if (rt->gone || now > rt->last_seen_ns) {
    rt->last_seen_ns = now;
  }
  if (rt->gone) {
    rt->gone = false;
    reg->gone_count--;
    mark_types(reg, rt);
    cp_log(CP_LOG_INFO, "provider is back", "runtime_id", rt->id, CP_LOG_END);
  }
}

static void declare_gone(cp_registry *reg, rt_entry *rt, int64_t now,
                         const char *why) {
  rt->gone = true;
  rt->last_seen_ns = now; /* from now on: gone since */
  reg->gone_count++;
  reg->gone_total++;
  mark_types(reg, rt);
  cp_log(CP_LOG_WARN, "provider gone: not routed, removed after the grace",
         "runtime_id", rt->id, "reason", why, CP_LOG_END);
}

/* The address a probe of `rt` goes to: its first base_url, or NULL. */
static const char *probe_target(const rt_entry *rt) {
  for (const reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    if (reg_entry_base_url(e) != NULL) {
      return reg_entry_base_url(e);
    }
  }
  return NULL;
}

/* What one pass probes: runtime IDs and addresses, copied because the lock
 * is released while probing. */
typedef struct probe_list {
  char **ids;
  char **urls;
  cp_probe_result *results;
  size_t count;
  size_t cap;
} probe_list;

static void probe_list_free(probe_list *p) {
  for (size_t i = 0; i < p->count; i++) {
    free(p->ids[i]);
    free(p->urls[i]);
  }
  free(p->ids);
  free(p->urls);
  free(p->results);
}

static int probe_list_add(probe_list *p, const rt_entry *rt, const char *url) {
  if (p->count >= p->cap) {
    return CP_ENOMEM; /* the arrays could not be allocated */
  }
  p->ids[p->count] = strdup(rt->id);
  p->urls[p->count] = strdup(url);
  if (p->ids[p->count] == NULL || p->urls[p->count] == NULL) {
    free(p->ids[p->count]);
    free(p->urls[p->count]);
    return CP_ENOMEM;
  }
  p->count++;
  return 0;
}

static bool lapsed(const cp_registry *reg, const rt_entry *rt, int64_t now) {
  return now - rt->last_seen_ns >= reg->lease_ns * (int64_t)reg->lease_misses;
}

/* With the write lock held: what one runtime needs this pass. Returns
 * CP_ENOMEM when a probe could not be listed. */
static int check_one(cp_registry *reg, rt_entry *rt, int64_t now,
                     probe_list *probes) {
  if (rt->gone) {
    if (now - rt->last_seen_ns >= reg->grace_ns) {
      cp_log(CP_LOG_INFO, "gone provider removed", "runtime_id", rt->id,
             CP_LOG_END);
      cpi_reg_forget(reg, rt);
      /* Here only: another replica may still reach it. */
      reg->quiet = true;
      cpi_reg_drop_runtime_locked(reg, rt, CP_STATUS_UNAVAILABLE,
                                  "runtime is gone");
      reg->quiet = false;
      return 0;
    }
  } else if (rt->regs == NULL || now - rt->last_seen_ns < reg->lease_ns) {
    return 0;
  }
  /* GONE runtimes are probed too: one that answers comes back. */
  const char *url = reg->probe != NULL ? probe_target(rt) : NULL;
  if (url != NULL) {
    return probe_list_add(probes, rt, url);
  }
  if (!rt->gone && rt->has_health && lapsed(reg, rt, now)) {
    declare_gone(reg, rt, now, "health reports stopped");
  }
  return 0;
}

/* Phase one, under the write lock: removals, lease-only lapses, and the
 * list of probes. */
static int sweep(cp_registry *reg, int64_t now, probe_list *probes) {
  cpi_rwshard_wrlock(&reg->lock);
  size_t n = reg->runtimes.count;
  int rc = 0;
  if (reg->probe != NULL && n > 0) {
    probes->ids = calloc(n, sizeof *probes->ids);
    probes->urls = calloc(n, sizeof *probes->urls);
    probes->results = calloc(n, sizeof *probes->results);
    if (probes->ids == NULL || probes->urls == NULL ||
        probes->results == NULL) {
      rc = CP_ENOMEM;
    } else {
      probes->cap = n;
    }
  }
  for (size_t b = 0; rc == 0 && b <= reg->runtimes.mask; b++) {
    cp_hnode *node = reg->runtimes.buckets[b];
    while (node != NULL) {
      cp_hnode *next = node->next; /* check_one may free the runtime */
      int r = check_one(reg, CP_HNODE_ITEM(node, rt_entry, node), now, probes);
      if (r != 0) {
        rc = r;
      }
      node = next;
    }
  }
  cpi_reg_commit_unlock(reg);
  return rc;
}

/* Phase three, under the write lock: the probes' answers. `now` is when
 * the pass began, so an answer proves life no later than that. */
static void apply(cp_registry *reg, int64_t now, const probe_list *probes) {
  cpi_rwshard_wrlock(&reg->lock);
  for (size_t i = 0; i < probes->count; i++) {
    rt_entry *rt = cpi_reg_find_runtime(reg, probes->ids[i]);
    if (rt == NULL) {
      continue;
    }
    switch (probes->results[i]) {
      case CP_PROBE_ALIVE:
        if (rt->gone) {
          cpi_reg_runtime_touch(reg, rt);
        } else if (now > rt->last_seen_ns) {
          rt->last_seen_ns = now;
        }
        break;
      case CP_PROBE_DEAD:
        if (!rt->gone && lapsed(reg, rt, now)) {
          declare_gone(reg, rt, now, "probe failed");
        }
        break;
      case CP_PROBE_UNKNOWN:
      default:
        /* As if it could not be probed: the lease alone decides. */
        if (!rt->gone && rt->has_health && lapsed(reg, rt, now)) {
          declare_gone(reg, rt, now, "health reports stopped");
        }
        break;
    }
  }
  cpi_reg_commit_unlock(reg);
}

int cp_registry_check_liveness(cp_registry *reg) {
  if (reg == NULL) {
    return CP_EINVAL;
  }
  if (reg->lease_ns == 0) {
    return 0;
  }
  int64_t now = cpi_reg_now(reg);
  probe_list probes;
  memset(&probes, 0, sizeof probes);
  int rc = sweep(reg, now, &probes);
  if (probes.count > 0) {
    for (size_t i = 0; i < probes.count; i++) {
      probes.results[i] = CP_PROBE_UNKNOWN;
    }
    reg->probe((const char *const *)probes.urls, probes.count, probes.results,
               reg->lease_ns / 1000000, reg->probe_user);
    apply(reg, now, &probes);
  }
  probe_list_free(&probes);
  if (rc == 0) {
    cpi_sweep_mark_done(&reg->liveness_mark);
  }
  return rc;
}
