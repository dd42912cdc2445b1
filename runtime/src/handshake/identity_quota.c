/* Live identities per address: two small chained hash tables under one
 * mutex (addresses with their counts; runtime IDs with their address),
 * touched twice per handshake and once per revocation or expiry. */
#include "handshake/identity_quota.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

enum { BUCKETS = 1024 };

typedef struct addr_entry {
  struct addr_entry *next;
  size_t count;
  char address[];
} addr_entry;

typedef struct id_entry {
  struct id_entry *next;
  addr_entry *addr;
  char id[];
} id_entry;

struct id_quota {
  pthread_mutex_t mu;
  cp_token_store *tokens;
  size_t per_address;
  addr_entry *addrs[BUCKETS];
  id_entry *ids[BUCKETS];
};

static size_t bucket(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s != '\0'; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  }
  return (size_t)(h % BUCKETS);
}

static addr_entry **find_addr(id_quota *q, const char *address) {
  addr_entry **p = &q->addrs[bucket(address)];
  while (*p != NULL && strcmp((*p)->address, address) != 0) {
    p = &(*p)->next;
  }
  return p;
}

/* With q->mu held: one place fewer for the entry at *link. */
static void drop_place(addr_entry **link) {
  addr_entry *a = *link;
  if (--a->count == 0) {
    *link = a->next;
    free(a);
  }
}

/* With q->mu held: the link to `a` in its bucket. */
static addr_entry **link_of(id_quota *q, const addr_entry *a) {
  addr_entry **p = &q->addrs[bucket(a->address)];
  while (*p != a) {
    p = &(*p)->next;
  }
  return p;
}

/* Releases the place of `runtime_id`; false when it holds none. */
static bool release_id(id_quota *q, const char *runtime_id) {
  bool released = false;
  pthread_mutex_lock(&q->mu);
  id_entry **p = &q->ids[bucket(runtime_id)];
  while (*p != NULL && strcmp((*p)->id, runtime_id) != 0) {
    p = &(*p)->next;
  }
  if (*p != NULL) {
    id_entry *e = *p;
    *p = e->next;
    drop_place(link_of(q, e->addr));
    free(e);
    released = true;
  }
  pthread_mutex_unlock(&q->mu);
  return released;
}

static void on_token_gone(const char *runtime_id, cp_token_event event,
                          void *user) {
  (void)event;
  (void)release_id(user, runtime_id);
}

int cpi_id_quota_create(id_quota **out, cp_token_store *tokens,
                        size_t per_address) {
  id_quota *q = calloc(1, sizeof *q);
  if (q == NULL) {
    return CP_ENOMEM;
  }
  q->tokens = tokens;
  q->per_address = per_address;
  pthread_mutex_init(&q->mu, NULL);
  int rc = cp_token_store_subscribe(tokens, on_token_gone, q);
  if (rc != 0) {
    pthread_mutex_destroy(&q->mu);
    free(q);
    return rc;
  }
  *out = q;
  return 0;
}

void cpi_id_quota_destroy(id_quota *q) {
  if (q == NULL) {
    return;
  }
  (void)cp_token_store_unsubscribe(q->tokens, on_token_gone, q);
  for (size_t i = 0; i < BUCKETS; i++) {
    for (id_entry *e = q->ids[i], *next; e != NULL; e = next) {
      next = e->next;
      free(e);
    }
    for (addr_entry *a = q->addrs[i], *next; a != NULL; a = next) {
      next = a->next;
      free(a);
    }
  }
  pthread_mutex_destroy(&q->mu);
  free(q);
}

bool cpi_id_quota_reserve(id_quota *q, const char *address) {
  bool ok = false;
  pthread_mutex_lock(&q->mu);
  addr_entry **link = find_addr(q, address);
  if (*link == NULL) {
    size_t len = strlen(address);
    addr_entry *a = malloc(sizeof *a + len + 1);
    if (a != NULL) {
      a->next = NULL;
      a->count = 0;
      memcpy(a->address, address, len + 1);
      *link = a;
    }
  }
  if (*link != NULL && (*link)->count < q->per_address) {
    (*link)->count++;
    ok = true;
  }
  pthread_mutex_unlock(&q->mu);
  return ok;
}

void cpi_id_quota_cancel(id_quota *q, const char *address) {
  pthread_mutex_lock(&q->mu);
  addr_entry **link = find_addr(q, address);
  if (*link != NULL) {
    drop_place(link);
  }
  pthread_mutex_unlock(&q->mu);
}

void cpi_id_quota_bind(id_quota *q, const char *address, const char *runtime_id,
                       const char *token) {
  size_t len = strlen(runtime_id);
  id_entry *e = malloc(sizeof *e + len + 1);
  pthread_mutex_lock(&q->mu);
  addr_entry **link = find_addr(q, address);
  if (e == NULL || *link == NULL) {
    /* Out of memory: the place is given back now rather than never. */
    if (*link != NULL) {
      drop_place(link);
    }
    pthread_mutex_unlock(&q->mu);
    free(e);
    return;
  }
  e->addr = *link;
  memcpy(e->id, runtime_id, len + 1);
  size_t b = bucket(runtime_id);
  e->next = q->ids[b];
  q->ids[b] = e;
  pthread_mutex_unlock(&q->mu);
  if (!cp_token_store_validate(q->tokens, runtime_id, len, token,
                               strlen(token))) {
    (void)release_id(q, runtime_id); /* gone before it was bound */
  }
}

size_t cpi_id_quota_count(id_quota *q, const char *address) {
  pthread_mutex_lock(&q->mu);
  addr_entry **link = find_addr(q, address);
  size_t n = *link != NULL ? (*link)->count : 0;
  pthread_mutex_unlock(&q->mu);
  return n;
}
