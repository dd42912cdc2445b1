/* The router's bounded, least-recently-used table of provider clients. */
#include "router/targets.h"

#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "transport/client_ref.h"

int cpi_target_table_init(target_table *t, size_t cap,
                          const cp_tls_client_options *tls,
                          size_t max_message_bytes) {
  memset(t, 0, sizeof *t);
  t->slots = calloc(cap, sizeof *t->slots);
  if (t->slots == NULL) {
    return CP_ENOMEM;
  }
  t->cap = cap;
  t->tls = tls;
  t->max_message_bytes = max_message_bytes;
  pthread_mutex_init(&t->mu, NULL);
  return 0;
}

void cpi_target_table_destroy(target_table *t) {
  for (size_t i = 0; i < t->count; i++) {
    cpi_client_release(t->slots[i].client);
    free(t->slots[i].address);
  }
  free(t->slots);
  pthread_mutex_destroy(&t->mu);
  memset(t, 0, sizeof *t);
}

static target_conn *find(target_table *t, const char *address, bool tls) {
  for (size_t i = 0; i < t->count; i++) {
    if (t->slots[i].tls == tls && strcmp(t->slots[i].address, address) == 0) {
      return &t->slots[i];
    }
  }
  return NULL;
}

/* Removes slot i (order does not matter: recency is in last_used) and
 * returns its client for the caller to release outside the lock. */
static cp_client *take(target_table *t, size_t i) {
  cp_client *c = t->slots[i].client;
  free(t->slots[i].address);
  t->slots[i] = t->slots[--t->count];
  return c;
}

static size_t least_recent(const target_table *t) {
  size_t lru = 0;
  for (size_t i = 1; i < t->count; i++) {
    if (t->slots[i].last_used < t->slots[lru].last_used) {
      lru = i;
    }
  }
  return lru;
}

/* mu held. */
static cp_client *make_client(const target_table *t, const char *address,
                              bool tls) {
  if (strncmp(address, "inproc:", 7) == 0) {
    /* Never a gRPC target: only the connector reaches it, in plaintext. */
    cp_client *c = NULL;
    if (tls || t->connect == NULL ||
        t->connect(address, &c, t->connect_user) != 0) {
      return NULL;
    }
    return c;
  }
  cp_client_options o;
  cp_client_options_init(&o);
  if (t->max_message_bytes > 0) {
    o.max_message_bytes = t->max_message_bytes;
  }
  o.tls = tls ? t->tls : NULL;
  cp_client *c = NULL;
  return cp_client_create(&c, address, &o) == 0 ? c : NULL;
}

cp_client *cpi_target_table_acquire(target_table *t, const char *address,
                                    bool tls) {
  if (strlen(address) >= TARGET_ADDRESS_MAX || (tls && t->tls == NULL)) {
    return NULL;
  }
  cp_client *evicted = NULL;
  pthread_mutex_lock(&t->mu);
  target_conn *e = find(t, address, tls);
  if (e == NULL) {
    /* Creating a channel does no I/O (gRPC connects lazily). */
    char *copy = strdup(address);
    cp_client *c = copy != NULL ? make_client(t, address, tls) : NULL;
    if (c != NULL) {
      if (t->count == t->cap) {
        evicted = take(t, least_recent(t));
        t->evicted++;
      }
      e = &t->slots[t->count++];
      e->address = copy;
      e->tls = tls;
      e->client = c;
    } else {
      free(copy);
    }
  }
  cp_client *out = NULL;
  if (e != NULL) {
    e->last_used = ++t->tick;
    out = e->client;
    cpi_client_retain(out);
  }
  pthread_mutex_unlock(&t->mu);
  cpi_client_release(evicted);
  return out;
}

size_t cpi_target_table_forget(target_table *t, const char *address) {
  cp_client *gone[2] = {NULL, NULL};
  size_t n = 0;
  pthread_mutex_lock(&t->mu);
  for (size_t i = t->count; i-- > 0;) {
    if (strcmp(t->slots[i].address, address) == 0 && n < 2) {
      gone[n++] = take(t, i);
    }
  }
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < n; i++) {
    cpi_client_release(gone[i]);
  }
  return n;
}

void cpi_target_table_set_connector(target_table *t,
                                    cp_router_connect_fn connect, void *user) {
  pthread_mutex_lock(&t->mu);
  t->connect = connect;
  t->connect_user = user;
  pthread_mutex_unlock(&t->mu);
}

void cpi_target_table_counts(target_table *t, size_t *count,
                             uint64_t *evicted) {
  pthread_mutex_lock(&t->mu);
  *count = t->count;
  *evicted = t->evicted;
  pthread_mutex_unlock(&t->mu);
}

size_t cpi_target_table_bytes(target_table *t) {
  pthread_mutex_lock(&t->mu);
  size_t bytes = t->cap * sizeof *t->slots;
  for (size_t i = 0; i < t->count; i++) {
    bytes += strlen(t->slots[i].address) + 1;
  }
  pthread_mutex_unlock(&t->mu);
  return bytes;
}
