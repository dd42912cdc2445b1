/* What a replicator is told of this registry's writes
 * (registry_replica.h). A leaf: it calls no other file of the registry. */
#include <string.h>

#include "core/validate.h"
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
