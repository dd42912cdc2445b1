/* Registrations: their IDs, and the writes that add and remove them and
 * whole runtimes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "crypto/crypto.h"
#include "registry/registry_internal.h"

/* Registration IDs are CSPRNG output: their low bits index buckets as
 * well as any hash would. */
static uint64_t id_hash(uint64_t id) {
  return id;
}

/* Room for one more provider in every per-type array, so that rebuilding
 * the routable list never allocates (cumulative weights: only kept for
 * weighted selection). */
static bool type_reserve(svc_type *t) {
  if (t->count < t->cap) {
    return true;
  }
  size_t cap = t->cap == 0 ? 4 : t->cap * 2;
  reg_entry **p = realloc(t->providers, cap * sizeof *p);
  if (p == NULL) {
    return false;
  }
  t->providers = p;
  reg_entry **r = realloc(t->routable, cap * sizeof *r);
  if (r == NULL) {
    return false;
  }
  t->routable = r;
  if (t->strategy == CP_SELECT_WEIGHTED) {
    uint64_t *w = realloc(t->cum_weight, cap * sizeof *w);
    if (w == NULL) {
      return false;
    }
    t->cum_weight = w;
  }
  t->cap = cap;
  return true;
}

/* --- registration IDs ---------------------------------------------------- */

bool cpi_reg_parse_id(const char *text, uint64_t *id) {
  if (text == NULL || strncmp(text, "reg-", 4) != 0 ||
      strnlen(text + 4, 17) != 16) {
    return false;
  }
  return cpi_hex_decode_u64(text + 4, id) == 0;
}

/* By hand: resolve formats an ID per call, and snprintf costs more than
 * the rest of the lookup. */
void cpi_reg_format_id(uint64_t id, char out[CP_REGISTRY_ID_LEN + 1]) {
  static const char digits[] = "0123456789abcdef";
  static const char prefix[] = "reg-";
  for (int i = 0; i < 4; i++) {
    out[i] = prefix[i];
  }
  for (int i = 0; i < 16; i++) {
    out[4 + i] = digits[(id >> (60 - 4 * i)) & 0xf];
  }
  out[CP_REGISTRY_ID_LEN] = '\0';
}

reg_entry *cpi_reg_find_id(const cp_registry *reg, uint64_t id) {
  for (cp_hnode *n = cpi_htab_chain(&reg->regs, id_hash(id)); n != NULL;
       n = n->next) {
    if (n->hash == id) {
      return CP_HNODE_ITEM(n, reg_entry, node);
    }
  }
  return NULL;
}

/* --- adding -------------------------------------------------------------- */

static const char base_url_key[] = CPI_REG_BASE_URL_KEY;

/* Offsets into reg_entry.data must fit its small fields. */
_Static_assert(CP_VERSION_MAX + 1 <= UINT8_MAX, "path offset");
_Static_assert(CP_VERSION_MAX + CP_ENDPOINT_PATH_MAX + 2 <= UINT16_MAX,
               "base_url offset");
_Static_assert(CP_METADATA_MAX_ENTRIES <= UINT8_MAX, "metadata count");
_Static_assert(CP_REGISTRY_MAX_WEIGHT < (1 << 24), "weight");

size_t cpi_reg_entry_bytes(const reg_entry *e) {
  const char *at = cpi_reg_meta_begin(e);
  reg_meta m;
  for (uint32_t i = 0; i < e->meta_count; i++) {
    at = cpi_reg_meta_next(e, at, i, &m);
  }
  return sizeof(reg_entry) + (size_t)(at - e->data);
}

static char *put(char *cursor, const char *s) {
  size_t n = strlen(s) + 1;
  memcpy(cursor, s, n);
  return cursor + n;
}

/* One allocation laid out as reg_entry describes. A map key sent twice
 * keeps its last value, as protobuf maps do. */
static reg_entry *entry_build(const cp_registry_service *svc, uint32_t weight,
                              size_t *bytes) {
  bool keep[CP_METADATA_MAX_ENTRIES];
  size_t base_at = SIZE_MAX; /* the kept "base_url" entry, if any */
  size_t size = sizeof(reg_entry) + strlen(svc->version) + 1 +
                strlen(svc->endpoint_path) + 1;
  for (size_t i = 0; i < svc->metadata_count; i++) {
    const cp_metadata *m = &svc->metadata[i];
    keep[i] = true;
    for (size_t j = i + 1; j < svc->metadata_count && keep[i]; j++) {
      keep[i] = strcmp(m->key, svc->metadata[j].key) != 0;
    }
    if (keep[i]) {
      size += strlen(m->key) + 1 + strlen(m->value) + 1;
      if (strcmp(m->key, base_url_key) == 0) {
        base_at = i;
        size -= sizeof base_url_key; /* the key is implied */
      }
    }
  }
  *bytes = size;
  reg_entry *e = malloc(size);
  if (e == NULL) {
    return NULL;
  }
  memset(e, 0, sizeof *e);
  char *cursor = put(e->data, svc->version);
  e->path = (uint8_t)(cursor - e->data);
  cursor = put(cursor, svc->endpoint_path);
  if (base_at != SIZE_MAX) {
    e->base_url = (uint16_t)(cursor - e->data);
    cursor = put(cursor, svc->metadata[base_at].value);
  }
  for (size_t i = 0; i < svc->metadata_count; i++) {
    if (i == base_at) {
      e->base_url_at = e->meta_count++;
    } else if (keep[i]) {
      cursor = put(cursor, svc->metadata[i].key);
      cursor = put(cursor, svc->metadata[i].value);
      e->meta_count++;
    }
  }
  e->weight = weight;
  return e;
}

/* The runtime's registration of `t` at `path`, if any. */
static reg_entry *find_same(const rt_entry *rt, const svc_type *t,
                            const char *path) {
  for (reg_entry *e = rt->regs; e != NULL; e = e->owner_next) {
    if (e->type == t && strcmp(reg_entry_path(e), path) == 0) {
      return e;
    }
  }
  return NULL;
}

/* With the write lock held: a cap the new entry would exceed, or NULL. */
static const char *over_cap(const cp_registry *reg, const rt_entry *rt,
                            size_t bytes, char *why, size_t cap) {
  if (reg->reg_count >= reg->max_regs) {
    snprintf(why, cap, "registry holds the maximum of %zu registrations",
             reg->max_regs);
    return why;
  }
  if (rt != NULL && rt->reg_count >= reg->max_regs_per_runtime) {
    snprintf(why, cap, "too many registrations for this runtime (max %zu)",
             reg->max_regs_per_runtime);
    return why;
  }
  if (reg->reg_bytes + bytes > reg->max_bytes) {
    snprintf(why, cap, "registry holds the maximum of %zu bytes",
             reg->max_bytes);
    return why;
  }
  size_t used = rt != NULL ? rt->reg_bytes : 0;
  if (used + bytes > reg->max_bytes_per_runtime) {
    snprintf(why, cap,
             "registrations of this runtime exceed %zu bytes of metadata",
             reg->max_bytes_per_runtime);
    return why;
  }
  return NULL;
}

/* With the write lock held: a fresh ID no registration uses. */
static int draw_id(const cp_registry *reg, uint64_t *id) {
  do {
    if (cpi_random_bytes(id, sizeof *id) != 0) {
      return CP_ESYS;
    }
  } while (cpi_reg_find_id(reg, *id) != NULL);
  return 0;
}

static void link_entry(cp_registry *reg, reg_entry *e, svc_type *t,
                       rt_entry *rt, size_t bytes) {
  e->type = t;
  e->owner = rt;
  cpi_htab_insert(&reg->regs, &e->node);
  /* Kept in registration order: resolve by runtime takes the first. */
  reg_entry **tail = &rt->regs;
  while (*tail != NULL) {
    tail = &(*tail)->owner_next;
  }
  *tail = e;
  rt->reg_count++;
  rt->reg_bytes += (uint32_t)bytes; /* over_cap: within a 32-bit cap */
  reg->reg_bytes += bytes;
  t->providers[t->count++] = e;
  reg->reg_count++;
  cpi_sel_append(t, e);
  cpi_reg_mark_dirty(reg, t, false);
}

/* With the write lock held: links `e` (its ID drawn) as a provider of
 * `type` owned by `owner`, creating either as needed; NULL when out of
 * memory (nothing linked). */
static rt_entry *link_new(cp_registry *reg, const char *type, const char *owner,
                          reg_entry *e, size_t bytes) {
  svc_type *t = cpi_reg_get_type(reg, type);
  rt_entry *rt = t != NULL ? cpi_reg_get_runtime(reg, owner) : NULL;
  if (t == NULL || rt == NULL || !type_reserve(t)) {
    if (t != NULL) {
      cpi_reg_mark_dirty(reg, t, false); /* freed by the commit if empty */
    }
    if (rt != NULL) {
      cpi_reg_runtime_maybe_free(reg, rt);
    }
    return NULL;
  }
  link_entry(reg, e, t, rt, bytes);
  return rt;
}

/* Who is registering: a runtime over RPC (with its principal's keyed hash)
 * or the host. */
typedef struct add_caller {
  uint64_t principal_hash;
  bool runtime;
} add_caller;

/* With the write lock held: finds or creates the entry's type and owner,
 * applies idempotency and caps, links, and lets the owner take over from
 * a predecessor with its self_id. */
static reg_add_result add_locked(cp_registry *reg, const char *owner,
                                 const add_caller *who,
                                 const cp_registry_service *svc, reg_entry *e,
                                 size_t bytes, uint64_t *id_out, char *why,
                                 size_t why_cap) {
  svc_type *t = cpi_reg_find_type(reg, svc->type);
  rt_entry *rt = cpi_reg_find_runtime(reg, owner);
  reg_entry *same =
      rt != NULL && t != NULL ? find_same(rt, t, reg_entry_path(e)) : NULL;
  if (same != NULL) {
    cpi_reg_runtime_touch(reg, rt); /* a repeat proves life as well */
    *id_out = reg_entry_id(same);
    return REG_EXISTS;
  }
  if (over_cap(reg, rt, bytes, why, why_cap) != NULL) {
    return REG_LIMIT;
  }
  if (draw_id(reg, &e->node.hash) != 0) {
    return REG_RANDOM_FAILED;
  }
  rt = link_new(reg, svc->type, owner, e, bytes);
  if (rt == NULL) {
    return REG_NOMEM;
  }
  if (who->runtime) {
    rt->principal_hash = who->principal_hash;
    rt->principal_set = true;
  }
  cpi_reg_runtime_touch(reg, rt);
  cpi_reg_replicate(reg, true, e);
  if (who->runtime) {
    cpi_reg_take_over(reg, e->type, rt);
  }
  *id_out = reg_entry_id(e);
  return REG_ADDED;
}

/* Validates what cpi_reg_add and cpi_registry_adopt are given. */
static reg_add_result check(const cp_registry_service *svc, const char *owner,
                            uint32_t *weight, char *why, size_t why_cap) {
  if (cpi_reg_validate(svc, weight, why, why_cap) != NULL) {
    return REG_INVALID;
  }
  if (owner == NULL || owner[0] == '\0' ||
      strnlen(owner, CP_REGISTRY_OWNER_MAX + 1) > CP_REGISTRY_OWNER_MAX) {
    snprintf(why, why_cap, "owner: must be 1-%d bytes", CP_REGISTRY_OWNER_MAX);
    return REG_INVALID;
  }
  return REG_ADDED;
}

/* "inproc:<name>[/<generation>]" names an in-process plugin of the host:
 * only the runtime its launcher started, with principal
 * "launch:<name>[/<generation>]", may register it; otherwise any runtime
 * could have the router send the calls for its own types into that
 * plugin. */
static bool inproc_claim_ok(const cp_registry_service *svc,
                            const char *principal) {
  static const char inproc[] = "inproc:";
  static const char launch[] = "launch:";
  for (size_t i = 0; i < svc->metadata_count; i++) {
    const cp_metadata *m = &svc->metadata[i];
    if (strcmp(m->key, base_url_key) != 0 ||
        strncmp(m->value, inproc, sizeof inproc - 1) != 0) {
      continue;
    }
    if (principal == NULL ||
        strncmp(principal, launch, sizeof launch - 1) != 0 ||
        strcmp(principal + sizeof launch - 1, m->value + sizeof inproc - 1) !=
            0) {
      return false;
    }
  }
  return true;
}

reg_add_result cpi_reg_add(cp_registry *reg, const char *owner,
                           const char *principal,
                           const cp_registry_service *svc, bool check_allow,
                           uint64_t *id_out, char *why, size_t why_cap) {
  uint32_t weight = 1;
  if (check(svc, owner, &weight, why, why_cap) != REG_ADDED) {
    return REG_INVALID;
  }
  if (check_allow && !inproc_claim_ok(svc, principal)) {
    snprintf(why, why_cap,
             ": an inproc: base_url belongs to the host's launcher");
    return REG_DENIED;
  }
  size_t bytes = 0;
  reg_entry *e = entry_build(svc, weight, &bytes);
  if (e == NULL) {
    return REG_NOMEM;
  }
  /* The allow-list check marks runtime callers; the host is trusted. */
  const char *p = principal != NULL ? principal : "";
  add_caller who = {cpi_reg_hash_name(reg, p, strlen(p)), check_allow};
  cpi_rwshard_wrlock(&reg->lock);
  reg_add_result res = REG_DENIED;
  if (!check_allow ||
      cpi_reg_allowed(reg, owner, principal, svc->type, why, why_cap)) {
    res = add_locked(reg, owner, &who, svc, e, bytes, id_out, why, why_cap);
  }
  cpi_reg_commit_unlock(reg);
  if (res != REG_ADDED) {
    free(e);
  }
  return res;
}

int cp_registry_register_as_host(cp_registry *reg, const char *owner,
                                 const cp_registry_service *svc,
                                 char id_out[CP_REGISTRY_ID_LEN + 1]) {
  if (reg == NULL || svc == NULL) {
    return CP_EINVAL;
  }
  char why[160];
  uint64_t id = 0;
  switch (cpi_reg_add(reg, owner, NULL, svc, false, &id, why, sizeof why)) {
    case REG_ADDED:
    case REG_EXISTS:
      if (id_out != NULL) {
        cpi_reg_format_id(id, id_out);
      }
      return 0;
    case REG_INVALID:
      return CP_EINVAL;
    case REG_LIMIT:
      return CP_ELIMIT;
    case REG_RANDOM_FAILED:
      return CP_ESYS;
    case REG_DENIED:
      return CP_EDENIED;
    case REG_NOMEM:
    default:
      return CP_ENOMEM;
  }
}

int cpi_registry_adopt(cp_registry *reg, uint64_t id, const char *owner,
                       const cp_registry_service *svc, char *why,
                       size_t why_cap) {
  uint32_t weight = 1;
  if (check(svc, owner, &weight, why, why_cap) != REG_ADDED) {
    return CP_EINVAL;
  }
  if (!inproc_claim_ok(svc, NULL)) {
    snprintf(why, why_cap, "base_url: an in-process plugin of another host");
    return CP_EINVAL;
  }
  size_t bytes = 0;
  reg_entry *e = entry_build(svc, weight, &bytes);
  if (e == NULL) {
    return CP_ENOMEM;
  }
  e->node.hash = id;
  int rc = 0;
  bool linked = false;
  cpi_rwshard_wrlock(&reg->lock);
  if (cpi_reg_find_id(reg, id) == NULL) {
    if (over_cap(reg, cpi_reg_find_runtime(reg, owner), bytes, why, why_cap) !=
        NULL) {
      rc = CP_ELIMIT;
    } else if (link_new(reg, svc->type, owner, e, bytes) == NULL) {
      rc = CP_ENOMEM;
    } else {
      linked = true;
    }
  }
  cpi_reg_commit_unlock(reg);
  if (!linked) {
    free(e);
  }
  return rc;
}

/* --- removing ------------------------------------------------------------ */

/* With the write lock held: unlinks `e` from every table; the commit frees
 * it once the routable lists no longer point at it. */
void cpi_reg_unlink_entry(cp_registry *reg, reg_entry *e) {
  cpi_reg_replicate(reg, false, e);
  cpi_htab_remove(&reg->regs, &e->node);
  rt_entry *rt = e->owner;
  for (reg_entry **link = &rt->regs; *link != NULL;
       link = &(*link)->owner_next) {
    if (*link == e) {
      *link = e->owner_next;
      break;
    }
  }
  rt->reg_count--;
  size_t bytes = cpi_reg_entry_bytes(e);
  rt->reg_bytes -= (uint32_t)bytes;
  reg->reg_bytes -= bytes;
  /* The provider list is compacted once per commit (cpi_sel_rebuild), not per
   * removal: dropping many providers of one type stays linear. */
  svc_type *t = e->type;
  e->owner = NULL;
  t->unlinked++;
  reg->reg_count--;
  cpi_reg_mark_dirty(reg, t, true);
  e->owner_next = reg->trash;
  reg->trash = e;
}

reg_remove_result cpi_reg_remove(cp_registry *reg, uint64_t id,
                                 const char *owner) {
  cpi_rwshard_wrlock(&reg->lock);
  reg_remove_result res = REG_NOT_FOUND;
  reg_entry *e = cpi_reg_find_id(reg, id);
  if (e != NULL && owner != NULL && strcmp(e->owner->id, owner) != 0) {
    res = REG_NOT_OWNER;
  } else if (e != NULL) {
    rt_entry *rt = e->owner;
    cpi_reg_unlink_entry(reg, e);
    cpi_reg_runtime_maybe_free(reg, rt);
    res = REG_REMOVED;
  }
  cpi_reg_commit_unlock(reg);
  return res;
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

int cp_registry_unregister_as_host(cp_registry *reg,
                                   const char *registration_id) {
  uint64_t id = 0;
  if (reg == NULL || !cpi_reg_parse_id(registration_id, &id)) {
    return reg == NULL ? CP_EINVAL : CP_ENOTFOUND;
  }
  return cpi_reg_remove(reg, id, NULL) == REG_REMOVED ? 0 : CP_ENOTFOUND;
}

void cpi_reg_drop_runtime_locked(cp_registry *reg, rt_entry *rt,
                                 cp_status_code code, const char *message) {
  while (rt->regs != NULL) {
    cpi_reg_unlink_entry(reg, rt->regs);
  }
  while (rt->watchers != NULL) {
    cpi_watch_unlink(reg, rt->watchers, code, message);
  }
  if (rt->has_health) {
    cpi_reg_runtime_clear_health(rt);
    /* Its providers are gone already; nothing else to refresh. */
  }
  cpi_reg_runtime_maybe_free(reg, rt);
}

int cpi_reg_drop_runtime(cp_registry *reg, const char *runtime_id,
                         cp_status_code code, const char *message) {
  cpi_rwshard_wrlock(&reg->lock);
  rt_entry *rt = cpi_reg_find_runtime(reg, runtime_id);
  if (rt != NULL) {
    cpi_reg_drop_runtime_locked(reg, rt, code, message);
  }
  cpi_reg_commit_unlock(reg);
  return rt != NULL ? 0 : CP_ENOTFOUND;
}

int cp_registry_remove_runtime(cp_registry *reg, const char *runtime_id) {
  if (reg == NULL || runtime_id == NULL) {
    return CP_EINVAL;
  }
  return cpi_reg_drop_runtime(reg, runtime_id, CP_STATUS_UNAVAILABLE,
                              "runtime removed from the service registry");
}
