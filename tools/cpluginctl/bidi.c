/* The bidi preset's engine (bidi.h): one blocking thread per simulated
 * plugin, each with a routed and a direct Chat stream, ping-pong in
 * alternating slices. */
#include "bidi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cplugin/cplugin.h"
#include "cplugin/load/v1/load.cplugin.h"
#include "plugins.h"
#include "signals.h"

enum {
  START_DELAY_NS = 5000000, /* first message after the threads exist */
  POLL_NS = 100000000,      /* the main thread sees stop requests this fast */
  DRAIN_EXTRA_MS = 2000,    /* after the streams' deadline margin */
  DRAIN_INTERRUPTED_MS = 1000,
  WARMUP_EXTRA_MS = 5000
};

/* Counters of one kind, written by every thread. */
typedef struct live_kind {
  atomic_uint_least64_t sent;
  atomic_uint_least64_t status[CP_STATUS_CODE_COUNT];
  atomic_bool has_message[CP_STATUS_CODE_COUNT];
  char first_message[CP_STATUS_CODE_COUNT][CTL_MESSAGE_MAX];
  atomic_uint streams_ok;
  atomic_bool has_stream_error;
  char stream_error[CTL_MESSAGE_MAX];
  ctl_hist *all;
  ctl_hist *ok;
} live_kind;

typedef struct bidi_run bidi_run;

typedef struct worker {
  bidi_run *r;
  cp_client_stream *streams[CTL_MAX_KINDS];
  bool ended[CTL_MAX_KINDS]; /* the stream failed: no more messages */
  pthread_t thread;
  bool started;
} worker;

struct bidi_run {
  const ctl_plan *plan;
  size_t kinds;
  ctl_sim_plugin *plugins;
  worker *workers;
  live_kind live[CTL_MAX_KINDS];
  int64_t t0;
  int64_t end_ns;
  int64_t slice_ns;
  atomic_bool stop;
  atomic_uint finished; /* threads done, streams closed */
  ProtobufCBinaryData payload;
};

static void sleep_until(int64_t due) {
  int64_t left = due - ctl_now_ns();
  if (left > 0) {
    struct timespec ts = {(time_t)(left / 1000000000),
                          (long)(left % 1000000000)};
    nanosleep(&ts, NULL);
  }
}

/* The kind whose slice `t` falls in. */
static size_t kind_at(const bidi_run *r, int64_t t) {
  return (size_t)((t - r->t0) / r->slice_ns) % r->kinds;
}

/* Time spent in kind k's slices between t0 and `stop`, in seconds. */
static double time_in_kind(const bidi_run *r, size_t k, int64_t stop) {
  int64_t span = stop > r->t0 ? stop - r->t0 : 0;
  int64_t whole = span / r->slice_ns;
  int64_t rest = span % r->slice_ns;
  int64_t slices = whole / (int64_t)r->kinds +
                   ((size_t)(whole % (int64_t)r->kinds) > k ? 1 : 0);
  int64_t ns = slices * r->slice_ns;
  if ((size_t)(whole % (int64_t)r->kinds) == k) {
    ns += rest;
  }
  return (double)ns / 1e9;
}

static void copy_message(atomic_bool *has, char *dst, const char *msg) {
  if (!atomic_exchange(has, true)) {
    /* Read by collect() after every thread was joined. */
    size_t len = strnlen(msg, CTL_MESSAGE_MAX - 1);
    memcpy(dst, msg, len);
    dst[len] = '\0';
  }
}

static void count(live_kind *lk, cp_status_code code, const char *msg,
                  int64_t rtt_ns) {
  int c = (int)code;
  if (c < 0 || c >= CP_STATUS_CODE_COUNT) {
    c = CP_STATUS_UNKNOWN;
  }
  atomic_fetch_add_explicit(&lk->status[c], 1, memory_order_relaxed);
  ctl_hist_record(lk->all, rtt_ns);
  if (c == CP_STATUS_OK) {
    ctl_hist_record(lk->ok, rtt_ns);
  } else {
    copy_message(&lk->has_message[c], lk->first_message[c], msg);
  }
}

/* Reads the next echo. Returns OK with its round trip recorded, or the
 * code the stream ended with (the message then counts as failed). */
static cp_status_code await_echo(cp_client_stream *s, size_t expect_len,
                                 cp_status *st) {
  Cplugin__Load__V1__EchoResponse *resp = NULL;
  cp_status_clear(st);
  int rc = cp_cplugin__load__v1__load_service__chat__next(s, &resp, st);
  if (rc == 0) {
    bool same = resp->payload.len == expect_len;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (same) {
      return CP_STATUS_OK;
    }
    snprintf(st->message, sizeof st->message,
             "the echo's payload differs in length from the message's");
    return CP_STATUS_INTERNAL;
  }
  if (rc == CP_EEND) {
    snprintf(st->message, sizeof st->message,
             "the stream ended OK before the echo");
    return CP_STATUS_INTERNAL;
  }
  if (rc == CP_ERPC) {
    return st->code == CP_STATUS_OK ? CP_STATUS_UNKNOWN : st->code;
  }
  snprintf(st->message, sizeof st->message, "%s", cp_strerror(rc));
  return CP_STATUS_UNKNOWN;
}

/* One message and its echo. Returns false when the stream ended. */
static bool ping(bidi_run *r, worker *w, size_t k) {
  live_kind *lk = &r->live[k];
  Cplugin__Load__V1__EchoRequest req = CPLUGIN__LOAD__V1__ECHO_REQUEST__INIT;
  req.payload = r->payload;
  cp_status st;
  int64_t t = ctl_now_ns();
  atomic_fetch_add_explicit(&lk->sent, 1, memory_order_relaxed);
  int rc = cp_cplugin__load__v1__load_service__chat__send(w->streams[k], &req);
  /* A failed send means the call ended: the next read says how. */
  cp_status_code code = await_echo(w->streams[k], r->payload.len, &st);
  if (rc != 0 && code == CP_STATUS_OK) {
    code = CP_STATUS_UNKNOWN;
    snprintf(st.message, sizeof st.message, "send: %s", cp_strerror(rc));
  }
  count(lk, code, st.message, ctl_now_ns() - t);
  return code == CP_STATUS_OK;
}

/* Half-closes and reads the stream's end: OK counts in streams_ok. */
static void finish(bidi_run *r, worker *w, size_t k) {
  live_kind *lk = &r->live[k];
  cp_client_stream *s = w->streams[k];
  cp_status st;
  cp_status_clear(&st);
  int rc = w->ended[k] ? CP_ECLOSED : cp_client_stream_close_send(s);
  Cplugin__Load__V1__EchoResponse *resp = NULL;
  int n;
  while ((n = cp_cplugin__load__v1__load_service__chat__next(s, &resp, &st)) ==
         0) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    resp = NULL;
  }
  if (rc == 0 && n == CP_EEND && st.code == CP_STATUS_OK) {
    atomic_fetch_add(&lk->streams_ok, 1);
    return;
  }
  char why[CP_STATUS_MESSAGE_MAX + 64];
  snprintf(
      why, sizeof why, "%s: %s",
      n == CP_ERPC || n == CP_EEND ? cp_status_code_name(st.code) : "error",
      n == CP_ERPC || n == CP_EEND ? st.message : cp_strerror(n));
  copy_message(&lk->has_stream_error, lk->stream_error, why);
}

static void *work(void *arg) {
  worker *w = arg;
  bidi_run *r = w->r;
  sleep_until(r->t0);
  for (;;) {
    int64_t now = ctl_now_ns();
    if (now >= r->end_ns || atomic_load(&r->stop)) {
      break;
    }
    size_t k = kind_at(r, now);
    if (w->ended[k]) {
      /* This kind's stream is gone: sit its slice out. */
      int64_t next = r->t0 + ((now - r->t0) / r->slice_ns + 1) * r->slice_ns;
      sleep_until(next < r->end_ns ? next : r->end_ns);
      continue;
    }
    w->ended[k] = !ping(r, w, k);
  }
  for (size_t k = 0; k < r->kinds; k++) {
    finish(r, w, k);
  }
  atomic_fetch_add(&r->finished, 1);
  return NULL;
}

/* --- set-up ------------------------------------------------------------- */

static void pick(const bidi_run *r, uint32_t plugin, size_t k,
                 cp_client **client, const cp_metadata **md, size_t *n) {
  ctl_sim_plugin *p = &r->plugins[plugin];
  if (r->plan->kinds[k] == CTL_CALL_PROVIDER) {
    *client = p->provider;
    *md = p->provider_md;
    *n = 1;
  } else {
    *client = p->host;
    *md = p->host_md;
    *n = 3;
  }
}

/* Opens stream k of plugin i and sends it one unmeasured message. */
static int open_one(bidi_run *r, uint32_t i, size_t k, char *err,
                    size_t err_len) {
  const ctl_plan *p = r->plan;
  cp_client *client = NULL;
  const cp_metadata *md = NULL;
  size_t md_count = 0;
  pick(r, i, k, &client, &md, &md_count);
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms =
      (int64_t)(p->duration_s * 1000) + p->timeout_ms + WARMUP_EXTRA_MS;
  opts.metadata = md;
  opts.metadata_count = md_count;
  cp_status st;
  cp_status_clear(&st);
  int rc = cp_cplugin__load__v1__load_service__chat__open(
      client, &opts, &r->workers[i].streams[k], &st);
  const char *why;
  if (rc == 0) {
    Cplugin__Load__V1__EchoRequest req = CPLUGIN__LOAD__V1__ECHO_REQUEST__INIT;
    req.payload = r->payload;
    int send_rc = cp_cplugin__load__v1__load_service__chat__send(
        r->workers[i].streams[k], &req);
    /* A failed send means the call ended: the read says how. */
    cp_status_code code =
        await_echo(r->workers[i].streams[k], r->payload.len, &st);
    if (send_rc == 0 && code == CP_STATUS_OK) {
      return 0;
    }
    why =
        code == CP_STATUS_OK ? cp_strerror(send_rc) : cp_status_code_name(code);
  } else {
    why = rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc);
  }
  snprintf(err, err_len, "cannot open a %s Chat stream (plugin %u): %s%s%s",
           p->kind_names[k], i, why, st.message[0] != '\0' ? ": " : "",
           st.message);
  return -1;
}

static void init_live(bidi_run *r, ctl_result *out) {
  for (size_t k = 0; k < CTL_MAX_KINDS; k++) {
    live_kind *lk = &r->live[k];
    atomic_init(&lk->sent, 0);
    for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
      atomic_init(&lk->status[c], 0);
      atomic_init(&lk->has_message[c], false);
    }
    atomic_init(&lk->streams_ok, 0);
    atomic_init(&lk->has_stream_error, false);
    lk->all = out->phases[k].all;
    lk->ok = out->phases[k].ok;
  }
  atomic_init(&r->stop, false);
  atomic_init(&r->finished, 0);
}

static int alloc_phases(const ctl_plan *p, ctl_result *out) {
  out->phase_count = p->kind_count;
  for (size_t k = 0; k < p->kind_count; k++) {
    snprintf(out->phases[k].name, sizeof out->phases[k].name, "%s",
             p->kind_names[k]);
    out->phases[k].all = ctl_hist_create();
    out->phases[k].ok = ctl_hist_create();
    if (out->phases[k].all == NULL || out->phases[k].ok == NULL) {
      return -1;
    }
  }
  snprintf(out->total.name, sizeof out->total.name, "total");
  out->total.all = ctl_hist_create();
  out->total.ok = ctl_hist_create();
  return out->total.all == NULL || out->total.ok == NULL ? -1 : 0;
}

/* --- the run ------------------------------------------------------------ */

/* Waits for the end of the run or a stop request; returns true for the
 * latter, with *stop_ns when it came. */
static bool wait_run(bidi_run *r, int64_t *stop_ns) {
  for (;;) {
    int64_t left = r->end_ns - ctl_now_ns();
    if (left <= 0) {
      *stop_ns = r->end_ns;
      return false;
    }
    if (ctl_stop_wait(left < POLL_NS ? left : POLL_NS)) {
      *stop_ns = ctl_now_ns();
      atomic_store(&r->stop, true);
      return true;
    }
  }
}

/* Waits for the threads, cancelling the streams of those still busy after
 * the margin, then joins them. */
static void drain(bidi_run *r, uint32_t started, bool interrupted) {
  int64_t limit_ms = interrupted
                         ? DRAIN_INTERRUPTED_MS
                         : (int64_t)r->plan->timeout_ms + DRAIN_EXTRA_MS;
  int64_t deadline = ctl_now_ns() + limit_ms * 1000000;
  while (atomic_load(&r->finished) < started && ctl_now_ns() < deadline) {
    sleep_until(ctl_now_ns() + 2000000);
  }
  if (atomic_load(&r->finished) < started) {
    for (uint32_t i = 0; i < started; i++) {
      for (size_t k = 0; k < r->kinds; k++) {
        cp_client_stream_cancel(r->workers[i].streams[k]);
      }
    }
  }
  for (uint32_t i = 0; i < started; i++) {
    pthread_join(r->workers[i].thread, NULL);
  }
}

static void collect(bidi_run *r, ctl_result *out, int64_t stop_ns) {
  for (size_t k = 0; k < r->kinds; k++) {
    live_kind *lk = &r->live[k];
    ctl_phase *ph = &out->phases[k];
    ph->sent = atomic_load(&lk->sent);
    ph->scheduled = ph->sent;
    for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
      ph->status[c] = atomic_load(&lk->status[c]);
      ph->completed += ph->status[c];
      memcpy(ph->first_message[c], lk->first_message[c], CTL_MESSAGE_MAX);
    }
    ph->ok_in_window = ph->status[CP_STATUS_OK];
    ph->planned_s = time_in_kind(r, k, r->end_ns);
    ph->elapsed_s = time_in_kind(r, k, stop_ns);
    ph->streams = r->plan->plugins;
    ph->streams_ok = atomic_load(&lk->streams_ok);
    memcpy(ph->stream_error, lk->stream_error, CTL_MESSAGE_MAX);
    ctl_phase_add(&out->total, ph);
  }
  out->total.planned_s = r->plan->duration_s;
  out->total.elapsed_s = (double)(stop_ns - r->t0) / 1e9;
  out->wall_s = out->total.elapsed_s;
}

static void destroy_streams(bidi_run *r) {
  for (uint32_t i = 0; r->workers != NULL && i < r->plan->plugins; i++) {
    for (size_t k = 0; k < r->kinds; k++) {
      cp_client_stream_destroy(r->workers[i].streams[k]);
    }
  }
}

/* Opens every stream, then starts the threads. Returns how many threads
 * started, with -1 in *rc and a reason in `err` on failure. */
static uint32_t start(bidi_run *r, int *rc, char *err, size_t err_len) {
  const ctl_plan *p = r->plan;
  for (uint32_t i = 0; i < p->plugins && *rc == 0; i++) {
    r->workers[i].r = r;
    for (size_t k = 0; k < r->kinds && *rc == 0; k++) {
      *rc = open_one(r, i, k, err, err_len);
    }
  }
  if (*rc != 0) {
    return 0;
  }
  r->t0 = ctl_now_ns() + START_DELAY_NS;
  r->end_ns = r->t0 + (int64_t)(p->duration_s * 1e9);
  uint32_t started = 0;
  for (; started < p->plugins; started++) {
    worker *w = &r->workers[started];
    if (pthread_create(&w->thread, NULL, work, w) != 0) {
      snprintf(err, err_len, "cannot start a stream thread");
      *rc = -1;
      atomic_store(&r->stop, true);
      break;
    }
  }
  return started;
}

int ctl_run_bidi(const ctl_plan *plan, ctl_result *out, char *err,
                 size_t err_len) {
  memset(out, 0, sizeof *out);
  bidi_run *r = calloc(1, sizeof *r);
  uint8_t *payload = calloc(1, plan->payload_bytes + 1);
  worker *workers = calloc(plan->plugins, sizeof *workers);
  int rc = r == NULL || payload == NULL || workers == NULL ||
                   alloc_phases(plan, out) != 0
               ? -1
               : 0;
  if (rc != 0) {
    snprintf(err, err_len, "out of memory");
    free(r);
    free(payload);
    free(workers);
    return -1;
  }
  memset(payload, 'x', plan->payload_bytes);
  r->plan = plan;
  r->kinds = plan->kind_count;
  r->workers = workers;
  r->payload.data = payload;
  r->payload.len = plan->payload_bytes;
  int64_t slice = (int64_t)plan->slice_ms * 1000000;
  r->slice_ns = slice > 0 ? slice : 1;
  init_live(r, out);
  ctl_plugins_options po = {.host_target = plan->host_target,
                            .provider_target = plan->provider_target,
                            .service_type = plan->service_type,
                            .id_prefix = plan->id_prefix,
                            .count = plan->plugins,
                            .host_tls_root = plan->host_tls_root};
  rc = ctl_plugins_create(&r->plugins, &po, err, err_len);
  if (rc == 0) {
    uint32_t started = start(r, &rc, err, err_len);
    int64_t stop_ns = 0;
    bool stopped = rc == 0 && wait_run(r, &stop_ns);
    drain(r, started, stopped || rc != 0);
    out->interrupted = stopped || ctl_stop_latched();
    if (rc == 0) {
      collect(r, out, stop_ns);
    }
  }
  destroy_streams(r);
  ctl_plugins_destroy(r->plugins, plan->plugins);
  free(workers);
  free(payload);
  free(r);
  return rc;
}
