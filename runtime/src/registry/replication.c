/* What a replicator sees of this registry's writes, and the writes that
 * apply another replica's (registry_replica.h). */
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

static bool in_process(const reg_entry *e) {
  static const char inproc[] = "inproc:";
  const char *url = reg_entry_base_url(e);
  return url != NULL && strncmp(url, inproc, sizeof inproc - 1) == 0;
}

void cpi_reg_replicate(cp_registry *reg, bool added, const reg_entry *e) {
  if (reg->replicator == NULL || reg->quiet || in_process(e)) {
    return;
  }
  cpi_reg_record rec;
  memset(&rec, 0, sizeof rec);
  rec.id = reg_entry_id(e);
  rec.owner = e->owner->id;
  cp_metadata md[CP_METADATA_MAX_ENTRIES];
  if (added) {
    rec.svc.type = e->type->name;
    rec.svc.version = reg_entry_version(e);
    rec.svc.endpoint_path = reg_entry_path(e);
    const char *at = cpi_reg_meta_begin(e);
    for (uint32_t i = 0; i < e->meta_count; i++) {
      reg_meta m;
      at = cpi_reg_meta_next(e, at, i, &m);
      md[i].key = m.key;
      md[i].value = m.value;
    }
    rec.svc.metadata = md;
    rec.svc.metadata_count = e->meta_count;
  }
  reg->replicator(added, &rec, reg->replicator_user);
}

void cpi_registry_set_replicator(cp_registry *reg, cpi_reg_replicator_fn fn,
                                 void *user) {
  cpi_rwshard_wrlock(&reg->lock);
  reg->replicator = fn;
  reg->replicator_user = user;
  cpi_reg_commit_unlock(reg);
}

int cpi_registry_drop(cp_registry *reg, uint64_t id) {
  cpi_rwshard_wrlock(&reg->lock);
  reg_entry *e = cpi_reg_find_id(reg, id);
  if (e != NULL) {
    rt_entry *rt = e->owner;
    reg->quiet = true;
    cpi_reg_unlink_entry(reg, e);
    reg->quiet = false;
    cpi_reg_runtime_maybe_free(reg, rt);
  }
  cpi_reg_commit_unlock(reg);
  return e != NULL ? 0 : CP_ENOTFOUND;
}
