/* The anonymous read gate. Slots are few (a handful), so holders live in a
 * small array scanned linearly; waiting calls form a FIFO list threaded
 * through the calls themselves, so queueing allocates nothing. */
#include "core/monotonic_cond.h"
#include "transport/read_gate.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/siphash.h"
#include "crypto/crypto.h"

typedef struct read_holder {
  cp_read_gate_entry *entry;
  int64_t since_ns;
  bool cancelled;
  uint64_t key; /* hash of the peer key */
} read_holder;

struct cp_read_gate {
  cp_anonymous_read_limits limits;
  cp_read_gate_ops ops;
  cp_siphash_key hash_key;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* wakes the reaper; CLOCK_MONOTONIC */
  read_holder *holders;
  size_t holder_count;
  cp_read_gate_entry *wait_head;
  cp_read_gate_entry *wait_tail;
  size_t waiting;
  bool open;
  bool stopping;
  pthread_t reaper;
};

/* The peer string without its port: "ipv4:127.0.0.1:5000" → "ipv4:127.0.0.1"
 * ("unix:" peers have no port and are kept whole). */
static void default_key(const char *peer, char out[CP_SERVER_PEER_KEY_MAX]) {
  size_t n = strlen(peer);
  if (strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0) {
    const char *colon = strrchr(peer, ':');
    n = (size_t)(colon - peer);
  }
  if (n >= CP_SERVER_PEER_KEY_MAX) {
    n = CP_SERVER_PEER_KEY_MAX - 1;
  }
  memcpy(out, peer, n);
  out[n] = '\0';
}

/* Peers are compared by a keyed 64-bit hash of their key: a peer cannot
 * choose an address whose key collides with another's to share its
 * slots. */
static uint64_t key_of(const cp_read_gate *g, const char *peer) {
  char key[CP_SERVER_PEER_KEY_MAX];
  key[0] = '\0';
  if (g->limits.peer_key != NULL) {
    g->limits.peer_key(peer != NULL ? peer : "", key, g->limits.peer_key_user);
    key[CP_SERVER_PEER_KEY_MAX - 1] = '\0';
  } else {
    default_key(peer != NULL ? peer : "", key);
  }
  return cpi_siphash13(&g->hash_key, key, strlen(key));
}

static size_t holders_of(const cp_read_gate *g, uint64_t key) {
  size_t n = 0;
  for (size_t i = 0; i < g->holder_count; i++) {
    n += g->holders[i].key == key;
  }
  return n;
}

/* Takes a slot for `e` if one is free for `key`. Called with mu held. */
static bool try_admit_locked(cp_read_gate *g, cp_read_gate_entry *e) {
  if (g->holder_count >= g->limits.total ||
      holders_of(g, e->key) >= g->limits.per_peer) {
    return false;
  }
  read_holder *h = &g->holders[g->holder_count++];
  h->entry = e;
  h->since_ns = cpi_clock_monotonic_ns();
  h->cancelled = false;
  h->key = e->key;
  return true;
}

static bool waiting_peer_locked(const cp_read_gate *g, uint64_t key) {
  for (const cp_read_gate_entry *e = g->wait_head; e != NULL; e = e->next) {
    if (e->key == key) {
      return true;
    }
  }
  return false;
}

static void push_waiter_locked(cp_read_gate *g, cp_read_gate_entry *e) {
  e->next = NULL;
  if (g->wait_tail != NULL) {
    g->wait_tail->next = e;
  } else {
    g->wait_head = e;
  }
  g->wait_tail = e;
  g->waiting++;
}

void cpi_read_gate_enter(cp_read_gate *g, cp_read_gate_entry *e) {
  e->key = key_of(g, e->peer);
  pthread_mutex_lock(&g->mu);
  bool now = g->open;
  if (!now) {
    e->gated = true;
    /* Arrival order: a newcomer does not overtake a waiter of its peer. */
    now = !waiting_peer_locked(g, e->key) && try_admit_locked(g, e);
    if (!now) {
      push_waiter_locked(g, e);
      pthread_cond_signal(&g->cv);
    }
  }
  pthread_mutex_unlock(&g->mu);
  if (now) {
    g->ops.start(e);
  }
}

/* Moves the waiters that now fit, in order, to a list it returns. Called
 * with mu held. */
static cp_read_gate_entry *admit_waiters_locked(cp_read_gate *g) {
  cp_read_gate_entry *ready = NULL;
  cp_read_gate_entry **ready_tail = &ready;
  cp_read_gate_entry **link = &g->wait_head;
  cp_read_gate_entry *prev = NULL;
  while (*link != NULL && g->holder_count < g->limits.total) {
    cp_read_gate_entry *e = *link;
    if (!try_admit_locked(g, e)) {
      prev = e;
      link = &e->next;
      continue;
    }
    *link = e->next;
    if (g->wait_tail == e) {
      g->wait_tail = prev;
    }
    g->waiting--;
    e->next = NULL;
    *ready_tail = e;
    ready_tail = &e->next;
  }
  return ready;
}

static void start_all(cp_read_gate *g, cp_read_gate_entry *list) {
  while (list != NULL) {
    cp_read_gate_entry *next = list->next;
    list->next = NULL;
    g->ops.start(list);
    list = next;
  }
}

void cpi_read_gate_leave(cp_read_gate *g, cp_read_gate_entry *e) {
  pthread_mutex_lock(&g->mu);
  if (!e->gated) {
    pthread_mutex_unlock(&g->mu);
    return;
  }
  e->gated = false;
  for (size_t i = 0; i < g->holder_count; i++) {
    if (g->holders[i].entry == e) {
      g->holders[i] = g->holders[--g->holder_count];
      break;
    }
  }
  cp_read_gate_entry *ready = g->open ? NULL : admit_waiters_locked(g);
  pthread_mutex_unlock(&g->mu);
  start_all(g, ready);
}

void cpi_read_gate_open(cp_read_gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = true;
  cp_read_gate_entry *ready = g->wait_head;
  g->wait_head = g->wait_tail = NULL;
  g->waiting = 0;
  for (cp_read_gate_entry *e = ready; e != NULL; e = e->next) {
    e->gated = false; /* never held a slot */
  }
  pthread_mutex_unlock(&g->mu);
  start_all(g, ready);
}

/* While calls wait, cancels the oldest read once it has held its slot for
 * stall_ms. The cancelled read completes on its queue thread and leaves. */
static void *reaper_main(void *arg) {
  cp_read_gate *g = arg;
  const int64_t stall_ns = g->limits.stall_ms * 1000000;
  pthread_mutex_lock(&g->mu);
  while (!g->stopping) {
    read_holder *oldest = NULL;
    for (size_t i = 0; i < g->holder_count; i++) {
      read_holder *h = &g->holders[i];
      if (!h->cancelled && (oldest == NULL || h->since_ns < oldest->since_ns)) {
        oldest = h;
      }
    }
    if (g->waiting == 0 || oldest == NULL) {
      pthread_cond_wait(&g->cv, &g->mu);
      continue;
    }
    int64_t due = oldest->since_ns + stall_ns;
    if (cpi_clock_monotonic_ns() >= due) {
      oldest->cancelled = true;
      /* Under mu the entry cannot leave (and be freed) meanwhile. */
      g->ops.cancel(oldest->entry);
      continue;
    }
    struct timespec until = cpi_monotonic_timespec(due);
    pthread_cond_timedwait(&g->cv, &g->mu, &until);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

cp_read_gate *cpi_read_gate_new(const cp_anonymous_read_limits *limits,
                                const cp_read_gate_ops *ops) {
  cp_read_gate *g = calloc(1, sizeof *g);
  if (g == NULL) {
    return NULL;
  }
  g->holders = calloc(limits->total, sizeof *g->holders);
  if (g->holders == NULL ||
      cpi_random_bytes(&g->hash_key, sizeof g->hash_key) != 0) {
    free(g->holders);
    free(g);
    return NULL;
  }
  g->limits = *limits;
  g->ops = *ops;
  pthread_mutex_init(&g->mu, NULL);
  /* Deadlines are cpi_clock_monotonic_ns values, used as they are. */
  cpi_cond_init_monotonic(&g->cv);
  if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->holders);
    free(g);
    return NULL;
  }
  return g;
}

void cpi_read_gate_free(cp_read_gate *g) {
  if (g == NULL) {
    return;
  }
  pthread_mutex_lock(&g->mu);
  g->stopping = true;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  pthread_join(g->reaper, NULL);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  free(g->holders);
  free(g);
}
