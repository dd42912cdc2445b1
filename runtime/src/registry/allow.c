/* Allow-lists: which service types a runtime may register. Entries are keyed
 * by what was authenticated (the principal of the runtime's handshake, or
 * the runtime ID its token proves), or, when the operator opted in, by the
 * self_id the runtime claimed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

#define SELF_ID_PREFIX "self_id:"
#define SELF_ID_PREFIX_LEN (sizeof SELF_ID_PREFIX - 1)

void cpi_reg_allow_free(allow_entry *a) {
  for (size_t i = 0; i < a->count; i++) {
    free(a->types[i]);
  }
  free(a->types);
  free(a);
}

/* Runtime IDs and self_ids compare lower-cased (a runtime ID carries its
 * self_id lower-cased); principals compare exactly. */
static size_t lower_copy(const char *s, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[n] = '\0';
  return n;
}

static allow_entry *find_allow(const cp_registry *reg, allow_kind kind,
                               const char *key, size_t len) {
  uint64_t h = cpi_reg_hash_name(reg, key, len);
  for (cp_hnode *n = cpi_htab_chain(&reg->allows, h); n != NULL; n = n->next) {
    allow_entry *a = CP_HNODE_ITEM(n, allow_entry, node);
    if (n->hash == h && a->kind == kind && strlen(a->key) == len &&
        memcmp(a->key, key, len) == 0) {
      return a;
    }
  }
  return NULL;
}

static bool self_id_part_valid(const char *s, size_t n) {
  char copy[CP_SELF_ID_MAX + 1];
  if (n == 0 || n > CP_SELF_ID_MAX) {
    return false;
  }
  memcpy(copy, s, n);
  copy[n] = '\0';
  return cp_self_id_valid(copy);
}

/* "<provider>:<identity>" as cp_call_principal writes it: both parts
 * non-empty, no control characters. */
static bool principal_valid(const char *s, size_t n) {
  const char *colon = memchr(s, ':', n);
  if (colon == NULL || colon == s || colon == s + n - 1) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
      return false;
    }
  }
  /* A runtime token is never a principal: such an entry would match
   * nothing, so refuse it rather than let it look like a grant. */
  return strncmp(s, "runtime-token:", 14) != 0;
}

/* Classifies and normalises an allow-list key into `out`. Returns the kind,
 * or -1 (CP_EINVAL) / -2 (a self_id key without the opt-in). */
static int parse_key(const cp_registry *reg, const char *key, char *out,
                     size_t *len) {
  size_t n = strnlen(key, CP_PRINCIPAL_MAX + 1);
  if (n == 0 || n > CP_PRINCIPAL_MAX) {
    return -1;
  }
  if (strncmp(key, SELF_ID_PREFIX, SELF_ID_PREFIX_LEN) == 0) {
    const char *self = key + SELF_ID_PREFIX_LEN;
    size_t self_n = n - SELF_ID_PREFIX_LEN;
    if (!self_id_part_valid(self, self_n)) {
      return -1;
    }
    if (!reg->allow_self_id_keys) {
      return -2;
    }
    *len = lower_copy(self, self_n, out);
    return ALLOW_SELF_ID;
  }
  if (memchr(key, ':', n) != NULL) {
    if (!principal_valid(key, n)) {
      return -1;
    }
    memcpy(out, key, n + 1);
    *len = n;
    return ALLOW_PRINCIPAL;
  }
  lower_copy(key, n, out);
  size_t self_n = cpi_reg_self_id_len(out, n);
  if (self_n == 0 || !self_id_part_valid(out, self_n)) {
    return -1; /* a bare name is neither a runtime ID nor a principal */
  }
  *len = n;
  return ALLOW_RUNTIME;
}

/* The entry that decides for `owner`: its runtime ID's, else its
 * principal's, else (opt-in) its self_id's. */
static const allow_entry *entry_for(const cp_registry *reg, const char *owner,
                                    const char *principal) {
  char key[CP_REGISTRY_OWNER_MAX + 1];
  size_t len = strnlen(owner, CP_REGISTRY_OWNER_MAX + 1);
  if (len == 0 || len > CP_REGISTRY_OWNER_MAX) {
    return NULL;
  }
  lower_copy(owner, len, key);
  const allow_entry *a = find_allow(reg, ALLOW_RUNTIME, key, len);
  if (a == NULL && principal != NULL && principal[0] != '\0') {
    a = find_allow(reg, ALLOW_PRINCIPAL, principal, strlen(principal));
  }
  if (a == NULL && reg->allow_self_id_keys) {
    size_t self = cpi_reg_self_id_len(key, len);
    a = self > 0 ? find_allow(reg, ALLOW_SELF_ID, key, self) : NULL;
  }
  return a;
}

bool cpi_reg_allowed(const cp_registry *reg, const char *owner,
                     const char *principal, const char *type, char *why,
                     size_t why_cap) {
  why[0] = '\0';
  const allow_entry *a = entry_for(reg, owner, principal);
  if (a == NULL) {
    if (!reg->require_allow_list) {
      return true; /* the development default */
    }
    if (principal == NULL || principal[0] == '\0') {
      snprintf(why, why_cap,
               ": its handshake was not authenticated (no API key or client "
               "certificate) and this registry requires an allow-list entry");
    } else {
      snprintf(why, why_cap, ": no allow-list entry for %s", principal);
    }
    return false;
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

static allow_entry *allow_new(allow_kind kind, const char *key, size_t len,
                              const char *const *types, size_t n) {
  allow_entry *a = calloc(1, sizeof *a + len + 1);
  if (a == NULL) {
    return NULL;
  }
  a->kind = kind;
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
      cpi_reg_allow_free(a);
      return NULL;
    }
    a->count++;
  }
  return a;
}

int cp_registry_allow(cp_registry *reg, const char *key,
                      const char *const *types, size_t n) {
  if (reg == NULL || key == NULL || (n > 0 && types == NULL)) {
    return CP_EINVAL;
  }
  char norm[CP_PRINCIPAL_MAX + 1];
  size_t len = 0;
  int kind = parse_key(reg, key, norm, &len);
  if (kind < 0) {
    return kind == -2 ? CP_EDENIED : CP_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (types[i] == NULL ||
        (strcmp(types[i], "*") != 0 && cpi_check_service_type(types[i]))) {
      return CP_EINVAL;
    }
  }
  allow_entry *a = allow_new((allow_kind)kind, norm, len, types, n);
  if (a == NULL) {
    return CP_ENOMEM;
  }
  a->node.hash = cpi_reg_hash_name(reg, norm, len);
  cpi_rwshard_wrlock(&reg->lock);
  allow_entry *old = find_allow(reg, (allow_kind)kind, norm, len);
  if (old != NULL) {
    cpi_htab_remove(&reg->allows, &old->node);
  }
  cpi_htab_insert(&reg->allows, &a->node);
  cpi_rwshard_wrunlock(&reg->lock);
  if (old != NULL) {
    cpi_reg_allow_free(old);
  }
  return 0;
}
