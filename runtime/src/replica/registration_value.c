/* Sealing registrations for etcd; see registration_value.h. */
#include "replica/registration_value.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

enum { FORMAT = 1, HEAD = 11, FIXED_STRINGS = 4 };

static size_t plain_size(const cpi_reg_record *rec) {
  const cp_registry_service *s = &rec->svc;
  size_t n = HEAD + strlen(rec->owner) + strlen(s->type) + strlen(s->version) +
             strlen(s->endpoint_path) + FIXED_STRINGS;
  for (size_t i = 0; i < s->metadata_count; i++) {
    n += strlen(s->metadata[i].key) + strlen(s->metadata[i].value) + 2;
  }
  return n;
}

static uint8_t *put(uint8_t *at, const char *s) {
  size_t n = strlen(s) + 1;
  memcpy(at, s, n);
  return at + n;
}

int cpi_registration_value_seal(const cpi_seal_key *seal, const void *key,
                                size_t key_len, uint64_t writer,
                                const cpi_reg_record *rec, uint8_t **out,
                                size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  const cp_registry_service *s = &rec->svc;
  if (s->metadata_count > UINT16_MAX) {
    return CP_EINVAL;
  }
  size_t len = plain_size(rec);
  if (len > CPI_REGISTRATION_PLAIN_MAX) {
    return CP_EINVAL;
  }
  uint8_t *plain = malloc(len);
  uint8_t *sealed = malloc(len + CPI_SEAL_OVERHEAD);
  if (plain == NULL || sealed == NULL) {
    free(plain);
    free(sealed);
    return CP_ENOMEM;
  }
  plain[0] = FORMAT;
  for (int i = 0; i < 8; i++) {
    plain[1 + i] = (uint8_t)(writer >> (8 * i));
  }
  plain[9] = (uint8_t)s->metadata_count;
  plain[10] = (uint8_t)(s->metadata_count >> 8);
  uint8_t *at = plain + HEAD;
  at = put(at, rec->owner);
  at = put(at, s->type);
  at = put(at, s->version);
  at = put(at, s->endpoint_path);
  for (size_t i = 0; i < s->metadata_count; i++) {
    at = put(at, s->metadata[i].key);
    at = put(at, s->metadata[i].value);
  }
  int rc = cpi_seal(seal, key, key_len, plain, len, sealed);
  free(plain);
  if (rc != 0) {
    free(sealed);
    return rc;
  }
  *out = sealed;
  *out_len = len + CPI_SEAL_OVERHEAD;
  return 0;
}

/* Points strs[0..n) at the n NUL-terminated strings that exactly fill
 * text[0..len); false when they do not. */
static bool split(const char *text, size_t len, const char **strs, size_t n) {
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *end = at < len ? memchr(text + at, '\0', len - at) : NULL;
    if (end == NULL) {
      return false;
    }
    strs[i] = text + at;
    at = (size_t)(end - text) + 1;
  }
  return at == len;
}

int cpi_registration_value_open(const cpi_seal_key *seal, const void *key,
                                size_t key_len, const uint8_t *value,
                                size_t len, cpi_registration_value **out) {
  *out = NULL;
  if (len < CPI_SEAL_OVERHEAD + HEAD ||
      len - CPI_SEAL_OVERHEAD > CPI_REGISTRATION_PLAIN_MAX) {
    return CP_EDECODE;
  }
  size_t plain_len = len - CPI_SEAL_OVERHEAD;
  uint8_t *plain = malloc(plain_len);
  if (plain == NULL) {
    return CP_ENOMEM;
  }
  size_t opened = 0;
  int rc = cpi_seal_open(seal, key, key_len, value, len, plain, &opened);
  if (rc != 0 || opened != plain_len || plain[0] != FORMAT) {
    free(plain);
    return rc == CP_ESYS ? CP_ESYS : CP_EDECODE;
  }
  uint64_t writer = 0;
  for (int i = 0; i < 8; i++) {
    writer |= (uint64_t)plain[1 + i] << (8 * i);
  }
  size_t count = (size_t)plain[9] | (size_t)plain[10] << 8;
  size_t nstr = FIXED_STRINGS + 2 * count;
  /* One block: the header, the metadata array, the string pointers while
   * splitting (reused below), then the text. */
  size_t text_len = plain_len - HEAD;
  size_t md_bytes = count * sizeof(cp_metadata);
  cpi_registration_value *v =
      malloc(sizeof *v + md_bytes + nstr * sizeof(char *) + text_len);
  if (v == NULL) {
    free(plain);
    return CP_ENOMEM;
  }
  cp_metadata *md = (cp_metadata *)(v + 1);
  const char **strs = (const char **)((char *)md + md_bytes);
  char *text = (char *)(strs + nstr);
  memcpy(text, plain + HEAD, text_len);
  free(plain);
  if (!split(text, text_len, strs, nstr)) {
    free(v);
    return CP_EDECODE;
  }
  v->writer = writer;
  v->owner = strs[0];
  v->svc.type = strs[1];
  v->svc.version = strs[2];
  v->svc.endpoint_path = strs[3];
  for (size_t i = 0; i < count; i++) {
    md[i].key = strs[FIXED_STRINGS + 2 * i];
    md[i].value = strs[FIXED_STRINGS + 2 * i + 1];
  }
  v->svc.metadata = count > 0 ? md : NULL;
  v->svc.metadata_count = count;
  *out = v;
  return 0;
}
