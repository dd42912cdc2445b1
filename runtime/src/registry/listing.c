/* cp_registry_list: every registration, copied out one at a time under the
 * read lock, for operators' tooling (the admin service's ListRegistry).
 * Read-only: it changes no selection state (no round-robin step). */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "registry/registry_internal.h"

/* Reports the linked providers of `t` in registration order; returns how
 * many. */
static size_t list_type(const svc_type *t, cp_registry_listing *item,
                        cp_registry_list_fn fn, void *user) {
  size_t n = 0;
  item->service_type = t->name;
  for (size_t i = 0; i < t->count; i++) {
    const reg_entry *e = t->providers[i];
    if (e->owner == NULL) {
      continue; /* unlinked, not yet compacted: already gone for readers */
    }
    cpi_sel_fill_endpoint(&item->endpoint, e);
    item->routable = !cpi_reg_runtime_blocked(e->owner);
    fn(item, user);
    n++;
  }
  return n;
}

int cp_registry_list(cp_registry *reg, const char *service_type,
                     cp_registry_list_fn fn, void *user, size_t *count) {
  if (reg == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  /* ~4.7 KiB: off the caller's stack, which may be a small server thread's. */
  cp_registry_listing *item = malloc(sizeof *item);
  if (item == NULL) {
    return CP_ENOMEM;
  }
  size_t n = 0;
  size_t shard = cpi_rwshard_rdlock(&reg->lock);
  if (service_type != NULL) {
    const svc_type *t = cpi_reg_find_type(reg, service_type);
    if (t != NULL) {
      n = list_type(t, item, fn, user);
    }
  } else if (reg->types.buckets != NULL) {
    for (size_t b = 0; b <= reg->types.mask; b++) {
      for (const cp_hnode *node = reg->types.buckets[b]; node != NULL;
           node = node->next) {
        n += list_type(CP_HNODE_ITEM(node, const svc_type, node), item, fn,
                       user);
      }
    }
  }
  cpi_rwshard_rdunlock(&reg->lock, shard);
  free(item);
  if (count != NULL) {
    *count = n;
  }
  return 0;
}
