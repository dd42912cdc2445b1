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

#include "cplugin/log.h"
#include "registry/registry_internal.h"

void cpi_reg_take_over(cp_registry *reg, svc_type *t, rt_entry *rt) {
  size_t name_len =
      rt->principal_set ? cpi_reg_self_id_len(rt->id, rt->id_len) : 0;
  if (name_len == 0) {
    return;
  }
  /* unlink_entry leaves t->providers as it is until the commit (owner set
   * to NULL), so the walk may remove as it goes. */
  for (size_t i = 0; i < t->count; i++) {
    reg_entry *e = t->providers[i];
    rt_entry *old = e->owner;
    if (old == NULL || old == rt ||
        !cpi_reg_same_plugin(rt, name_len, old->id, old->id_len,
                             old->principal_set, old->principal_hash)) {
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
  if (reg->forgotten_count > 0) {
    cpi_reg_unforget_predecessors(reg, rt, name_len);
  }
}
