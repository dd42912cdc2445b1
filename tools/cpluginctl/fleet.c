/* Fleet members: registration and a held watch stream. */
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "plugin/v1/registry.cplugin.h"

enum { REGISTER_TIMEOUT_MS = 10000 };

int ctl_fleet_stats_init(ctl_fleet_stats *s) {
  memset(s, 0, sizeof *s);
  s->join = ctl_hist_create();
  return s->join != NULL ? 0 : -1;
}

void ctl_fleet_stats_destroy(ctl_fleet_stats *s) {
  ctl_hist_destroy(s->join);
  s->join = NULL;
}

/* Runs on the member's client thread: counts events, and an end that the
 * run did not ask for. */
static void on_watch(const cp_status *status, const ProtobufCMessage *msg,
                     void *user) {
  ctl_fleet_member *m = user;
  ctl_fleet_stats *s = m->stats;
  if (msg != NULL) {
    atomic_fetch_add_explicit(&s->events, 1, memory_order_relaxed);
    if (!m->seen_event) {
      m->seen_event = true;
      atomic_fetch_add_explicit(&s->first_events, 1, memory_order_relaxed);
    }
    return;
  }
  if (atomic_load(&s->phase) == CTL_FLEET_CLOSING) {
    return;
  }
  atomic_fetch_add_explicit(&s->ended_early, 1, memory_order_relaxed);
  bool expected = false;
  if (atomic_compare_exchange_strong(&s->has_end, &expected, true)) {
    snprintf(s->first_end, sizeof s->first_end, "%s: %.100s",
             cp_status_code_name(status->code), status->message);
  }
}

static int register_type(cp_client *host, const cp_call_options *opts,
                         const char *type, const char *self_id, char *err,
                         size_t err_len) {
  Connectplugin__V1__RegisterServiceRequest req =
      CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
  req.service_type = (char *)type;
  req.version = (char *)"1.0.0";
  req.endpoint_path = (char *)"/fleet";
  Connectplugin__V1__RegisterServiceResponse *resp = NULL;
  cp_status st;
  cp_status_clear(&st);
  int rc = cp_connectplugin__v1__service_registry__register_service__call(
      host, &req, &resp, opts, &st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  if (rc != 0) {
    snprintf(err, err_len, "\"%s\" could not register %s: %s: %s", self_id,
             type, rc == CP_ERPC ? cp_status_code_name(st.code) : "error",
             rc == CP_ERPC ? st.message : cp_strerror(rc));
    return -1;
  }
  return 0;
}

int ctl_fleet_join(ctl_fleet_member *m, ctl_fleet_stats *stats, cp_client *host,
                   const cp_metadata *md, size_t md_count,
                   bool provides_dependency, const char *self_id, char *err,
                   size_t err_len) {
  m->stats = stats;
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = md_count;
  opts.timeout_ms = REGISTER_TIMEOUT_MS;
  if (register_type(host, &opts, CTL_FLEET_TYPE, self_id, err, err_len) != 0 ||
      (provides_dependency &&
       register_type(host, &opts, CTL_FLEET_DEPENDENCY_TYPE, self_id, err,
                     err_len) != 0)) {
    return -1;
  }
  Connectplugin__V1__WatchServiceRequest req =
      CONNECTPLUGIN__V1__WATCH_SERVICE_REQUEST__INIT;
  req.service_type = (char *)CTL_FLEET_DEPENDENCY_TYPE;
  opts.timeout_ms = 0; /* held for the whole run */
  int rc = cp_client_stream_start_async(
      host, &cp_connectplugin__v1__service_registry__watch_service__method,
      &req.base, &opts, on_watch, m, &m->watch);
  if (rc != 0) {
    snprintf(err, err_len, "\"%s\" could not start its watch: %s", self_id,
             cp_strerror(rc));
    return -1;
  }
  atomic_fetch_add_explicit(&stats->joined, 1, memory_order_relaxed);
  return 0;
}

void ctl_fleet_member_end(ctl_fleet_member *m) {
  cp_client_stream_destroy(m->watch);
  m->watch = NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a;
  uint64_t y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Median RSS and mean CPU of the hold's samples; 0 when there are none. */
static void hold_figures(ctl_fleet_result *out) {
  uint64_t *rss = calloc(out->sample_count + 1, sizeof *rss);
  size_t n = 0;
  double cpu = 0;
  for (size_t i = 0; rss != NULL && i < out->sample_count; i++) {
    if (out->samples[i].phase == CTL_FLEET_HOLD) {
      rss[n++] = out->samples[i].rss_bytes;
      cpu += out->samples[i].cpu_percent;
    }
  }
  if (n > 0) {
    qsort(rss, n, sizeof *rss, cmp_u64);
    out->rss_held = rss[(n - 1) / 2];
    out->hold_cpu_percent = cpu / (double)n;
  }
  free(rss);
}

void ctl_fleet_result_fill(ctl_fleet_result *out, ctl_fleet_stats *stats,
                           uint32_t plugins, double ramp_planned_s,
                           ctl_sample *samples, size_t sample_count) {
  memset(out, 0, sizeof *out);
  out->present = true;
  out->plugins = plugins;
  out->ramp_planned_s = ramp_planned_s;
  out->samples = samples;
  out->sample_count = sample_count;
  out->joined = atomic_load(&stats->joined);
  out->first_events = atomic_load(&stats->first_events);
  out->events = atomic_load(&stats->events);
  out->ended_early = atomic_load(&stats->ended_early);
  if (atomic_load(&stats->has_end)) {
    memcpy(out->first_end, stats->first_end, sizeof out->first_end);
  }
  out->join = stats->join;
  stats->join = NULL;
  int64_t start = atomic_load(&stats->start_ns);
  int64_t end = atomic_load(&stats->ramp_end_ns);
  out->ramp_s = start > 0 && end > start ? (double)(end - start) / 1e9 : 0;
  if (sample_count == 0) {
    return;
  }
  out->rss_before = samples[0].rss_bytes;
  for (size_t i = 0; i < sample_count; i++) {
    if (samples[i].rss_bytes > out->rss_peak) {
      out->rss_peak = samples[i].rss_bytes;
    }
    if (samples[i].phase == CTL_FLEET_RAMP) {
      out->rss_held = samples[i].rss_bytes; /* the last one, unless held */
    }
  }
  hold_figures(out);
  if (out->joined > 0 && out->rss_held > out->rss_before) {
    out->bytes_per_plugin =
        (double)(out->rss_held - out->rss_before) / out->joined;
  }
}

void ctl_fleet_result_free(ctl_fleet_result *r) {
  ctl_hist_destroy(r->join);
  free(r->samples);
  r->join = NULL;
  r->samples = NULL;
  r->sample_count = 0;
}
