/* cp_trailers: a caller-owned copy of the trailing metadata a call ended
 * with. Keys and values are copied out of gRPC's slices when the call ends,
 * so the caller reads them without any gRPC lifetime rules. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/trailers_internal.h"

typedef struct trailer {
  char *key;
  char *value; /* NUL-terminated after `len` bytes */
  size_t len;
} trailer;

struct cp_trailers {
  trailer *entries;
  size_t count;
  size_t cap;
};

int cp_trailers_create(cp_trailers **out) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = calloc(1, sizeof **out);
  return *out != NULL ? 0 : CP_ENOMEM;
}

void cpi_trailers_clear(cp_trailers *t) {
  for (size_t i = 0; i < t->count; i++) {
    free(t->entries[i].key);
    free(t->entries[i].value);
  }
  t->count = 0;
}

void cp_trailers_destroy(cp_trailers *t) {
  if (t == NULL) {
    return;
  }
  cpi_trailers_clear(t);
  free(t->entries);
  free(t);
}

static char *copy_slice(const grpc_slice *s, size_t *len) {
  size_t n = GRPC_SLICE_LENGTH(*s);
  char *out = malloc(n + 1);
  if (out != NULL) {
    memcpy(out, GRPC_SLICE_START_PTR(*s), n);
    out[n] = '\0';
    *len = n;
  }
  return out;
}

void cpi_trailers_fill(cp_trailers *t, const grpc_metadata_array *md) {
  cpi_trailers_clear(t);
  if (md->count > t->cap) {
    trailer *grown = realloc(t->entries, md->count * sizeof *grown);
    if (grown == NULL) {
      return; /* out of memory: no trailers rather than some */
    }
    t->entries = grown;
    t->cap = md->count;
  }
  for (size_t i = 0; i < md->count; i++) {
    trailer *e = &t->entries[t->count];
    size_t key_len = 0;
    e->key = copy_slice(&md->metadata[i].key, &key_len);
    e->value = copy_slice(&md->metadata[i].value, &e->len);
    if (e->key == NULL || e->value == NULL) {
      free(e->key);
      free(e->value);
      cpi_trailers_clear(t);
      return;
    }
    t->count++;
  }
}

size_t cp_trailers_count(const cp_trailers *t) {
  return t != NULL ? t->count : 0;
}

int cp_trailers_at(const cp_trailers *t, size_t i, const char **key,
                   const char **value, size_t *len) {
  if (t == NULL || i >= t->count || key == NULL || value == NULL) {
    return CP_EINVAL;
  }
  *key = t->entries[i].key;
  *value = t->entries[i].value;
  if (len != NULL) {
    *len = t->entries[i].len;
  }
  return 0;
}

const char *cp_trailers_get(const cp_trailers *t, const char *key,
                            size_t *len) {
  if (t == NULL || key == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < t->count; i++) {
    if (strcmp(t->entries[i].key, key) == 0) {
      if (len != NULL) {
        *len = t->entries[i].len;
      }
      return t->entries[i].value;
    }
  }
  return NULL;
}
