/* The circuit breaker: a state machine under one mutex, an interceptor that
 * consults it around each call, and state-change callbacks delivered in
 * order outside the lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/resilience.h"
#include "resilience/breaker_internal.h"

struct cp_breaker {
  pthread_mutex_t mu;
  cp_breaker_options opts; /* scope_prefix and name point to our copies */
  char *scope_prefix;
  size_t scope_len;
  char *name;

  cp_breaker_state state;
  uint64_t generation; /* bumped by every transition */
  int failures;
  int successes;
  int probes;
  int64_t opened_at_ns;
  uint64_t rejected;
  uint64_t opened;

  /* Callbacks run in transition order: each transition takes a ticket and
   * its thread waits for its turn (notify_mu, turn_cv). */
  pthread_mutex_t notify_mu;
  pthread_cond_t turn_cv;
  uint64_t next_ticket;
  uint64_t now_serving;

  cp_breaker_series series;
};

enum { DEFAULT_FAILURES = 5, DEFAULT_SUCCESSES = 2 };

void cp_breaker_options_init(cp_breaker_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->failure_threshold = DEFAULT_FAILURES;
  opts->success_threshold = DEFAULT_SUCCESSES;
  opts->open_timeout_ms = 10000;
  opts->half_open_max_probes = 1;
  opts->failure_codes = CP_CODE_BIT(CP_STATUS_UNAVAILABLE) |
                        CP_CODE_BIT(CP_STATUS_DEADLINE_EXCEEDED) |
                        CP_CODE_BIT(CP_STATUS_INTERNAL) |
                        CP_CODE_BIT(CP_STATUS_UNKNOWN) |
                        CP_CODE_BIT(CP_STATUS_DATA_LOSS);
}

const char *cp_breaker_state_name(cp_breaker_state state) {
  switch (state) {
    case CP_BREAKER_CLOSED:
      return "Closed";
    case CP_BREAKER_OPEN:
      return "Open";
    case CP_BREAKER_HALF_OPEN:
      return "HalfOpen";
  }
  return "Unknown";
}

static char *dup_or_null(const char *s) {
  if (s == NULL || s[0] == '\0') {
    return NULL;
  }
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL) {
    memcpy(d, s, n);
  }
  return d;
}

int cp_breaker_create(cp_breaker **out, const cp_breaker_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_breaker_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_breaker_options_init(&o);
  }
  const uint32_t real_codes =
      ((UINT32_C(1) << CP_STATUS_CODE_COUNT) - 1) & ~CP_CODE_BIT(CP_STATUS_OK);
  if (o.failure_threshold < 1 || o.success_threshold < 1 ||
      o.open_timeout_ms < 0 || o.open_timeout_ms > INT64_MAX / 1000000 ||
      o.half_open_max_probes < 1 || (o.failure_codes & ~real_codes) != 0 ||
      (o.name != NULL && o.name[0] == '\0')) {
    return CP_EINVAL;
  }
  cp_breaker *b = calloc(1, sizeof *b);
  if (b == NULL) {
    return CP_ENOMEM;
  }
  b->scope_prefix = dup_or_null(o.scope_prefix);
  b->name = dup_or_null(o.name != NULL ? o.name : "default");
  if ((o.scope_prefix != NULL && o.scope_prefix[0] != '\0' &&
       b->scope_prefix == NULL) ||
      b->name == NULL ||
      cpi_breaker_series_init(&b->series, o.metrics, b->name) != 0) {
    free(b->scope_prefix);
    free(b->name);
    free(b);
    return CP_ENOMEM;
  }
  b->scope_len = b->scope_prefix != NULL ? strlen(b->scope_prefix) : 0;
  o.scope_prefix = b->scope_prefix;
  o.name = b->name;
  b->opts = o;
  b->state = CP_BREAKER_CLOSED;
  pthread_mutex_init(&b->mu, NULL);
  pthread_mutex_init(&b->notify_mu, NULL);
  pthread_cond_init(&b->turn_cv, NULL);
  cpi_breaker_series_state(&b->series, CP_BREAKER_CLOSED);
  *out = b;
  return 0;
}

void cp_breaker_destroy(cp_breaker *breaker) {
  if (breaker == NULL) {
    return;
  }
  pthread_cond_destroy(&breaker->turn_cv);
  pthread_mutex_destroy(&breaker->notify_mu);
  pthread_mutex_destroy(&breaker->mu);
  free(breaker->scope_prefix);
  free(breaker->name);
  free(breaker);
}

/* A transition to report once the lock is released. */
typedef struct change {
  bool happened;
  cp_breaker_state from;
  cp_breaker_state to;
  uint64_t ticket;
} change;

/* With mu held. */
static void transition(cp_breaker *b, cp_breaker_state to, int64_t now,
                       change *ch) {
  ch->happened = true;
  ch->from = b->state;
  ch->to = to;
  b->state = to;
  b->generation++;
  b->failures = 0;
  b->successes = 0;
  b->probes = 0;
  if (to == CP_BREAKER_OPEN) {
    b->opened_at_ns = now;
    b->opened++;
  }
  cpi_breaker_series_transition(&b->series, to);
  /* Tickets are taken under mu, so their order is the transitions'. */
  pthread_mutex_lock(&b->notify_mu);
  ch->ticket = b->next_ticket++;
  pthread_mutex_unlock(&b->notify_mu);
}

static void report(cp_breaker *b, const change *ch) {
  if (!ch->happened) {
    return;
  }
  pthread_mutex_lock(&b->notify_mu);
  while (b->now_serving != ch->ticket) {
    pthread_cond_wait(&b->turn_cv, &b->notify_mu);
  }
  pthread_mutex_unlock(&b->notify_mu);
  if (b->opts.on_state_change != NULL) {
    b->opts.on_state_change(b, ch->from, ch->to, b->opts.user);
  }
  pthread_mutex_lock(&b->notify_mu);
  b->now_serving++;
  pthread_cond_broadcast(&b->turn_cv);
  pthread_mutex_unlock(&b->notify_mu);
}

bool cp_breaker_allow(cp_breaker *breaker, cp_breaker_ticket *ticket) {
  cp_breaker *b = breaker;
  change ch = {0};
  bool ok = false;
  if (b == NULL || ticket == NULL) {
    return false;
  }
  int64_t now = cp_clock_now_ns(b->opts.clock);
  pthread_mutex_lock(&b->mu);
  if (b->state == CP_BREAKER_OPEN &&
      now - b->opened_at_ns >= b->opts.open_timeout_ms * 1000000) {
    transition(b, CP_BREAKER_HALF_OPEN, now, &ch);
  }
  ticket->generation = b->generation;
  ticket->probe = false;
  if (b->state == CP_BREAKER_CLOSED) {
    ok = true;
  } else if (b->state == CP_BREAKER_HALF_OPEN &&
             b->probes < b->opts.half_open_max_probes) {
    b->probes++;
    ticket->probe = true;
    ok = true;
  }
  if (!ok) {
    b->rejected++;
  }
  pthread_mutex_unlock(&b->mu);
  if (!ok) {
    cpi_breaker_series_rejected(&b->series);
  }
  report(b, &ch);
  return ok;
}

void cp_breaker_record(cp_breaker *breaker, const cp_breaker_ticket *ticket,
                       cp_status_code code) {
  cp_breaker *b = breaker;
  change ch = {0};
  if (b == NULL || ticket == NULL) {
    return;
  }
  int64_t now = cp_clock_now_ns(b->opts.clock);
  pthread_mutex_lock(&b->mu);
  /* A call admitted before the last transition says nothing about the
   * state now (and its probe slot is gone with that state). */
  if (ticket->generation == b->generation) {
    if (ticket->probe) {
      b->probes--;
    }
    bool failure = code != CP_STATUS_OK && code != CP_STATUS_CANCELLED &&
                   (int)code >= 0 && (int)code < CP_STATUS_CODE_COUNT &&
                   (b->opts.failure_codes & CP_CODE_BIT(code)) != 0;
    if (code == CP_STATUS_CANCELLED) {
      /* The caller gave up: neither evidence of sickness nor of health. */
    } else if (b->state == CP_BREAKER_CLOSED) {
      b->failures = failure ? b->failures + 1 : 0;
      if (b->failures >= b->opts.failure_threshold) {
        transition(b, CP_BREAKER_OPEN, now, &ch);
      }
    } else if (b->state == CP_BREAKER_HALF_OPEN) {
      if (failure) {
        transition(b, CP_BREAKER_OPEN, now, &ch);
      } else if (++b->successes >= b->opts.success_threshold) {
        transition(b, CP_BREAKER_CLOSED, now, &ch);
      }
    }
  }
  pthread_mutex_unlock(&b->mu);
  report(b, &ch);
}

void cp_breaker_get_stats(cp_breaker *breaker, cp_breaker_stats *out) {
  if (out == NULL) {
    return;
  }
  memset(out, 0, sizeof *out);
  if (breaker == NULL) {
    return;
  }
  pthread_mutex_lock(&breaker->mu);
  out->state = breaker->state;
  out->consecutive_failures = breaker->failures;
  out->half_open_successes = breaker->successes;
  out->probes_in_flight = breaker->probes;
  out->rejected = breaker->rejected;
  out->opened = breaker->opened;
  pthread_mutex_unlock(&breaker->mu);
}

cp_breaker_state cp_breaker_get_state(cp_breaker *breaker) {
  if (breaker == NULL) {
    return CP_BREAKER_CLOSED;
  }
  pthread_mutex_lock(&breaker->mu);
  cp_breaker_state s = breaker->state;
  pthread_mutex_unlock(&breaker->mu);
  return s;
}

static bool in_scope(const cp_breaker *b, const cp_invocation *inv) {
  return b->scope_prefix == NULL || strncmp(cp_invocation_method(inv)->path,
                                            b->scope_prefix, b->scope_len) == 0;
}

/* Only outcomes from the target count; local errors (closed client,
 * request too big) release the slot like a cancellation. */
static cp_status_code outcome_code(const cp_invocation *inv, int rc) {
  if (rc == 0) {
    return CP_STATUS_OK;
  }
  return rc == CP_ERPC ? cp_invocation_status(inv)->code : CP_STATUS_CANCELLED;
}

static int breaker_intercept(cp_invocation *inv, void *user) {
  cp_breaker *b = user;
  if (!in_scope(b, inv)) {
    return cp_invocation_proceed(inv);
  }
  cp_breaker_ticket ticket;
  if (!cp_breaker_allow(b, &ticket)) {
    return cp_invocation_fail(inv, CP_STATUS_UNAVAILABLE,
                              "circuit breaker is open");
  }
  int rc = cp_invocation_proceed(inv);
  cp_breaker_record(b, &ticket, outcome_code(inv, rc));
  return rc;
}

/* The asynchronous form: the ticket waits in the invocation for the
 * outcome. */
typedef struct async_probe {
  cp_breaker *breaker;
  cp_breaker_ticket ticket;
} async_probe;

static void breaker_after(cp_invocation *inv, int rc, void *arg) {
  async_probe *p = arg;
  cp_breaker_record(p->breaker, &p->ticket, outcome_code(inv, rc));
  cp_invocation_complete(inv, rc);
}

static void breaker_intercept_async(cp_invocation *inv, void *user) {
  cp_breaker *b = user;
  if (!in_scope(b, inv)) {
    cp_invocation_proceed_async(inv, NULL, NULL);
    return;
  }
  async_probe *p = cp_invocation_alloc(inv, sizeof *p);
  if (p == NULL) {
    cp_invocation_complete(
        inv, cp_invocation_fail(inv, CP_STATUS_INTERNAL, "out of memory"));
    return;
  }
  p->breaker = b;
  if (!cp_breaker_allow(b, &p->ticket)) {
    /* Fails fast: the target is never called. */
    cp_invocation_complete(inv, cp_invocation_fail(inv, CP_STATUS_UNAVAILABLE,
                                                   "circuit breaker is open"));
    return;
  }
  cp_invocation_proceed_async(inv, breaker_after, p);
}

int cp_breaker_attach(cp_breaker *breaker, cp_client *client) {
  if (breaker == NULL) {
    return CP_EINVAL;
  }
  return cp_client_add_interceptor_async(client, breaker_intercept,
                                         breaker_intercept_async, breaker);
}
