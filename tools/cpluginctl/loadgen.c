/* The load generator's engine (loadgen.h). The scheduling thread (the
 * caller's) issues every open-loop and volley call; completions arrive on
 * the clients' completion threads (one per simulated connection), which
 * record them in lock-free counters and histograms and, in a closed loop,
 * issue the next call themselves. */
#include "loadgen.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cplugin/cplugin.h"
#include "cplugin/load/v1/load.cplugin.h"
#include "plugin/v1/handshake.cplugin.h"
#include "plugins.h"
#include "signals.h"

enum {
  START_DELAY_NS = 5000000,   /* first slot after set-up */
  SLEEP_SLICE_NS = 100000000, /* stop requests are seen this fast */
  STOP_CHECK_EVERY = 256,     /* slots between checks when behind */
  DRAIN_EXTRA_MS = 2000,      /* after the per-call deadline */
  DRAIN_INTERRUPTED_MS = 1000
};

typedef struct live_phase {
  atomic_uint_least64_t scheduled;
  atomic_uint_least64_t sent;
  atomic_uint_least64_t dropped;
  atomic_uint_least64_t send_errors;
  atomic_uint_least64_t completed;
  atomic_uint_least64_t ok_in_window;
  atomic_uint_least64_t status[CP_STATUS_CODE_COUNT];
  /* Set by the one callback that copies its code's first message. */
  atomic_bool has_message[CP_STATUS_CODE_COUNT];
  char first_message[CP_STATUS_CODE_COUNT][CTL_MESSAGE_MAX];
  atomic_int_least64_t last_send_ns;
  int64_t start_ns;
  ctl_hist *all;
  ctl_hist *ok;
} live_phase;

typedef struct run {
  const ctl_plan *plan;
  ctl_sim_plugin *plugins;
  live_phase phases[CTL_MAX_PHASES];
  size_t phase_count;
  atomic_int_least64_t inflight;
  atomic_uint_least64_t slots; /* closed loop: calls issued */
  atomic_bool ending;          /* closed loop: issue no more */
  atomic_bool cap_hit;
  atomic_int_least64_t last_done_ns;
  int64_t t0;
  int64_t end_ns; /* closed loop: when issuing stopped */
  ProtobufCBinaryData payload;
  /* CTL_CALL_HANDSHAKE: the request every such call sends. */
  Connectplugin__V1__HandshakeRequest handshake;
} run;

typedef struct call_ctx {
  run *r;
  int64_t sched_ns;
  uint32_t plugin;
  uint16_t phase;
  uint16_t kind;
} call_ctx;

/* --- calls ------------------------------------------------------------- */

static void store_max(atomic_int_least64_t *m, int64_t v) {
  int64_t cur = atomic_load_explicit(m, memory_order_relaxed);
  while (v > cur &&
         !atomic_compare_exchange_weak_explicit(
             m, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

static void bump(atomic_uint_least64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void issue(run *r, uint32_t plugin, size_t phase, size_t kind,
                  int64_t sched_ns);

static void on_done(const cp_status *status, ProtobufCMessage *resp,
                    void *user) {
  call_ctx *c = user;
  run *r = c->r;
  int64_t now = ctl_now_ns();
  live_phase *ph = &r->phases[c->phase];
  int code = (int)status->code;
  if (code < 0 || code >= CP_STATUS_CODE_COUNT) {
    code = CP_STATUS_UNKNOWN;
  }
  bump(&ph->status[code]);
  if (code != CP_STATUS_OK && !atomic_exchange(&ph->has_message[code], true)) {
    /* Read by collect() after every callback returned. */
    size_t len = strnlen(status->message, CTL_MESSAGE_MAX - 1);
    memcpy(ph->first_message[code], status->message, len);
    ph->first_message[code][len] = '\0';
  }
  bump(&ph->completed);
  ctl_hist_record(ph->all, now - c->sched_ns);
  if (code == CP_STATUS_OK) {
    ctl_hist_record(ph->ok, now - c->sched_ns);
    if (!atomic_load(&r->ending)) {
      bump(&ph->ok_in_window);
    }
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  store_max(&r->last_done_ns, now);
  uint32_t plugin = c->plugin;
  size_t phase = c->phase;
  size_t kind = c->kind;
  free(c);
  /* Out of flight before the next call is counted in. */
  atomic_fetch_sub(&r->inflight, 1);
  if (r->plan->mode == CTL_MODE_CLOSED && !atomic_load(&r->ending)) {
    issue(r, plugin, phase, kind, now);
  }
}

static void pick(const run *r, uint32_t plugin, size_t kind, cp_client **client,
                 const cp_metadata **md, size_t *n) {
  ctl_sim_plugin *p = &r->plugins[plugin];
  switch (r->plan->kinds[kind]) {
    case CTL_CALL_ROUTED:
      *client = p->host;
      *md = p->host_md;
      *n = 3;
      break;
    case CTL_CALL_PROVIDER:
      *client = p->provider;
      *md = p->provider_md;
      *n = 1;
      break;
    case CTL_CALL_HANDSHAKE:
      *client = p->host;
      *md = &p->host_md[1]; /* x-plugin-runtime-id alone */
      *n = 1;
      break;
    case CTL_CALL_HOST:
    default:
      *client = p->host;
      *md = p->host_md;
      *n = 2;
      break;
  }
}

static void issue(run *r, uint32_t plugin, size_t phase, size_t kind,
                  int64_t sched_ns) {
  live_phase *ph = &r->phases[phase];
  if (r->plan->mode == CTL_MODE_CLOSED) {
    if (atomic_fetch_add(&r->slots, 1) >= r->plan->max_requests) {
      atomic_store(&r->cap_hit, true);
      return;
    }
  }
  bump(&ph->scheduled);
  if (atomic_load(&r->inflight) >= (int64_t)r->plan->max_inflight) {
    bump(&ph->dropped);
    return;
  }
  call_ctx *c = malloc(sizeof *c);
  if (c == NULL) {
    bump(&ph->send_errors);
    return;
  }
  *c = (call_ctx){r, sched_ns, plugin, (uint16_t)phase, (uint16_t)kind};
  cp_client *client = NULL;
  const cp_metadata *md = NULL;
  size_t md_count = 0;
  pick(r, plugin, kind, &client, &md, &md_count);
  Cplugin__Load__V1__EchoRequest req = CPLUGIN__LOAD__V1__ECHO_REQUEST__INIT;
  req.payload = r->payload;
  const cp_method_desc *method =
      &cp_cplugin__load__v1__load_service__echo__method;
  const ProtobufCMessage *msg = &req.base;
  if (r->plan->kinds[kind] == CTL_CALL_HANDSHAKE) {
    method = &cp_connectplugin__v1__handshake_service__handshake__method;
    msg = &r->handshake.base;
  }
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = r->plan->timeout_ms;
  opts.metadata = md;
  opts.metadata_count = md_count;
  atomic_fetch_add(&r->inflight, 1);
  int rc = cp_client_unary_async(client, method, msg, &opts, on_done, c);
  if (rc != 0) {
    atomic_fetch_sub(&r->inflight, 1);
    free(c);
    if (rc == CP_ECLOSED && atomic_load(&r->ending)) {
      /* A closed loop's last completions racing the end: not a slot. */
      atomic_fetch_sub(&ph->scheduled, 1);
    } else {
      bump(&ph->send_errors);
    }
    return;
  }
  /* `c` may be freed already: the call can complete on another thread. */
  bump(&ph->sent);
  store_max(&ph->last_send_ns, ctl_now_ns());
}

/* --- the three modes ---------------------------------------------------- */

/* Sleeps until `due` (CLOCK_MONOTONIC ns). Returns true when a stop was
 * requested. `behind` counts slots sent late without looking for one. */
static bool wait_until(int64_t due, unsigned *behind) {
  int64_t now = ctl_now_ns();
  if (now >= due) {
    if (++*behind % STOP_CHECK_EVERY == 0) {
      return ctl_stop_wait(0);
    }
    return false;
  }
  while (now < due) {
    int64_t left = due - now;
    if (ctl_stop_wait(left < SLEEP_SLICE_NS ? left : SLEEP_SLICE_NS)) {
      return true;
    }
    now = ctl_now_ns();
  }
  return false;
}

static size_t kinds_of(const ctl_plan *p) {
  return p->kind_count > 0 ? p->kind_count : 1;
}

static bool run_open(run *r) {
  const ctl_plan *p = r->plan;
  size_t kinds = kinds_of(p);
  int64_t seg_start = r->t0;
  uint64_t g = 0;
  unsigned behind = 0;
  for (size_t s = 0; s < p->segment_count; s++) {
    const ctl_segment *seg = &p->segments[s];
    for (size_t k = 0; k < kinds; k++) {
      r->phases[s * kinds + k].start_ns = seg_start;
    }
    uint64_t n = ctl_segment_slots(seg);
    for (uint64_t k = 0; k < n; k++, g++) {
      int64_t due = seg_start + ctl_segment_offset_ns(seg, k);
      if (wait_until(due, &behind)) {
        return true;
      }
      if (g >= p->max_requests) {
        atomic_store(&r->cap_hit, true);
        return false;
      }
      size_t kind = g % kinds;
      uint32_t plugin = (uint32_t)((g / kinds) % p->plugins);
      issue(r, plugin, s * kinds + kind, kind, due);
    }
    seg_start += (int64_t)llround(seg->duration_s * 1e9);
  }
  return false;
}

static bool run_volley(run *r) {
  const ctl_plan *p = r->plan;
  size_t kinds = kinds_of(p);
  for (size_t k = 0; k < kinds; k++) {
    r->phases[k].start_ns = r->t0;
  }
  unsigned behind = 0;
  if (wait_until(r->t0, &behind)) {
    return true;
  }
  for (uint64_t i = 0; i < p->volley; i++) {
    if (i >= p->max_requests) {
      atomic_store(&r->cap_hit, true);
      break;
    }
    if (i % STOP_CHECK_EVERY == STOP_CHECK_EVERY - 1 && ctl_stop_wait(0)) {
      return true;
    }
    size_t kind = i % kinds;
    issue(r, (uint32_t)((i / kinds) % p->plugins), kind, kind, r->t0);
  }
  return false;
}

static bool run_closed(run *r) {
  const ctl_plan *p = r->plan;
  size_t kinds = kinds_of(p);
  for (size_t k = 0; k < kinds; k++) {
    r->phases[k].start_ns = r->t0;
  }
  int64_t end = r->t0 + (int64_t)llround(p->duration_s * 1e9);
  unsigned behind = 0;
  bool stopped = wait_until(r->t0, &behind);
  for (uint32_t w = 0; !stopped && w < p->concurrency; w++) {
    size_t kind = w % kinds;
    issue(r, w % p->plugins, kind, kind, ctl_now_ns());
  }
  if (!stopped) {
    stopped = wait_until(end, &behind);
  }
  atomic_store(&r->ending, true);
  r->end_ns = ctl_now_ns();
  return stopped;
}

/* Waits for the calls in flight, up to the per-call deadline and a margin. */
static void drain(run *r, bool interrupted) {
  int64_t limit_ms = interrupted
                         ? DRAIN_INTERRUPTED_MS
                         : (int64_t)r->plan->timeout_ms + DRAIN_EXTRA_MS;
  int64_t deadline = ctl_now_ns() + limit_ms * 1000000;
  while (atomic_load(&r->inflight) > 0 && ctl_now_ns() < deadline) {
    struct timespec ts = {0, 2000000L};
    nanosleep(&ts, NULL);
  }
}

/* --- set-up and results ------------------------------------------------- */

static void name_phases(const ctl_plan *p, ctl_result *out) {
  size_t kinds = kinds_of(p);
  size_t segs = p->mode == CTL_MODE_OPEN ? p->segment_count : 1;
  out->phase_count = segs * kinds;
  for (size_t s = 0; s < segs; s++) {
    const char *seg_name = p->segments[s].name;
    if (seg_name == NULL) {
      seg_name = p->mode == CTL_MODE_CLOSED   ? "closed"
                 : p->mode == CTL_MODE_VOLLEY ? "volley"
                                              : "open";
    }
    for (size_t k = 0; k < kinds; k++) {
      ctl_phase *ph = &out->phases[s * kinds + k];
      const char *kind_name = p->kind_names[k];
      if (kinds == 1 || kind_name == NULL) {
        snprintf(ph->name, sizeof ph->name, "%s", seg_name);
      } else if (segs == 1) {
        snprintf(ph->name, sizeof ph->name, "%s", kind_name);
      } else {
        snprintf(ph->name, sizeof ph->name, "%s/%s", seg_name, kind_name);
      }
      if (p->mode == CTL_MODE_OPEN) {
        const ctl_segment *seg = &p->segments[s];
        ph->target_rate = (seg->rate_start + seg->rate_end) / 2 / (double)kinds;
        ph->planned_s = seg->duration_s;
      } else if (p->mode == CTL_MODE_CLOSED) {
        ph->planned_s = p->duration_s;
      }
    }
  }
  snprintf(out->total.name, sizeof out->total.name, "total");
}

static int alloc_hists(ctl_result *out, run *r) {
  for (size_t i = 0; i < out->phase_count; i++) {
    out->phases[i].all = ctl_hist_create();
    out->phases[i].ok = ctl_hist_create();
    r->phases[i].all = out->phases[i].all;
    r->phases[i].ok = out->phases[i].ok;
    if (r->phases[i].all == NULL || r->phases[i].ok == NULL) {
      return -1;
    }
  }
  out->total.all = ctl_hist_create();
  out->total.ok = ctl_hist_create();
  return out->total.all == NULL || out->total.ok == NULL ? -1 : 0;
}

static void init_live(run *r) {
  for (size_t i = 0; i < CTL_MAX_PHASES; i++) {
    live_phase *ph = &r->phases[i];
    atomic_init(&ph->scheduled, 0);
    atomic_init(&ph->sent, 0);
    atomic_init(&ph->dropped, 0);
    atomic_init(&ph->send_errors, 0);
    atomic_init(&ph->completed, 0);
    atomic_init(&ph->ok_in_window, 0);
    for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
      atomic_init(&ph->status[c], 0);
      atomic_init(&ph->has_message[c], false);
    }
    atomic_init(&ph->last_send_ns, 0);
  }
  atomic_init(&r->inflight, 0);
  atomic_init(&r->slots, 0);
  atomic_init(&r->ending, false);
  atomic_init(&r->cap_hit, false);
  atomic_init(&r->last_done_ns, 0);
}

void ctl_phase_add(ctl_phase *total, const ctl_phase *ph) {
  total->scheduled += ph->scheduled;
  total->sent += ph->sent;
  total->dropped_inflight += ph->dropped_inflight;
  total->send_errors += ph->send_errors;
  total->completed += ph->completed;
  total->ok_in_window += ph->ok_in_window;
  total->streams += ph->streams;
  total->streams_ok += ph->streams_ok;
  if (total->stream_error[0] == '\0') {
    memcpy(total->stream_error, ph->stream_error, CTL_MESSAGE_MAX);
  }
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    total->status[c] += ph->status[c];
    if (total->first_message[c][0] == '\0') {
      memcpy(total->first_message[c], ph->first_message[c], CTL_MESSAGE_MAX);
    }
  }
  ctl_hist_merge(total->all, ph->all);
  ctl_hist_merge(total->ok, ph->ok);
}

static void collect(run *r, ctl_result *out) {
  const ctl_plan *p = r->plan;
  int64_t last_send_all = r->t0;
  for (size_t i = 0; i < out->phase_count; i++) {
    live_phase *lp = &r->phases[i];
    ctl_phase *ph = &out->phases[i];
    ph->scheduled = atomic_load(&lp->scheduled);
    ph->sent = atomic_load(&lp->sent);
    ph->dropped_inflight = atomic_load(&lp->dropped);
    ph->send_errors = atomic_load(&lp->send_errors);
    ph->completed = atomic_load(&lp->completed);
    ph->ok_in_window = atomic_load(&lp->ok_in_window);
    for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
      ph->status[c] = atomic_load(&lp->status[c]);
      memcpy(ph->first_message[c], lp->first_message[c], CTL_MESSAGE_MAX);
    }
    int64_t last = atomic_load(&lp->last_send_ns);
    if (p->mode == CTL_MODE_CLOSED) {
      last = r->end_ns;
    }
    if (last > lp->start_ns) {
      ph->elapsed_s = (double)(last - lp->start_ns) / 1e9;
    }
    /* A phase that ran its course lasted its planned length at least: the
     * last call goes out one interval before the end. */
    if (p->mode == CTL_MODE_OPEN && !out->interrupted &&
        !atomic_load(&r->cap_hit) && ph->elapsed_s < ph->planned_s) {
      ph->elapsed_s = ph->planned_s;
    }
    if (last > last_send_all) {
      last_send_all = last;
    }
    ctl_phase_add(&out->total, ph);
  }
  double planned = 0;
  for (size_t s = 0; p->mode == CTL_MODE_OPEN && s < p->segment_count; s++) {
    planned += p->segments[s].duration_s;
  }
  out->total.planned_s = p->mode == CTL_MODE_CLOSED ? p->duration_s : planned;
  out->total.elapsed_s = (double)(last_send_all - r->t0) / 1e9;
  if (p->mode == CTL_MODE_OPEN && !out->interrupted &&
      !atomic_load(&r->cap_hit) && out->total.elapsed_s < planned) {
    out->total.elapsed_s = planned;
  }
  if (p->mode == CTL_MODE_OPEN && planned > 0) {
    out->total.target_rate = (double)0;
    for (size_t s = 0; s < p->segment_count; s++) {
      out->total.target_rate +=
          (p->segments[s].rate_start + p->segments[s].rate_end) / 2 *
          p->segments[s].duration_s;
    }
    out->total.target_rate /= planned;
  }
  int64_t last_done = atomic_load(&r->last_done_ns);
  out->wall_s = last_done > r->t0 ? (double)(last_done - r->t0) / 1e9 : 0;
  out->request_cap_hit = atomic_load(&r->cap_hit);
}

int ctl_run(const ctl_plan *plan, ctl_result *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  run *r = calloc(1, sizeof *r);
  uint8_t *payload = calloc(1, plan->payload_bytes + 1);
  if (r == NULL || payload == NULL) {
    free(r);
    free(payload);
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  memset(payload, 'x', plan->payload_bytes);
  r->plan = plan;
  r->payload.data = payload;
  r->payload.len = plan->payload_bytes;
  connectplugin__v1__handshake_request__init(&r->handshake);
  r->handshake.core_protocol_version = 1;
  r->handshake.app_protocol_version = 1;
  r->handshake.magic_cookie_key = (char *)CP_MAGIC_COOKIE_KEY;
  r->handshake.magic_cookie_value = (char *)CP_MAGIC_COOKIE_VALUE;
  r->handshake.self_id = (char *)"flood";
  init_live(r);
  name_phases(plan, out);
  int rc = alloc_hists(out, r);
  if (rc != 0) {
    snprintf(err, err_len, "out of memory");
  }
  /* A fleet's thousands of clients share one completion thread: with one
   * each, the process spends its time passing gRPC's network wait between
   * them and falls behind its schedule. */
  cp_client_loop *loop = NULL;
  if (rc == 0 && plan->fleet != NULL && cp_client_loop_create(&loop) != 0) {
    snprintf(err, err_len, "cannot start the clients' completion thread");
    rc = -1;
  }
  if (rc == 0) {
    ctl_plugins_options po = {.host_target = plan->host_target,
                              .provider_target = plan->provider_target,
                              .service_type = plan->service_type,
                              .id_prefix = plan->id_prefix,
                              .count = plan->plugins,
                              .host_tls_root = plan->host_tls_root,
                              .fleet = plan->fleet,
                              .ramp_s = plan->ramp_s,
                              .loop = loop};
    rc = ctl_plugins_create(&r->plugins, &po, err, err_len);
  }
  if (rc == 0) {
    r->t0 = ctl_now_ns() + START_DELAY_NS;
    bool stopped = plan->mode == CTL_MODE_OPEN     ? run_open(r)
                   : plan->mode == CTL_MODE_VOLLEY ? run_volley(r)
                                                   : run_closed(r);
    atomic_store(&r->ending, true);
    drain(r, stopped);
    /* Whatever is still in flight is cancelled; every callback has run
     * once destroy returns. */
    ctl_plugins_destroy(r->plugins, plan->plugins);
    r->plugins = NULL;
    out->interrupted = stopped || ctl_stop_latched();
    collect(r, out);
  }
  (void)cp_client_loop_destroy(loop); /* every client of it is gone */
  free(payload);
  free(r);
  return rc;
}

double ctl_phase_ok_rate(const ctl_phase *ph) {
  return ph->elapsed_s > 0 ? (double)ph->ok_in_window / ph->elapsed_s : 0;
}

void ctl_result_free(ctl_result *r) {
  for (size_t i = 0; i < CTL_MAX_PHASES; i++) {
    ctl_hist_destroy(r->phases[i].all);
    ctl_hist_destroy(r->phases[i].ok);
    r->phases[i].all = NULL;
    r->phases[i].ok = NULL;
  }
  ctl_hist_destroy(r->total.all);
  ctl_hist_destroy(r->total.ok);
  ctl_fleet_result_free(&r->fleet);
  r->total.all = NULL;
  r->total.ok = NULL;
}
