/* Takeover: a plugin restarted after a crash handshakes again under the same
 * self_id and gets a new runtime ID; its first registration of a type
 * replaces what its dead predecessor still holds there. Removing (rather
 * than only unrouting) the predecessor's registrations means no strategy
 * (first, round robin, random, weighted) can pick it again, and watchers
 * get one event naming the successor.
 *
 * A self_id is a claim, so the predecessor must also share the successor's
 * principal (both anonymous counts as the same): a plugin that
 * authenticated differently cannot push another one out. Only registrations
 * plugins make themselves (over RPC) take over or are taken over: the host
 * registers for runtimes it manages, and removes them itself. */
#include <string.h>

#include "cplugin/log.h"
#include "registry/registry_internal.h"

/* Runtime IDs are "<self_id lower-cased>-<16 lower-case hex digits>" (the
 * token store's format): the length of the self_id part, or 0 when `id`
 * does not have that form. */
static size_t self_id_len(const rt_entry *rt) {
  enum { SUFFIX = 17 };
  size_t n = rt->id_len;
  if (n <= SUFFIX || rt->id[n - SUFFIX] != '-') {
    return 0;
  }
  for (size_t i = n - SUFFIX + 1; i < n; i++) {
    char c = rt->id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return 0;
    }
  }
  return n - SUFFIX;
}

static bool same_plugin(const rt_entry *a, const rt_entry *b, size_t name_len) {
  return a != b && b->principal_set && self_id_len(b) == name_len &&
         memcmp(a->id, b->id, name_len) == 0 &&
         a->principal_hash == b->principal_hash;
}

void cpi_reg_take_over(cp_registry *reg, svc_type *t, rt_entry *rt) {
  size_t name_len = rt->principal_set ? self_id_len(rt) : 0;
  if (name_len == 0) {
    return;
  }
  /* unlink_entry leaves t->providers as it is until the commit (owner set
   * to NULL), so the walk may remove as it goes. */
  for (size_t i = 0; i < t->count; i++) {
    reg_entry *e = t->providers[i];
    rt_entry *old = e->owner;
    if (old == NULL || !same_plugin(rt, old, name_len)) {
      continue;
    }
    cp_log(CP_LOG_INFO, "provider taken over by its restarted successor",
           "service_type", t->name, "runtime_id", old->id, "successor", rt->id,
           CP_LOG_END);
    reg->takeover_total++;
    cpi_reg_unlink_entry(reg, e);
    if (old->regs == NULL) {
      /* Nothing left to route to: its health and watchers go as well. */
      cpi_reg_drop_runtime_locked(reg, old, CP_STATUS_UNAVAILABLE,
                                  "runtime superseded by a restarted instance");
    }
  }
}
