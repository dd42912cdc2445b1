/* Text and JSON reports of a run. */
#include "report.h"

#include <string.h>

#include "cplugin/status.h"
#include "json_out.h"
#include "report_fleet.h"

static const double kQuantiles[] = {0.50, 0.95, 0.99, 0.999};
static const char *const kQuantileText[] = {"p50", "p95", "p99", "p99.9"};
static const char *const kQuantileJson[] = {"p50", "p95", "p99", "p999"};
enum { QUANTILES = 4 };

static double ms(int64_t ns) {
  return (double)ns / 1e6;
}

double ctl_phase_rate(const ctl_phase *ph) {
  return ph->elapsed_s > 0 ? (double)ph->sent / ph->elapsed_s : 0;
}

static const char *mode_name(ctl_mode mode) {
  return mode == CTL_MODE_CLOSED   ? "closed loop"
         : mode == CTL_MODE_VOLLEY ? "volley"
         : mode == CTL_MODE_BIDI   ? "bidi ping-pong"
                                   : "open loop";
}

/* --- text --------------------------------------------------------------- */

static void text_latency(FILE *f, const char *label, const ctl_hist *h) {
  fprintf(f, "  latency %-4s", label);
  if (ctl_hist_count(h) == 0) {
    fprintf(f, " (no calls)\n");
    return;
  }
  for (int i = 0; i < QUANTILES; i++) {
    fprintf(f, " %s %.3f ms ", kQuantileText[i],
            ms(ctl_hist_quantile(h, kQuantiles[i])));
  }
  fprintf(f, " max %.3f ms  (n %llu)\n", ms(ctl_hist_max(h)),
          (unsigned long long)ctl_hist_count(h));
}

/* The head of a bidi phase: messages, not calls. */
static void text_bidi_head(FILE *f, const ctl_phase *ph) {
  fprintf(f, "  messages %llu sent, %llu echoed in %.3f s = %.1f msg/s\n",
          (unsigned long long)ph->sent,
          (unsigned long long)ph->status[CP_STATUS_OK], ph->elapsed_s,
          ctl_phase_ok_rate(ph));
  fprintf(f, "  streams  %u, %u ended OK%s%s\n", ph->streams, ph->streams_ok,
          ph->stream_error[0] != '\0' ? "; first other end: " : "",
          ph->stream_error);
}

static void text_phase(FILE *f, const ctl_phase *ph, ctl_mode mode,
                       uint32_t max_inflight) {
  fprintf(f, "%s\n", ph->name);
  if (mode == CTL_MODE_BIDI) {
    text_bidi_head(f, ph);
  } else {
    fprintf(f, "  sent     %llu of %llu scheduled in %.3f s = %.1f req/s",
            (unsigned long long)ph->sent, (unsigned long long)ph->scheduled,
            ph->elapsed_s, ctl_phase_rate(ph));
    if (mode == CTL_MODE_OPEN && ph->target_rate > 0) {
      fprintf(f, " (target %.1f req/s)", ph->target_rate);
    }
    fprintf(f, "\n  dropped (in-flight cap %u) %llu, send errors %llu\n",
            max_inflight, (unsigned long long)ph->dropped_inflight,
            (unsigned long long)ph->send_errors);
  }
  fprintf(f, "  statuses ");
  bool any = false;
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    if (ph->status[c] > 0) {
      fprintf(f, "%s%s %llu", any ? ", " : "",
              cp_status_code_name((cp_status_code)c),
              (unsigned long long)ph->status[c]);
      any = true;
    }
  }
  fprintf(f, "%s (completed %llu)\n", any ? "" : "none",
          (unsigned long long)ph->completed);
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    if (c != CP_STATUS_OK && ph->status[c] > 0) {
      fprintf(f, "  first    %s: %s\n", cp_status_code_name((cp_status_code)c),
              ph->first_message[c][0] != '\0' ? ph->first_message[c]
                                              : "(no message)");
    }
  }
  if (mode == CTL_MODE_CLOSED) {
    fprintf(f, "  throughput %.1f OK calls/s (%llu OK while the loop ran)\n",
            ctl_phase_ok_rate(ph), (unsigned long long)ph->ok_in_window);
  }
  text_latency(f, "OK", ph->ok);
  text_latency(f, "all", ph->all);
}

void ctl_report_text(FILE *f, const ctl_report *rep) {
  const ctl_setup *s = rep->setup;
  const ctl_result *r = rep->result;
  const ctl_plan *p = &s->plan;
  fprintf(f, "\ncpluginctl load: %s: %s\n", ctl_preset_name(s->preset),
          s->description);
  fprintf(f, "host     %s%s\n", rep->target,
          rep->host_command != NULL ? " (started by cpluginctl)" : "");
  if (rep->host_command != NULL) {
    fprintf(f, "         %s\n", rep->host_command);
  }
  if (rep->metrics_port > 0) {
    fprintf(f, "         metrics http://127.0.0.1:%d/metrics\n",
            rep->metrics_port);
  }
  if (rep->provider != NULL) {
    fprintf(f, "provider %s\n", rep->provider);
    if (rep->provider_command != NULL) {
      fprintf(f, "         %s\n", rep->provider_command);
    }
  }
  if (rep->middle_command != NULL) {
    fprintf(f, "middle   %s\n", rep->middle_command);
  }
  if (s->needs_middle) {
    fprintf(f, "ceiling  %.1f calls/s (%s style)\n", s->ceiling,
            ctl_middle_style_name(s->middle));
  }
  if (p->mode == CTL_MODE_BIDI) {
    fprintf(f,
            "latency  per message: its send to its echo; each stream its own "
            "plugin (identity, connection) and thread\n");
  } else {
    fprintf(f,
            "latency  from the %s send time; each plugin its own identity "
            "and connection\n",
            p->mode == CTL_MODE_CLOSED ? "actual" : "scheduled");
  }
  if (r->interrupted) {
    fprintf(f, "NOTE     interrupted: the figures cover the run until then\n");
  }
  if (r->request_cap_hit) {
    fprintf(f, "NOTE     stopped at --max-requests %llu\n",
            (unsigned long long)p->max_requests);
  }
  ctl_report_fleet_text(f, &r->fleet);
  fprintf(f, "\n");
  for (size_t i = 0; i < r->phase_count; i++) {
    text_phase(f, &r->phases[i], p->mode, p->max_inflight);
  }
  if (r->phase_count > 1) {
    text_phase(f, &r->total, p->mode, p->max_inflight);
  }
  if (rep->check_count > 0) {
    fprintf(f, "\nchecks (performance guide)\n");
  }
  for (size_t i = 0; i < rep->check_count; i++) {
    const ctl_check *c = &rep->checks[i];
    const char *verdict = c->behaviour ? (c->pass ? "PASS" : "FAIL")
                                       : (c->pass ? "met" : "not met");
    fprintf(f, "  [%s] %s: %s\n         measured: %s\n", verdict, c->what,
            c->expected, c->measured);
  }
  if (rep->has_host_served) {
    fprintf(f, "\nhost SERVED ok=%llu", (unsigned long long)rep->host_served);
  }
  if (rep->has_provider_served) {
    fprintf(f, "%sprovider SERVED ok=%llu", rep->has_host_served ? ", " : "\n",
            (unsigned long long)rep->provider_served);
  }
  if (rep->has_middle_served) {
    fprintf(f, "%smiddle SERVED ok=%llu",
            rep->has_host_served || rep->has_provider_served ? ", " : "\n",
            (unsigned long long)rep->middle_served);
  }
  if (rep->has_host_served || rep->has_provider_served ||
      rep->has_middle_served) {
    if (p->mode == CTL_MODE_BIDI) {
      fprintf(f,
              " (Chat messages echoed; the client saw OK %llu, plus %zu "
              "unmeasured warm-up messages, one per stream)\n",
              (unsigned long long)r->total.status[CP_STATUS_OK],
              (size_t)p->plugins * p->kind_count);
    } else {
      fprintf(f, " (calls the handlers answered OK; the client saw OK %llu)\n",
              (unsigned long long)r->total.status[CP_STATUS_OK]);
    }
  }
  fflush(f);
}

/* --- JSON --------------------------------------------------------------- */

static void json_latency(FILE *f, const ctl_hist *h) {
  fprintf(f, "{\"count\": %llu", (unsigned long long)ctl_hist_count(h));
  for (int i = 0; i < QUANTILES; i++) {
    fprintf(f, ", \"%s\": %.6f", kQuantileJson[i],
            ms(ctl_hist_quantile(h, kQuantiles[i])));
  }
  fprintf(f, ", \"max\": %.6f, \"mean\": %.6f}", ms(ctl_hist_max(h)),
          ctl_hist_mean(h) / 1e6);
}

static void json_phase(FILE *f, const ctl_phase *ph, bool bidi) {
  fprintf(f, "{\"name\": ");
  ctl_json_string(f, ph->name);
  fprintf(f,
          ", \"target_rate\": %.3f, \"planned_s\": %.3f, \"elapsed_s\": %.6f"
          ", \"scheduled\": %llu, \"sent\": %llu, \"achieved_rate\": %.3f"
          ", \"dropped_inflight\": %llu, \"send_errors\": %llu"
          ", \"completed\": %llu, \"ok_in_window\": %llu"
          ", \"ok_rate\": %.3f, \"statuses\": {",
          ph->target_rate, ph->planned_s, ph->elapsed_s,
          (unsigned long long)ph->scheduled, (unsigned long long)ph->sent,
          ctl_phase_rate(ph), (unsigned long long)ph->dropped_inflight,
          (unsigned long long)ph->send_errors,
          (unsigned long long)ph->completed,
          (unsigned long long)ph->ok_in_window, ctl_phase_ok_rate(ph));
  bool any = false;
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    if (ph->status[c] > 0) {
      fprintf(f, "%s\"%s\": %llu", any ? ", " : "",
              cp_status_code_name((cp_status_code)c),
              (unsigned long long)ph->status[c]);
      any = true;
    }
  }
  fprintf(f, "}, \"first_messages\": {");
  any = false;
  for (int c = 0; c < CP_STATUS_CODE_COUNT; c++) {
    if (c != CP_STATUS_OK && ph->status[c] > 0) {
      fprintf(f, "%s\"%s\": ", any ? ", " : "",
              cp_status_code_name((cp_status_code)c));
      ctl_json_string(f, ph->first_message[c]);
      any = true;
    }
  }
  fprintf(f, "}, ");
  if (bidi) {
    fprintf(f, "\"streams\": %u, \"streams_ok\": %u, \"stream_error\": ",
            ph->streams, ph->streams_ok);
    ctl_json_string(f, ph->stream_error);
    fprintf(f, ", ");
  }
  fprintf(f, "\"latency_ms\": {\"ok\": ");
  json_latency(f, ph->ok);
  fprintf(f, ", \"all\": ");
  json_latency(f, ph->all);
  fprintf(f, "}}");
}

static void json_served(FILE *f, bool has, uint64_t n) {
  if (has) {
    fprintf(f, "%llu", (unsigned long long)n);
  } else {
    fputs("null", f);
  }
}

int ctl_report_json(FILE *f, const ctl_report *rep) {
  const ctl_setup *s = rep->setup;
  const ctl_result *r = rep->result;
  const ctl_plan *p = &s->plan;
  fprintf(f, "{\n  \"preset\": ");
  ctl_json_string(f, ctl_preset_name(s->preset));
  fprintf(f, ",\n  \"description\": ");
  ctl_json_string(f, s->description);
  fprintf(f, ",\n  \"mode\": ");
  ctl_json_string(f, mode_name(p->mode));
  fprintf(f, ",\n  \"target\": ");
  ctl_json_string(f, rep->target);
  fprintf(f, ",\n  \"provider\": ");
  ctl_json_string(f, rep->provider);
  fprintf(f, ",\n  \"host_command\": ");
  ctl_json_string(f, rep->host_command);
  fprintf(f, ",\n  \"provider_command\": ");
  ctl_json_string(f, rep->provider_command);
  fprintf(f, ",\n  \"middle_command\": ");
  ctl_json_string(f, rep->middle_command);
  if (s->needs_middle) {
    double ratio =
        s->ceiling > 0 ? ctl_phase_ok_rate(&r->total) / s->ceiling : 0;
    fprintf(f,
            ",\n  \"fanout\": {\"middle\": \"%s\", \"middle_threads\": %u"
            ", \"pool_threads\": %u, \"delay_ms\": %u"
            ", \"concurrency\": %u, \"ceiling\": %.3f"
            ", \"ok_rate\": %.3f, \"ratio\": %.4f}",
            ctl_middle_style_name(s->middle), s->middle_threads,
            s->middle == CTL_MIDDLE_POOL ? s->pool_threads : 0,
            s->provider_delay_ms, p->concurrency, s->ceiling,
            ctl_phase_ok_rate(&r->total), ratio);
  }
  if (r->fleet.present) {
    fprintf(f, ",\n  ");
    ctl_report_fleet_json(f, &r->fleet);
  }
  if (p->mode == CTL_MODE_BIDI) {
    fprintf(f,
            ",\n  \"bidi\": {\"streams_per_kind\": %u, \"slice_ms\": %u"
            ", \"warmup_messages\": %zu}",
            p->plugins, p->slice_ms, (size_t)p->plugins * p->kind_count);
  }
  fprintf(f,
          ",\n  \"plugins\": %u,\n  \"max_inflight\": %u,\n"
          "  \"max_requests\": %llu,\n  \"timeout_ms\": %u,\n"
          "  \"payload_bytes\": %u,\n  \"latency_from\": \"%s\",\n"
          "  \"interrupted\": %s,\n  \"request_cap_hit\": %s,\n"
          "  \"wall_s\": %.6f,\n  \"phases\": [",
          p->plugins, p->max_inflight, (unsigned long long)p->max_requests,
          p->timeout_ms, p->payload_bytes,
          p->mode == CTL_MODE_BIDI     ? "message send to its echo"
          : p->mode == CTL_MODE_CLOSED ? "actual send"
                                       : "scheduled send",
          r->interrupted ? "true" : "false",
          r->request_cap_hit ? "true" : "false", r->wall_s);
  for (size_t i = 0; i < r->phase_count; i++) {
    fprintf(f, "%s\n    ", i > 0 ? "," : "");
    json_phase(f, &r->phases[i], p->mode == CTL_MODE_BIDI);
  }
  fprintf(f, "\n  ],\n  \"total\": ");
  json_phase(f, &r->total, p->mode == CTL_MODE_BIDI);
  fprintf(f, ",\n  \"checks\": [");
  for (size_t i = 0; i < rep->check_count; i++) {
    const ctl_check *c = &rep->checks[i];
    fprintf(f, "%s\n    {\"what\": ", i > 0 ? "," : "");
    ctl_json_string(f, c->what);
    fprintf(f, ", \"expected\": ");
    ctl_json_string(f, c->expected);
    fprintf(f, ", \"measured\": ");
    ctl_json_string(f, c->measured);
    fprintf(f, ", \"kind\": \"%s\", \"pass\": %s}",
            c->behaviour ? "behaviour" : "guide", c->pass ? "true" : "false");
  }
  fprintf(f, "\n  ],\n  \"served\": {\"host_ok\": ");
  json_served(f, rep->has_host_served, rep->host_served);
  fprintf(f, ", \"provider_ok\": ");
  json_served(f, rep->has_provider_served, rep->provider_served);
  fprintf(f, ", \"middle_ok\": ");
  json_served(f, rep->has_middle_served, rep->middle_served);
  fprintf(f, "}\n}\n");
  return ferror(f) ? -1 : 0;
}
