/* A local copy of an etcd prefix, fed by a watch (mirror.h). */
#include "etcd/mirror.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "etcd/etcd_call.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"

#define RETRY_MAX_MS 5000

struct cpi_etcd_mirror {
  cp_client *etcd;
  uint8_t *prefix;
  size_t prefix_len;
  uint8_t *end; /* the prefix with its last byte + 1: the range's end */
  int64_t retry_ms;
  int64_t call_timeout_ms;
  uint32_t page_keys;
  cpi_etcd_sink sink;

  int64_t probe_ms;
  int64_t probe_timeout_ms;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;            /* under mu */
  cp_client_stream *stream; /* under mu: the open watch, for stop and probe */
  bool probing;             /* under mu: the prober is sending on `stream` */
  pthread_t thread;
  pthread_t prober;

  atomic_bool watching;
  atomic_uint_fast64_t listings;
  atomic_uint_fast64_t events;
  atomic_uint_fast64_t failures;
  atomic_uint_fast64_t silences;
  _Atomic int64_t revision;
  _Atomic int64_t heard_ns;
};

void cpi_etcd_mirror_options_init(cpi_etcd_mirror_options *o) {
  memset(o, 0, sizeof *o);
  o->retry_ms = 100;
  o->call_timeout_ms = 2000;
  o->page_keys = 500;
  o->probe_ms = 250;
  o->probe_timeout_ms = 1000;
}

static bool stopping(cpi_etcd_mirror *m) {
  pthread_mutex_lock(&m->mu);
  bool s = m->stopping;
  pthread_mutex_unlock(&m->mu);
  return s;
}

/* Lists the prefix page by page at one revision, into the sink. Returns 0
 * and the revision, or an error (the listing is then not ended). */
static int list(cpi_etcd_mirror *m, int64_t *revision) {
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = m->call_timeout_ms;
  Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
  req.range_end = cpi_etcd_bytes(m->end, m->prefix_len);
  req.limit = m->page_keys;
  uint8_t *next = NULL; /* the key after the last listed */
  size_t next_len = 0;
  req.key = cpi_etcd_bytes(m->prefix, m->prefix_len);
  int64_t at = 0;
  bool begun = false;
  for (;;) {
    req.revision = at; /* 0 for the first page: the current one */
    Etcdserverpb__RangeResponse *resp = NULL;
    cp_status st;
    int rc = cp_etcdserverpb__kv__range__call(m->etcd, &req, &resp, &o, &st);
    if (rc == 0 && (resp->header == NULL || stopping(m))) {
      rc = resp->header == NULL ? CP_EDECODE : CP_ECANCELLED;
    }
    if (rc != 0) {
      cpi_etcd_free(resp);
      free(next);
      return rc;
    }
    atomic_store(&m->heard_ns, cpi_clock_monotonic_ns());
    if (at == 0) {
      at = resp->header->revision;
    }
    if (!begun) {
      m->sink.resync_begin(m->sink.user);
      begun = true;
    }
    for (size_t i = 0; i < resp->n_kvs; i++) {
      m->sink.put(&resp->kvs[i]->key, &resp->kvs[i]->value,
                  resp->kvs[i]->mod_revision, m->sink.user);
    }
    bool more = resp->more && resp->n_kvs > 0;
    if (more) {
      /* The next page starts just after the last key: key + "\0". */
      const ProtobufCBinaryData *last = &resp->kvs[resp->n_kvs - 1]->key;
      uint8_t *k = realloc(next, last->len + 1);
      if (k == NULL) {
        cpi_etcd_free(resp);
        free(next);
        return CP_ENOMEM;
      }
      memcpy(k, last->data, last->len);
      k[last->len] = 0;
      next = k;
      next_len = last->len + 1;
      req.key = cpi_etcd_bytes(next, next_len);
    }
    cpi_etcd_free(resp);
    if (!more) {
      break;
    }
  }
  free(next);
  m->sink.resync_end(at, m->sink.user);
  atomic_store(&m->revision, at);
  atomic_fetch_add(&m->listings, 1);
  *revision = at;
  return 0;
}

static void apply_events(cpi_etcd_mirror *m,
                         const Etcdserverpb__WatchResponse *r) {
  for (size_t i = 0; i < r->n_events; i++) {
    const Mvccpb__Event *ev = r->events[i];
    if (ev->kv == NULL) {
      continue;
    }
    if (ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
      m->sink.remove(&ev->kv->key, m->sink.user);
    } else {
      m->sink.put(&ev->kv->key, &ev->kv->value, ev->kv->mod_revision,
                  m->sink.user);
    }
    atomic_store(&m->revision, ev->kv->mod_revision);
    atomic_fetch_add(&m->events, 1);
  }
}

/* Unpublishes the watch `w`, ends it, waits until the prober is not
 * sending on it, and frees it. */
static void retire_watch(cpi_etcd_mirror *m, cp_client_stream *w) {
  pthread_mutex_lock(&m->mu);
  m->stream = NULL;
  cp_client_stream_cancel(w); /* ends a probe's send too */
  while (m->probing) {
    pthread_cond_wait(&m->cv, &m->mu);
  }
  pthread_mutex_unlock(&m->mu);
  cp_client_stream_destroy(w);
}

/* Opens the watch and publishes it for stop; NULL after an error or when
 * stopping. */
static cp_client_stream *open_watch(cpi_etcd_mirror *m, int64_t from) {
  cp_call_options o;
  cp_call_options_init(&o); /* no deadline: it lasts until it breaks */
  cp_client_stream *w = NULL;
  cp_status st;
  if (cp_etcdserverpb__watch__watch__open(m->etcd, &o, &w, &st) != 0) {
    return NULL;
  }
  Etcdserverpb__WatchCreateRequest create =
      ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
  create.key = cpi_etcd_bytes(m->prefix, m->prefix_len);
  create.range_end = cpi_etcd_bytes(m->end, m->prefix_len);
  create.start_revision = from;
  Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
  req.request_union_case =
      ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
  req.create_request = &create;
  pthread_mutex_lock(&m->mu);
  bool stop = m->stopping;
  if (!stop) {
    m->stream = w;
    atomic_store(&m->heard_ns, cpi_clock_monotonic_ns());
  }
  pthread_mutex_unlock(&m->mu);
  if (stop) {
    cp_client_stream_destroy(w);
    return NULL;
  }
  if (cp_etcdserverpb__watch__watch__send(w, &req) != 0) {
    retire_watch(m, w);
    return NULL;
  }
  return w;
}

/* Follows the prefix from revision `from` until the watch breaks (an
 * error) or was compacted away (0: list again at once). */
static int watch(cpi_etcd_mirror *m, int64_t from) {
  cp_client_stream *w = open_watch(m, from);
  if (w == NULL) {
    return CP_ERPC;
  }
  int rc = 0;
  for (;;) {
    Etcdserverpb__WatchResponse *r = NULL;
    cp_status st;
    rc = cp_etcdserverpb__watch__watch__next(w, &r, &st);
    if (rc != 0) {
      break;
    }
    atomic_store(&m->heard_ns, cpi_clock_monotonic_ns());
    if (r->canceled || r->compact_revision != 0) {
      /* Compacted (or refused): nothing more comes on this watch. */
      rc = r->compact_revision != 0 ? 0 : CP_ERPC;
      cpi_etcd_free(r);
      break;
    }
    if (r->created) {
      atomic_store(&m->watching, true);
    }
    apply_events(m, r);
    cpi_etcd_free(r);
  }
  atomic_store(&m->watching, false);
  retire_watch(m, w);
  return rc == CP_EEND ? CP_ERPC : rc;
}

/* Waits `ms` or until stop; returns true when stopping. */
static bool nap(cpi_etcd_mirror *m, int64_t ms) {
  struct timespec until = cpi_monotonic_after_ms(ms);
  pthread_mutex_lock(&m->mu);
  while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0) {
  }
  bool s = m->stopping;
  pthread_mutex_unlock(&m->mu);
  return s;
}

/* One probe of the open watch: a progress request, or its cancel when
 * etcd has said nothing for probe_timeout_ms. */
static void probe(cpi_etcd_mirror *m) {
  static const Etcdserverpb__WatchProgressRequest progress =
      ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
  Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
  req.request_union_case =
      ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
  req.progress_request = (Etcdserverpb__WatchProgressRequest *)&progress;
  pthread_mutex_lock(&m->mu);
  cp_client_stream *w = m->stopping ? NULL : m->stream;
  if (w == NULL) {
    pthread_mutex_unlock(&m->mu);
    return;
  }
  int64_t silent_ns = cpi_clock_monotonic_ns() - atomic_load(&m->heard_ns);
  if (silent_ns > cpi_ms_to_ns(m->probe_timeout_ms)) {
    atomic_fetch_add(&m->silences, 1);
    cp_client_stream_cancel(w); /* the reader sees the watch end */
    pthread_mutex_unlock(&m->mu);
    return;
  }
  m->probing = true;
  pthread_mutex_unlock(&m->mu);
  /* Unlocked: a send can wait on flow control, and stop must be able to
   * cancel it. The reader waits for `probing` before destroying w. */
  (void)cp_etcdserverpb__watch__watch__send(w, &req);
  pthread_mutex_lock(&m->mu);
  m->probing = false;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

static void *prober_thread(void *arg) {
  cpi_etcd_mirror *m = arg;
  while (!nap(m, m->probe_ms)) {
    probe(m);
  }
  return NULL;
}

static void *mirror_thread(void *arg) {
  cpi_etcd_mirror *m = arg;
  int64_t wait_ms = m->retry_ms;
  while (!stopping(m)) {
    int64_t rev = 0;
    int rc = list(m, &rev);
    if (rc == 0) {
      wait_ms = m->retry_ms; /* etcd answered: start over from the floor */
      rc = watch(m, rev + 1);
    }
    if (rc == 0 || stopping(m)) {
      continue;
    }
    atomic_fetch_add(&m->failures, 1);
    if (nap(m, wait_ms)) {
      break;
    }
    wait_ms = wait_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait_ms * 2;
  }
  return NULL;
}

int cpi_etcd_mirror_start(cpi_etcd_mirror **out,
                          const cpi_etcd_mirror_options *o,
                          const cpi_etcd_sink *sink) {
  *out = NULL;
  size_t n = o != NULL && o->prefix != NULL ? strlen(o->prefix) : 0;
  if (o == NULL || o->etcd == NULL || n == 0 ||
      (uint8_t)o->prefix[n - 1] == 0xff || o->retry_ms < 1 ||
      o->call_timeout_ms < 1 || o->page_keys < 1 || o->probe_ms < 1 ||
      o->probe_timeout_ms <= o->probe_ms || sink == NULL ||
      sink->resync_begin == NULL || sink->put == NULL || sink->remove == NULL ||
      sink->resync_end == NULL) {
    return CP_EINVAL;
  }
  cpi_etcd_mirror *m = calloc(1, sizeof *m);
  uint8_t *prefix = malloc(n);
  uint8_t *end = malloc(n);
  if (m == NULL || prefix == NULL || end == NULL) {
    free(m);
    free(prefix);
    free(end);
    return CP_ENOMEM;
  }
  memcpy(prefix, o->prefix, n);
  memcpy(end, o->prefix, n);
  end[n - 1]++;
  m->etcd = o->etcd;
  m->prefix = prefix;
  m->end = end;
  m->prefix_len = n;
  m->retry_ms = o->retry_ms;
  m->call_timeout_ms = o->call_timeout_ms;
  m->page_keys = o->page_keys;
  m->probe_ms = o->probe_ms;
  m->probe_timeout_ms = o->probe_timeout_ms;
  m->sink = *sink;
  pthread_mutex_init(&m->mu, NULL);
  cpi_cond_init_monotonic(&m->cv);
  if (pthread_create(&m->thread, NULL, mirror_thread, m) != 0) {
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(prefix);
    free(end);
    free(m);
    return CP_ESYS;
  }
  if (pthread_create(&m->prober, NULL, prober_thread, m) != 0) {
    m->prober = m->thread; /* joined twice otherwise: stop joins once */
    cpi_etcd_mirror_stop(m);
    return CP_ESYS;
  }
  *out = m;
  return 0;
}

void cpi_etcd_mirror_stop(cpi_etcd_mirror *m) {
  if (m == NULL) {
    return;
  }
  pthread_mutex_lock(&m->mu);
  m->stopping = true;
  if (m->stream != NULL) {
    cp_client_stream_cancel(m->stream);
  }
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  pthread_join(m->thread, NULL);
  if (!pthread_equal(m->prober, m->thread)) {
    pthread_join(m->prober, NULL);
  }
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->mu);
  free(m->prefix);
  free(m->end);
  free(m);
}

void cpi_etcd_mirror_get_stats(cpi_etcd_mirror *m, cpi_etcd_mirror_stats *out) {
  out->watching = atomic_load(&m->watching);
  out->listings = atomic_load(&m->listings);
  out->events = atomic_load(&m->events);
  out->failures = atomic_load(&m->failures);
  out->silences = atomic_load(&m->silences);
  out->revision = atomic_load(&m->revision);
  out->heard_ns = atomic_load(&m->heard_ns);
}
