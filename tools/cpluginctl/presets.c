/* The presets: plans, the started host's limits, and the checks. */
#include "presets.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/status.h"

/* --- plans --------------------------------------------------------------- */

static void base_plan(const ctl_load_args *a, ctl_plan *p) {
  memset(p, 0, sizeof *p);
  p->kinds[0] = CTL_CALL_HOST;
  p->kind_names[0] = "host";
  p->kind_count = 1;
  p->max_requests = a->max_requests;
  p->max_inflight = a->max_inflight;
  p->payload_bytes = a->payload_bytes;
  p->timeout_ms = a->timeout_ms;
  p->id_prefix = "load";
}

static void custom(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 1;
  double duration = a->has_duration ? a->duration_s : 10;
  if (a->has_rate) {
    p->mode = CTL_MODE_OPEN;
    p->segments[0] = (ctl_segment){"open", a->rate, a->rate, duration};
    p->segment_count = 1;
    snprintf(s->description, sizeof s->description,
             "%u plugin(s), %g req/s in total, open loop, %g s", p->plugins,
             a->rate, duration);
  } else if (a->has_concurrency) {
    p->mode = CTL_MODE_CLOSED;
    p->concurrency = a->concurrency;
    p->duration_s = duration;
    p->segments[0].name = "closed";
    snprintf(s->description, sizeof s->description,
             "%u plugin(s), %u calls in flight, closed loop, %g s", p->plugins,
             a->concurrency, duration);
  } else {
    p->mode = CTL_MODE_VOLLEY;
    p->volley = a->requests;
    p->segments[0].name = "volley";
    snprintf(s->description, sizeof s->description,
             "%u plugin(s), one volley of %u calls sent at once", p->plugins,
             a->requests);
  }
}

static void steady(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 100;
  double rate = a->has_rate ? a->rate : 1000;
  double duration = a->has_duration ? a->duration_s : 60;
  p->mode = CTL_MODE_OPEN;
  p->segments[0] = (ctl_segment){"steady", rate, rate, duration};
  p->segment_count = 1;
  snprintf(s->description, sizeof s->description,
           "%u plugins x %g req/s = %g req/s, open loop, %g s", p->plugins,
           rate / p->plugins, rate, duration);
}

static void burst(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 100;
  double peak = a->has_rate ? a->rate : 5000;
  double start = peak / 50;
  double duration = a->has_duration ? a->duration_s : 70;
  double ramp = duration / 7;
  p->mode = CTL_MODE_OPEN;
  p->segments[0] = (ctl_segment){"ramp", start, peak, ramp};
  p->segments[1] = (ctl_segment){"hold", peak, peak, duration - ramp};
  p->segment_count = 2;
  /* Each identity may send 40% of its share of the peak: every plugin
   * crosses its limit during the ramp and stays over it in the hold. */
  double limit = floor(0.4 * peak / p->plugins);
  s->limit_rate = limit < 1 ? 1 : (uint32_t)limit;
  s->limit_burst = s->limit_rate;
  snprintf(s->description, sizeof s->description,
           "%u plugins, ramp %g -> %g req/s over %g s, hold %g req/s for "
           "%g s, open loop",
           p->plugins, start, peak, ramp, peak, duration - ramp);
}

static void ratelimit(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 1;
  p->mode = CTL_MODE_VOLLEY;
  p->volley = a->has_requests ? a->requests : 1000;
  p->segments[0].name = "volley";
  s->limit_rate = 100;
  s->limit_burst = 100;
  s->expect_rate = s->limit_rate;
  s->expect_burst = s->limit_burst;
  snprintf(s->description, sizeof s->description,
           "%u identit%s, %u calls sent at once", p->plugins,
           p->plugins == 1 ? "y" : "ies", p->volley);
}

/* Scenario 3 aimed where the guide aims it: a handshake carries no token,
 * so its budget is the peer address's, whatever runtime ID it claims. */
static void handshake_flood(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = 1;
  p->mode = CTL_MODE_VOLLEY;
  p->volley = a->has_requests ? a->requests : 1000;
  p->segments[0].name = "volley";
  p->kinds[0] = CTL_CALL_HANDSHAKE;
  p->kind_names[0] = "handshake";
  /* The started host gets a host's default Handshake limit
   * (cp_rate_policy_host_defaults: 10/s, burst 20) instead of serve's. */
  s->handshake_rate = 10;
  s->handshake_burst = 20;
  s->expect_rate = s->handshake_rate;
  s->expect_burst = s->handshake_burst;
  snprintf(s->description, sizeof s->description,
           "%u Handshakes sent at once from one address, each claiming the "
           "plugin's runtime ID without its token",
           p->volley);
}

static void routed(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 100;
  double rate = a->has_rate ? a->rate : 1000;
  double duration = a->has_duration ? a->duration_s : 60;
  p->mode = CTL_MODE_OPEN;
  /* Both kinds at `rate`: the slots alternate between them. */
  p->segments[0] = (ctl_segment){"routed", 2 * rate, 2 * rate, duration};
  p->segment_count = 1;
  p->kinds[0] = CTL_CALL_ROUTED;
  p->kind_names[0] = "routed";
  p->kinds[1] = CTL_CALL_PROVIDER;
  p->kind_names[1] = "direct";
  p->kind_count = 2;
  p->service_type = CTL_ROUTED_TYPE;
  s->needs_provider = true;
  s->provider_type = CTL_ROUTED_TYPE;
  snprintf(s->description, sizeof s->description,
           "%u plugins, %g req/s routed through the host + %g req/s "
           "straight to the provider, open loop, %g s",
           p->plugins, rate, rate, duration);
}

static void bidi(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->mode = CTL_MODE_BIDI;
  p->plugins = a->has_streams ? a->streams : 4;
  p->duration_s = a->has_duration ? a->duration_s : 20;
  /* Half a second per slice; at least two slices of each kind. */
  double slice_ms = p->duration_s * 1000 / 4;
  p->slice_ms = slice_ms < 500 ? (uint32_t)(slice_ms < 1 ? 1 : slice_ms) : 500;
  p->kinds[0] = CTL_CALL_ROUTED;
  p->kind_names[0] = "routed";
  p->kinds[1] = CTL_CALL_PROVIDER;
  p->kind_names[1] = "direct";
  p->kind_count = 2;
  p->service_type = CTL_ROUTED_TYPE;
  s->needs_provider = true;
  s->provider_type = CTL_ROUTED_TYPE;
  snprintf(s->description, sizeof s->description,
           "%u Chat streams through the host's router + %u straight to the "
           "provider, ping-pong (one message in flight per stream), the "
           "kinds alternating every %u ms for %g s",
           p->plugins, p->plugins, p->slice_ms, p->duration_s);
}

/* Calls at once the middle's style lets wait for the provider. */
static unsigned fanout_parallel(const ctl_setup *s, uint32_t concurrency) {
  unsigned limit = s->middle == CTL_MIDDLE_POOL       ? s->pool_threads
                   : s->middle == CTL_MIDDLE_BLOCKING ? s->middle_threads
                                                      : concurrency;
  return limit < concurrency ? limit : concurrency;
}

static void fanout(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 16;
  p->mode = CTL_MODE_CLOSED;
  p->concurrency = a->has_concurrency ? a->concurrency : 256;
  p->duration_s = a->has_duration ? a->duration_s : 10;
  /* Calls queue in the middle for concurrency / ceiling seconds (6.4 s for
   * blocking at the defaults): room for that on a loaded machine. */
  p->timeout_ms = a->has_timeout ? a->timeout_ms : 30000;
  p->kinds[0] = CTL_CALL_ROUTED;
  p->kind_names[0] = "fanout";
  p->service_type = CTL_FANOUT_MIDDLE_TYPE;
  s->needs_provider = true;
  s->provider_type = CTL_FANOUT_DELAYED_TYPE;
  s->provider_delay_ms = a->has_delay ? a->delay_ms : 50;
  s->needs_middle = true;
  s->middle = a->has_middle ? a->middle : CTL_MIDDLE_DEFERRED;
  s->middle_threads = a->has_middle_threads ? a->middle_threads : 2;
  s->pool_threads = a->has_pool_threads ? a->pool_threads : 16;
  p->segments[0].name = ctl_middle_style_name(s->middle);
  s->ceiling =
      fanout_parallel(s, p->concurrency) / (s->provider_delay_ms / 1000.0);
  char threads[64] = "";
  if (s->middle == CTL_MIDDLE_POOL) {
    snprintf(threads, sizeof threads, " + a pool of %u", s->pool_threads);
  }
  snprintf(s->description, sizeof s->description,
           "%u plugins, %u calls in flight, closed loop, %g s, through the "
           "host to a %s middle plugin (%u threads%s) making one routed call "
           "each to a provider answering after %u ms",
           p->plugins, p->concurrency, p->duration_s,
           ctl_middle_style_name(s->middle), s->middle_threads, threads,
           s->provider_delay_ms);
}

static void fleet(const ctl_load_args *a, ctl_setup *s) {
  ctl_plan *p = &s->plan;
  p->plugins = a->has_plugins ? a->plugins : 5000;
  double rate = a->has_rate ? a->rate : p->plugins; /* 1 call/s each */
  double hold = a->has_duration ? a->duration_s : 60;
  p->ramp_s = a->has_ramp ? a->ramp_s : 60;
  p->mode = CTL_MODE_OPEN;
  p->segments[0] = (ctl_segment){"hold", rate, rate, hold};
  p->segment_count = 1;
  p->id_prefix = "fleet";
  s->fleet = true;
  /* Every member watches, plus room for anything else on the host. */
  s->max_watchers = p->plugins + 64;
  snprintf(s->description, sizeof s->description,
           "%u plugins, each with its own connection, identity, registration "
           "and watch stream, joining over %g s; then %g req/s in total for "
           "%g s, open loop",
           p->plugins, p->ramp_s, rate, hold);
}

void ctl_preset_setup(const ctl_load_args *a, ctl_setup *s) {
  memset(s, 0, sizeof *s);
  s->preset = a->preset;
  base_plan(a, &s->plan);
  switch (a->preset) {
    case CTL_PRESET_STEADY:
      steady(a, s);
      break;
    case CTL_PRESET_BURST:
      burst(a, s);
      break;
    case CTL_PRESET_RATELIMIT:
      ratelimit(a, s);
      break;
    case CTL_PRESET_ROUTED:
      routed(a, s);
      break;
    case CTL_PRESET_FANOUT:
      fanout(a, s);
      break;
    case CTL_PRESET_BIDI:
      bidi(a, s);
      break;
    case CTL_PRESET_HANDSHAKE_FLOOD:
      handshake_flood(a, s);
      break;
    case CTL_PRESET_BURST_TLS:
      burst(a, s);
      s->tls = true;
      /* The description says what differs from burst. */
      strncat(s->description, ", over TLS",
              sizeof s->description - strlen(s->description) - 1);
      break;
    case CTL_PRESET_FLEET:
      fleet(a, s);
      break;
    case CTL_PRESET_NONE:
    default:
      custom(a, s);
      break;
  }
}

/* --- checks ------------------------------------------------------------- */

static double ms(int64_t ns) {
  return (double)ns / 1e6;
}

/* "UNAVAILABLE 3, DEADLINE_EXCEEDED 1" for the codes not in `allowed`. */
static uint64_t others(const ctl_phase *ph, const cp_status_code *allowed,
                       size_t n_allowed, char *out, size_t cap) {
  uint64_t total = 0;
  size_t len = 0;
  out[0] = '\0';
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    bool ok = false;
    for (size_t i = 0; i < n_allowed; i++) {
      ok = ok || (int)allowed[i] == c;
    }
    if (ok || ph->status[c] == 0) {
      continue;
    }
    total += ph->status[c];
    if (len < cap) {
      int w = snprintf(out + len, cap - len, "%s%s %llu", len > 0 ? ", " : "",
                       cp_status_code_name((cp_status_code)c),
                       (unsigned long long)ph->status[c]);
      len += w > 0 ? (size_t)w : 0;
    }
  }
  if (total == 0) {
    snprintf(out, cap, "none");
  }
  return total;
}

static ctl_check *add(ctl_check *out, size_t cap, size_t *n) {
  if (*n >= cap) {
    return NULL;
  }
  ctl_check *c = &out[(*n)++];
  memset(c, 0, sizeof *c);
  return c;
}

static void all_ok(const ctl_phase *ph, const char *what, ctl_check *c) {
  static const cp_status_code ok[] = {CP_STATUS_OK};
  char rest[120];
  uint64_t bad = others(ph, ok, 1, rest, sizeof rest);
  snprintf(c->what, sizeof c->what, "%s", what);
  snprintf(c->expected, sizeof c->expected, "every call OK");
  snprintf(c->measured, sizeof c->measured, "OK %llu of %llu; other: %s",
           (unsigned long long)ph->status[CP_STATUS_OK],
           (unsigned long long)ph->completed, rest);
  c->behaviour = true;
  c->pass = ph->completed > 0 && bad == 0;
}

static void guide_p99(const ctl_phase *ph, const char *what, ctl_check *c) {
  int64_t p99 = ctl_hist_quantile(ph->ok, 0.99);
  snprintf(c->what, sizeof c->what, "%s", what);
  snprintf(c->expected, sizeof c->expected,
           "guide expects p99 < 10 ms (alert if p99 > 50 ms)");
  snprintf(c->measured, sizeof c->measured, "p99 %.3f ms (OK calls)", ms(p99));
  c->pass = ctl_hist_count(ph->ok) > 0 && p99 < INT64_C(10000000);
}

static void only_ok_or_limited(const ctl_phase *ph, ctl_check *c) {
  static const cp_status_code allowed[] = {CP_STATUS_OK,
                                           CP_STATUS_RESOURCE_EXHAUSTED};
  char rest[120];
  uint64_t bad = others(ph, allowed, 2, rest, sizeof rest);
  snprintf(c->what, sizeof c->what, "statuses");
  snprintf(c->expected, sizeof c->expected,
           "no errors besides rate limits: only OK and RESOURCE_EXHAUSTED");
  snprintf(c->measured, sizeof c->measured, "other statuses: %s", rest);
  c->behaviour = true;
  c->pass = bad == 0;
}

static size_t burst_checks(const ctl_result *r, ctl_check *out, size_t cap) {
  size_t n = 0;
  const ctl_phase *t = &r->total;
  ctl_check *c = add(out, cap, &n);
  if (c != NULL) {
    only_ok_or_limited(t, c);
  }
  if ((c = add(out, cap, &n)) != NULL) {
    snprintf(c->what, sizeof c->what, "rate limiting");
    snprintf(c->expected, sizeof c->expected,
             "some RESOURCE_EXHAUSTED (over-limit plugins are limited) and "
             "some OK (the others are admitted)");
    snprintf(c->measured, sizeof c->measured,
             "RESOURCE_EXHAUSTED %llu, OK %llu",
             (unsigned long long)t->status[CP_STATUS_RESOURCE_EXHAUSTED],
             (unsigned long long)t->status[CP_STATUS_OK]);
    c->behaviour = true;
    c->pass = t->status[CP_STATUS_RESOURCE_EXHAUSTED] > 0 &&
              t->status[CP_STATUS_OK] > 0;
  }
  if (r->phase_count >= 2 && (c = add(out, cap, &n)) != NULL) {
    int64_t ramp = ctl_hist_quantile(r->phases[0].ok, 0.99);
    int64_t hold = ctl_hist_quantile(r->phases[1].ok, 0.99);
    snprintf(c->what, sizeof c->what, "admitted p99");
    snprintf(c->expected, sizeof c->expected,
             "guide expects p99 latency stable (here: hold p99 within 2x "
             "of ramp p99)");
    snprintf(c->measured, sizeof c->measured,
             "ramp p99 %.3f ms, hold p99 %.3f ms (OK calls)", ms(ramp),
             ms(hold));
    c->pass = ramp > 0 && hold > 0 && hold <= 2 * ramp;
  }
  return n;
}

static size_t ratelimit_checks(const ctl_setup *s, const ctl_result *r,
                               ctl_check *out, size_t cap) {
  size_t n = 0;
  const ctl_phase *t = &r->total;
  ctl_check *c = add(out, cap, &n);
  if (c != NULL) {
    only_ok_or_limited(t, c);
  }
  uint64_t limited = t->status[CP_STATUS_RESOURCE_EXHAUSTED];
  uint64_t ok = t->status[CP_STATUS_OK];
  if ((c = add(out, cap, &n)) != NULL) {
    snprintf(c->what, sizeof c->what, "burst spent");
    snprintf(c->expected, sizeof c->expected,
             "most calls RESOURCE_EXHAUSTED once the burst is exhausted");
    snprintf(c->measured, sizeof c->measured,
             "RESOURCE_EXHAUSTED %llu, OK %llu of %llu",
             (unsigned long long)limited, (unsigned long long)ok,
             (unsigned long long)t->completed);
    c->behaviour = true;
    c->pass = limited > ok;
  }
  if (s->expect_burst > 0 && (c = add(out, cap, &n)) != NULL) {
    snprintf(c->what, sizeof c->what, "admitted");
    snprintf(c->expected, sizeof c->expected,
             "about the burst (%u) plus the refill at %u/s during the volley",
             s->expect_burst, s->expect_rate);
    snprintf(c->measured, sizeof c->measured, "OK %llu in a %.3f s volley",
             (unsigned long long)ok, r->wall_s);
    double most = s->expect_burst + s->expect_rate * r->wall_s + 1;
    c->pass = ok >= 1 && (double)ok <= most;
  }
  return n;
}

static size_t routed_checks(const ctl_result *r, ctl_check *out, size_t cap) {
  size_t n = 0;
  ctl_check *c;
  for (size_t i = 0; i < r->phase_count && i < 2; i++) {
    if ((c = add(out, cap, &n)) != NULL) {
      all_ok(&r->phases[i], r->phases[i].name, c);
    }
  }
  if ((c = add(out, cap, &n)) != NULL) {
    guide_p99(&r->phases[0], "routed p99", c);
  }
  if (r->phase_count >= 2 && (c = add(out, cap, &n)) != NULL) {
    const ctl_phase *rt = &r->phases[0];
    const ctl_phase *d = &r->phases[1];
    snprintf(c->what, sizeof c->what, "routing cost");
    snprintf(c->expected, sizeof c->expected,
             "routed minus direct (the host's hop: auth, limit, resolve, "
             "forward)");
    snprintf(
        c->measured, sizeof c->measured, "p50 %+.3f ms, p99 %+.3f ms",
        ms(ctl_hist_quantile(rt->ok, 0.5) - ctl_hist_quantile(d->ok, 0.5)),
        ms(ctl_hist_quantile(rt->ok, 0.99) - ctl_hist_quantile(d->ok, 0.99)));
    c->pass = true;
  }
  return n;
}

/* Every message echoed and every stream ended OK. */
static void bidi_ok(const ctl_phase *ph, ctl_check *c) {
  static const cp_status_code ok[] = {CP_STATUS_OK};
  char rest[120];
  uint64_t bad = others(ph, ok, 1, rest, sizeof rest);
  snprintf(c->what, sizeof c->what, "%s", ph->name);
  snprintf(c->expected, sizeof c->expected,
           "every message echoed; every stream ended OK after the client "
           "half-closed");
  snprintf(c->measured, sizeof c->measured,
           "echoed %llu of %llu; other: %s; streams OK %u of %u%s%.100s",
           (unsigned long long)ph->status[CP_STATUS_OK],
           (unsigned long long)ph->sent, rest, ph->streams_ok, ph->streams,
           ph->stream_error[0] != '\0' ? "; first other end: " : "",
           ph->stream_error);
  c->behaviour = true;
  c->pass =
      ph->status[CP_STATUS_OK] > 0 && bad == 0 && ph->streams_ok == ph->streams;
}

static size_t bidi_checks(const ctl_result *r, ctl_check *out, size_t cap) {
  size_t n = 0;
  ctl_check *c;
  for (size_t i = 0; i < r->phase_count && i < 2; i++) {
    if ((c = add(out, cap, &n)) != NULL) {
      bidi_ok(&r->phases[i], c);
    }
  }
  if (r->phase_count >= 2 && (c = add(out, cap, &n)) != NULL) {
    const ctl_phase *rt = &r->phases[0];
    const ctl_phase *d = &r->phases[1];
    double rr = ctl_phase_ok_rate(rt);
    double dr = ctl_phase_ok_rate(d);
    snprintf(c->what, sizeof c->what, "routing cost");
    snprintf(c->expected, sizeof c->expected,
             "routed against direct: messages/s and the round trip per "
             "message (the host's relay, one message in flight per "
             "direction)");
    snprintf(c->measured, sizeof c->measured,
             "%.1f / %.1f msg/s = %.2fx; p50 %.3f / %.3f ms, p99 %.3f / "
             "%.3f ms",
             rr, dr, dr > 0 ? rr / dr : 0, ms(ctl_hist_quantile(rt->ok, 0.5)),
             ms(ctl_hist_quantile(d->ok, 0.5)),
             ms(ctl_hist_quantile(rt->ok, 0.99)),
             ms(ctl_hist_quantile(d->ok, 0.99)));
    c->pass = true;
  }
  return n;
}

/* The host's router admits 256 routed calls in flight per caller identity
 * (cp_router_options.max_inflight_per_caller, which cp_host_options does
 * not expose) and counts a forwarded call until its own completion ran, a
 * moment after the caller saw the answer. The middle is one caller with up
 * to `concurrency` downstream calls in flight, so at 256 a next call can
 * find the previous one's slot not yet released: RESOURCE_EXHAUSTED, passed
 * back to the caller. Counted and shown, not failed. */
static void fanout_statuses(const ctl_phase *ph, ctl_check *c) {
  static const cp_status_code allowed[] = {CP_STATUS_OK,
                                           CP_STATUS_RESOURCE_EXHAUSTED};
  char rest[120];
  uint64_t bad = others(ph, allowed, 2, rest, sizeof rest);
  uint64_t limited = ph->status[CP_STATUS_RESOURCE_EXHAUSTED];
  snprintf(c->what, sizeof c->what, "statuses");
  snprintf(c->expected, sizeof c->expected,
           "every call OK, but for RESOURCE_EXHAUSTED from the host's limit "
           "of 256 routed calls in flight per caller");
  snprintf(c->measured, sizeof c->measured,
           "OK %llu of %llu; RESOURCE_EXHAUSTED %llu%s%.60s%s; other: %s",
           (unsigned long long)ph->status[CP_STATUS_OK],
           (unsigned long long)ph->completed, (unsigned long long)limited,
           limited > 0 ? " (\"" : "",
           limited > 0 ? ph->first_message[CP_STATUS_RESOURCE_EXHAUSTED] : "",
           limited > 0 ? "\")" : "", rest);
  c->behaviour = true;
  c->pass = ph->status[CP_STATUS_OK] > 0 && bad == 0;
}

/* The throughput against the style's ceiling: a guide figure (the machine
 * decides it), never a behaviour check. */
static void fanout_throughput(const ctl_setup *s, const ctl_phase *ph,
                              ctl_check *c) {
  double rate = ctl_phase_ok_rate(ph);
  double ratio = s->ceiling > 0 ? rate / s->ceiling : 0;
  const char *style = ctl_middle_style_name(s->middle);
  const char *bound = s->middle == CTL_MIDDLE_POOL       ? "pool threads"
                      : s->middle == CTL_MIDDLE_BLOCKING ? "middle threads"
                                                         : "calls in flight";
  snprintf(c->what, sizeof c->what, "%s throughput", style);
  if (s->middle == CTL_MIDDLE_BLOCKING) {
    snprintf(c->expected, sizeof c->expected,
             "at most %s / delay = %.1f calls/s (the baseline: no target)",
             bound, s->ceiling);
    c->pass = true;
  } else {
    snprintf(c->expected, sizeof c->expected,
             "guide expects >= 80%% of %s / delay = %.1f calls/s "
             "(>= %.1f)",
             bound, s->ceiling, 0.8 * s->ceiling);
    c->pass = ratio >= 0.8;
  }
  snprintf(c->measured, sizeof c->measured, "%.1f OK calls/s = %.1f%% of %.1f",
           rate, 100 * ratio, s->ceiling);
}

/* The goals of the fleet preset (issue 18): p99 of the calls under 5 ms
 * and at most 32 KiB of host memory per connected plugin. */
#define FLEET_P99_GOAL_NS INT64_C(5000000)
#define FLEET_BYTES_GOAL 32768.0

static void fleet_joined(const ctl_fleet_result *f, ctl_check *c) {
  snprintf(c->what, sizeof c->what, "joined");
  snprintf(c->expected, sizeof c->expected,
           "every plugin handshaked, registered and watching");
  snprintf(c->measured, sizeof c->measured,
           "%u of %u in %.1f s (planned %g s); join p50 %.3f ms, p99 %.3f "
           "ms from its planned start",
           f->joined, f->plugins, f->ramp_s, f->ramp_planned_s,
           ms(ctl_hist_quantile(f->join, 0.5)),
           ms(ctl_hist_quantile(f->join, 0.99)));
  c->behaviour = true;
  c->pass = f->plugins > 0 && f->joined == f->plugins;
}

static void fleet_watches(const ctl_fleet_result *f, ctl_check *c) {
  snprintf(c->what, sizeof c->what, "watches held");
  snprintf(c->expected, sizeof c->expected,
           "every watch delivered its first event and stayed open to the "
           "end");
  snprintf(c->measured, sizeof c->measured,
           "first events %u of %u, events %llu; ended early %u%s%.100s",
           f->first_events, f->joined, (unsigned long long)f->events,
           f->ended_early, f->ended_early > 0 ? " (first: " : "",
           f->ended_early > 0 ? f->first_end : "");
  if (f->ended_early > 0) {
    strncat(c->measured, ")", sizeof c->measured - strlen(c->measured) - 1);
  }
  c->behaviour = true;
  c->pass =
      f->joined > 0 && f->first_events == f->joined && f->ended_early == 0;
}

static void fleet_p99(const ctl_phase *ph, ctl_check *c) {
  int64_t p99 = ctl_hist_quantile(ph->ok, 0.99);
  snprintf(c->what, sizeof c->what, "latency, all connected");
  snprintf(c->expected, sizeof c->expected, "goal p99 < 5 ms");
  snprintf(c->measured, sizeof c->measured, "p50 %.3f ms, p99 %.3f ms",
           ms(ctl_hist_quantile(ph->ok, 0.5)), ms(p99));
  c->pass = ctl_hist_count(ph->ok) > 0 && p99 < FLEET_P99_GOAL_NS;
}

static void fleet_memory(const ctl_fleet_result *f, ctl_check *c) {
  snprintf(c->what, sizeof c->what, "host memory per plugin");
  snprintf(c->expected, sizeof c->expected,
           "goal <= 32 KiB: (RSS held - RSS before the joins) / plugins");
  if (f->sample_count == 0) {
    snprintf(c->measured, sizeof c->measured,
             "not sampled: the host was not started by cpluginctl");
    return;
  }
  snprintf(c->measured, sizeof c->measured,
           "%.1f KiB (RSS %.1f MiB before, %.1f MiB held, peak %.1f MiB); "
           "host CPU %.0f%% of one core during the hold",
           f->bytes_per_plugin / 1024, (double)f->rss_before / 1048576,
           (double)f->rss_held / 1048576, (double)f->rss_peak / 1048576,
           f->hold_cpu_percent);
  c->pass = f->joined > 0 && f->bytes_per_plugin <= FLEET_BYTES_GOAL;
}

static size_t fleet_checks(const ctl_result *r, ctl_check *out, size_t cap) {
  size_t n = 0;
  ctl_check *c;
  if ((c = add(out, cap, &n)) != NULL) {
    fleet_joined(&r->fleet, c);
  }
  if ((c = add(out, cap, &n)) != NULL) {
    fleet_watches(&r->fleet, c);
  }
  if ((c = add(out, cap, &n)) != NULL) {
    all_ok(&r->total, "statuses", c);
  }
  if ((c = add(out, cap, &n)) != NULL) {
    fleet_p99(&r->total, c);
  }
  if ((c = add(out, cap, &n)) != NULL) {
    fleet_memory(&r->fleet, c);
  }
  return n;
}

size_t ctl_preset_checks(const ctl_setup *s, const ctl_result *r,
                         ctl_check *out, size_t cap) {
  size_t n = 0;
  ctl_check *c;
  switch (s->preset) {
    case CTL_PRESET_STEADY:
      if ((c = add(out, cap, &n)) != NULL) {
        all_ok(&r->total, "statuses", c);
      }
      if ((c = add(out, cap, &n)) != NULL) {
        guide_p99(&r->total, "latency", c);
      }
      return n;
    case CTL_PRESET_BURST:
    case CTL_PRESET_BURST_TLS:
      return burst_checks(r, out, cap);
    case CTL_PRESET_RATELIMIT:
    case CTL_PRESET_HANDSHAKE_FLOOD:
      return ratelimit_checks(s, r, out, cap);
    case CTL_PRESET_ROUTED:
      return routed_checks(r, out, cap);
    case CTL_PRESET_BIDI:
      return bidi_checks(r, out, cap);
    case CTL_PRESET_FLEET:
      return fleet_checks(r, out, cap);
    case CTL_PRESET_FANOUT:
      if ((c = add(out, cap, &n)) != NULL) {
        fanout_statuses(&r->total, c);
      }
      if ((c = add(out, cap, &n)) != NULL) {
        fanout_throughput(s, &r->total, c);
      }
      return n;
    case CTL_PRESET_NONE:
    default:
      return 0;
  }
}
