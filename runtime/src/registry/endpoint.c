/* ServiceEndpoint messages built from a registration, in one block of
 * caller-provided memory (per-call memory for Discover, a shared event for
 * Watch), so the copy made under the lock is one allocation. */
#include <string.h>

#include "plugin/v1/registry.pb-c.h"
#include "registry/registry_internal.h"

#define SERVICES_PREFIX "/services/"

typedef Connectplugin__V1__ServiceEndpoint Endpoint;
typedef Connectplugin__V1__ServiceEndpoint__MetadataEntry MetaEntry;

size_t cpi_ep_bytes(const reg_entry *e) {
  const rt_entry *rt = e->owner;
  const svc_type *t = e->type;
  size_t size = sizeof(Endpoint);
  size += e->meta_count * (sizeof(MetaEntry *) + sizeof(MetaEntry));
  size += rt->id_len + 1 + strlen(reg_entry_version(e)) + 1;
  size += sizeof SERVICES_PREFIX - 1 + t->name_len + 1 + rt->id_len + 1;
  const char *at = cpi_reg_meta_begin(e);
  for (uint32_t i = 0; i < e->meta_count; i++) {
    reg_meta m;
    at = cpi_reg_meta_next(e, at, i, &m);
    size += strlen(m.key) + 1 + strlen(m.value) + 1;
  }
  return size;
}

static char *put(char **cursor, const char *s, size_t len) {
  char *out = *cursor;
  memcpy(out, s, len);
  out[len] = '\0';
  *cursor += len + 1;
  return out;
}

Connectplugin__V1__ServiceEndpoint *cpi_ep_build(void *mem,
                                                 const reg_entry *e) {
  const rt_entry *rt = e->owner;
  const svc_type *t = e->type;
  Endpoint *ep = mem;
  connectplugin__v1__service_endpoint__init(ep);
  MetaEntry **ptrs = (MetaEntry **)(void *)(ep + 1);
  MetaEntry *entries = (MetaEntry *)(void *)(ptrs + e->meta_count);
  char *cursor = (char *)(entries + e->meta_count);
  ep->provider_id = put(&cursor, rt->id, rt->id_len);
  const char *version = reg_entry_version(e);
  ep->version = put(&cursor, version, strlen(version));
  /* "/services/<type>/<runtime ID>", as upstream. */
  ep->endpoint_url = cursor;
  memcpy(cursor, SERVICES_PREFIX, sizeof SERVICES_PREFIX - 1);
  cursor += sizeof SERVICES_PREFIX - 1;
  memcpy(cursor, t->name, t->name_len);
  cursor += t->name_len;
  *cursor++ = '/';
  put(&cursor, rt->id, rt->id_len);
  ep->n_metadata = e->meta_count;
  ep->metadata = e->meta_count > 0 ? ptrs : NULL;
  const char *at = cpi_reg_meta_begin(e);
  for (uint32_t i = 0; i < e->meta_count; i++) {
    reg_meta kv;
    at = cpi_reg_meta_next(e, at, i, &kv);
    MetaEntry *m = &entries[i];
    connectplugin__v1__service_endpoint__metadata_entry__init(m);
    m->key = put(&cursor, kv.key, strlen(kv.key));
    m->value = put(&cursor, kv.value, strlen(kv.value));
    ptrs[i] = m;
  }
  return ep;
}
