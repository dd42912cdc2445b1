/* Interned strings: a chained hash table over an entry array whose free
 * entries form a list, so ids stay small and are reused. */
#include "core/intern.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

enum { INITIAL_HEADS = 16, INITIAL_ENTRIES = 8 };

/* A copy is its length (32 bits) then its bytes and a NUL; `str` points at
 * the bytes. */
static uint32_t len_of(const char *str) {
  uint32_t len;
  memcpy(&len, str - sizeof len, sizeof len);
  return len;
}

static char *copy_new(const char *s, size_t len) {
  uint32_t n = (uint32_t)len;
  char *block = malloc(sizeof n + len + 1);
  if (block == NULL) {
    return NULL;
  }
  memcpy(block, &n, sizeof n);
  memcpy(block + sizeof n, s, len);
  block[sizeof n + len] = '\0';
  return block + sizeof n;
}

static void copy_free(char *str) {
  if (str != NULL) {
    free(str - sizeof(uint32_t));
  }
}

void cpi_intern_init(cp_intern *t, const cp_siphash_key *key) {
  memset(t, 0, sizeof *t);
  t->key = *key;
}

void cpi_intern_release(cp_intern *t) {
  for (uint32_t i = 0; i < t->used; i++) {
    copy_free(t->entries[i].str);
  }
  free(t->entries);
  free(t->heads);
  cp_siphash_key key = t->key;
  cpi_intern_init(t, &key);
}

static size_t head_of(const cp_intern *t, const char *s, size_t len) {
  return (size_t)cpi_siphash13(&t->key, s, len) & t->mask;
}

/* Rebuilds the chains over `n` heads (a power of two). */
static int rehash(cp_intern *t, size_t n) {
  uint32_t *heads = calloc(n, sizeof *heads);
  if (heads == NULL) {
    return CP_ENOMEM;
  }
  free(t->heads);
  t->heads = heads;
  t->mask = n - 1;
  for (uint32_t i = 0; i < t->used; i++) {
    cp_intern_entry *e = &t->entries[i];
    if (e->str != NULL) {
      size_t h = head_of(t, e->str, len_of(e->str));
      e->next = t->heads[h];
      t->heads[h] = i + 1;
    }
  }
  return 0;
}

/* Room for one more string: an entry and, at one string per head, twice
 * the heads. */
static int reserve(cp_intern *t) {
  if (t->heads == NULL || t->count + 1 > t->mask + 1) {
    size_t n = t->heads == NULL ? INITIAL_HEADS : (t->mask + 1) * 2;
    if (rehash(t, n) != 0) {
      return CP_ENOMEM;
    }
  }
  if (t->free_head != 0 || t->used < t->cap) {
    return 0;
  }
  if (t->cap >= CP_INTERN_MAX_IDS) {
    return CP_ELIMIT;
  }
  uint32_t cap = t->cap == 0 ? INITIAL_ENTRIES : t->cap * 2;
  if (cap > CP_INTERN_MAX_IDS) {
    cap = CP_INTERN_MAX_IDS;
  }
  cp_intern_entry *e = realloc(t->entries, cap * sizeof *e);
  if (e == NULL) {
    return CP_ENOMEM;
  }
  t->entries = e;
  t->cap = cap;
  return 0;
}

int cpi_intern_add(cp_intern *t, const char *s, size_t len, uint32_t *id) {
  if (len >= UINT32_MAX) {
    return CP_EINVAL;
  }
  if (t->heads != NULL) {
    for (uint32_t i = t->heads[head_of(t, s, len)]; i != 0;) {
      cp_intern_entry *e = &t->entries[i - 1];
      if (len_of(e->str) == len && memcmp(e->str, s, len) == 0) {
        if (e->refs == UINT32_MAX) {
          return CP_ELIMIT;
        }
        e->refs++;
        *id = i;
        return 0;
      }
      i = e->next;
    }
  }
  int rc = reserve(t);
  if (rc != 0) {
    return rc;
  }
  char *copy = copy_new(s, len);
  if (copy == NULL) {
    return CP_ENOMEM;
  }
  uint32_t i = t->free_head;
  if (i != 0) {
    t->free_head = t->entries[i - 1].next;
  } else {
    i = ++t->used;
  }
  cp_intern_entry *e = &t->entries[i - 1];
  e->str = copy;
  e->refs = 1;
  size_t h = head_of(t, s, len);
  e->next = t->heads[h];
  t->heads[h] = i;
  t->count++;
  *id = i;
  return 0;
}

void cpi_intern_put(cp_intern *t, uint32_t id) {
  cp_intern_entry *e = &t->entries[id - 1];
  if (--e->refs > 0) {
    return;
  }
  for (uint32_t *link = &t->heads[head_of(t, e->str, len_of(e->str))];
       *link != 0; link = &t->entries[*link - 1].next) {
    if (*link == id) {
      *link = e->next;
      break;
    }
  }
  copy_free(e->str);
  e->str = NULL;
  e->next = t->free_head;
  t->free_head = id;
  t->count--;
}

const char *cpi_intern_str(const cp_intern *t, uint32_t id) {
  return t->entries[id - 1].str;
}

size_t cpi_intern_len(const cp_intern *t, uint32_t id) {
  return len_of(t->entries[id - 1].str);
}

size_t cpi_intern_count(const cp_intern *t) {
  return t->count;
}

size_t cpi_intern_bytes(const cp_intern *t) {
  size_t bytes = (size_t)t->cap * sizeof *t->entries;
  if (t->heads != NULL) {
    bytes += (t->mask + 1) * sizeof *t->heads;
  }
  for (uint32_t i = 0; i < t->used; i++) {
    const char *str = t->entries[i].str;
    if (str != NULL) {
      bytes += sizeof(uint32_t) + len_of(str) + 1;
    }
  }
  return bytes;
}
