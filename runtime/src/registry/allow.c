/* Allow-lists: which service types a runtime may register, set by the host
 * per runtime ID or per self_id. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

void reg_allow_free(allow_entry *a) {
  for (size_t i = 0; i < a->count; i++) {
    free(a->types[i]);
  }
  free(a->types);
  free(a);
}

/* Keys are compared lower-cased: runtime IDs carry the self_id lower-cased. */
static size_t lower_copy(const char *s, char out[CP_REGISTRY_OWNER_MAX + 1]) {
  size_t n = strnlen(s, CP_REGISTRY_OWNER_MAX + 1);
  if (n > CP_REGISTRY_OWNER_MAX) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[n] = '\0';
  return n;
}

static allow_entry *find_allow(const cp_registry *reg, const char *key,
                               size_t len) {
  uint64_t h = reg_hash_name(reg, key, len);
  for (cp_hnode *n = cp_htab_chain(&reg->allows, h); n != NULL; n = n->next) {
    allow_entry *a = CP_HNODE_ITEM(n, allow_entry, node);
    if (n->hash == h && strlen(a->key) == len &&
        memcmp(a->key, key, len) == 0) {
      return a;
    }
  }
  return NULL;
}

/* "<self_id>-<16 lower-case hex>" → length of the self_id part, or 0. */
static size_t self_id_len(const char *id, size_t len) {
  if (len < 18 || id[len - 17] != '-') {
    return 0;
  }
  for (size_t i = len - 16; i < len; i++) {
    if (!isdigit((unsigned char)id[i]) && (id[i] < 'a' || id[i] > 'f')) {
      return 0;
    }
  }
  return len - 17;
}

bool reg_allowed(const cp_registry *reg, const char *owner, const char *type) {
  char key[CP_REGISTRY_OWNER_MAX + 1];
  size_t len = lower_copy(owner, key);
  allow_entry *a = len > 0 ? find_allow(reg, key, len) : NULL;
  if (a == NULL && len > 0) {
    size_t self = self_id_len(key, len);
    a = self > 0 ? find_allow(reg, key, self) : NULL;
  }
  if (a == NULL) {
    return !reg->require_allow_list;
  }
  if (a->any) {
    return true;
  }
  for (size_t i = 0; i < a->count; i++) {
    if (strcmp(a->types[i], type) == 0) {
      return true;
    }
  }
  return false;
}

static allow_entry *allow_new(const char *key, size_t len,
                              const char *const *types, size_t n) {
  allow_entry *a = calloc(1, sizeof *a + len + 1);
  if (a == NULL) {
    return NULL;
  }
  memcpy(a->key, key, len + 1);
  a->types = n > 0 ? calloc(n, sizeof *a->types) : NULL;
  if (n > 0 && a->types == NULL) {
    free(a);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (strcmp(types[i], "*") == 0) {
      a->any = true;
      continue;
    }
    a->types[a->count] = strdup(types[i]);
    if (a->types[a->count] == NULL) {
      reg_allow_free(a);
      return NULL;
    }
    a->count++;
  }
  return a;
}

int cp_registry_allow(cp_registry *reg, const char *key,
                      const char *const *types, size_t n) {
  char lower[CP_REGISTRY_OWNER_MAX + 1];
  size_t len = reg != NULL && key != NULL ? lower_copy(key, lower) : 0;
  if (len == 0 || !cp_identifier_chars_valid(lower, len) ||
      (n > 0 && types == NULL)) {
    return CP_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (types[i] == NULL ||
        (strcmp(types[i], "*") != 0 && cp_check_service_type(types[i]))) {
      return CP_EINVAL;
    }
  }
  allow_entry *a = allow_new(lower, len, types, n);
  if (a == NULL) {
    return CP_ENOMEM;
  }
  a->node.hash = reg_hash_name(reg, lower, len);
  cp_rwshard_wrlock(&reg->lock);
  allow_entry *old = find_allow(reg, lower, len);
  if (old != NULL) {
    cp_htab_remove(&reg->allows, &old->node);
  }
  cp_htab_insert(&reg->allows, &a->node);
  cp_rwshard_wrunlock(&reg->lock);
  if (old != NULL) {
    reg_allow_free(old);
  }
  return 0;
}
