/* The fleet's report. */
#include "report_fleet.h"

#include "json_out.h"

/* Every fifth sample in the text (all of them in the JSON), and each one
 * where the phase changed. */
enum { TEXT_EVERY = 5 };

static double ms(int64_t ns) {
  return (double)ns / 1e6;
}

static double mib(uint64_t bytes) {
  return (double)bytes / 1048576;
}

static const char *phase_name(int phase) {
  return phase == CTL_FLEET_RAMP   ? "ramp"
         : phase == CTL_FLEET_HOLD ? "hold"
                                   : "close";
}

static void text_samples(FILE *f, const ctl_fleet_result *r) {
  fprintf(f,
          "host     over time (/proc, every second; CPU as a share of one "
          "core)\n"
          "           t s  phase  plugins   CPU %%   RSS MiB\n");
  for (size_t i = 0; i < r->sample_count; i++) {
    const ctl_sample *x = &r->samples[i];
    bool changed = i > 0 && x->phase != r->samples[i - 1].phase;
    if (i % TEXT_EVERY != 0 && !changed && i + 1 != r->sample_count) {
      continue;
    }
    fprintf(f, "         %6.1f  %-5s  %7u  %6.1f  %8.1f\n", x->t_s,
            phase_name(x->phase), x->plugins, x->cpu_percent,
            mib(x->rss_bytes));
  }
  fprintf(f,
          "memory   RSS %.1f MiB before the joins, %.1f MiB held (median of "
          "the hold), peak %.1f MiB\n"
          "         = %.1f KiB per connected plugin; host CPU %.0f%% of one "
          "core during the hold\n",
          mib(r->rss_before), mib(r->rss_held), mib(r->rss_peak),
          r->bytes_per_plugin / 1024, r->hold_cpu_percent);
}

void ctl_report_fleet_text(FILE *f, const ctl_fleet_result *r) {
  if (!r->present) {
    return;
  }
  fprintf(
      f,
      "fleet    %u of %u plugins joined in %.1f s (planned %g s); join "
      "p50 %.3f ms, p99 %.3f ms\n"
      "         watches: first events %u, events %llu, ended early %u%s%s\n",
      r->joined, r->plugins, r->ramp_s, r->ramp_planned_s,
      ms(ctl_hist_quantile(r->join, 0.5)), ms(ctl_hist_quantile(r->join, 0.99)),
      r->first_events, (unsigned long long)r->events, r->ended_early,
      r->ended_early > 0 ? "; first: " : "",
      r->ended_early > 0 ? r->first_end : "");
  if (r->sample_count > 0) {
    text_samples(f, r);
  } else {
    fprintf(f, "host     not sampled: not started by cpluginctl\n");
  }
}

void ctl_report_fleet_json(FILE *f, const ctl_fleet_result *r) {
  fprintf(f,
          "\"fleet\": {\"plugins\": %u, \"joined\": %u, \"ramp_planned_s\": "
          "%.3f, \"ramp_s\": %.3f, \"join_ms\": {\"p50\": %.6f, \"p99\": "
          "%.6f, \"max\": %.6f}, \"first_events\": %u, \"events\": %llu, "
          "\"ended_early\": %u, \"first_end\": ",
          r->plugins, r->joined, r->ramp_planned_s, r->ramp_s,
          ms(ctl_hist_quantile(r->join, 0.5)),
          ms(ctl_hist_quantile(r->join, 0.99)), ms(ctl_hist_max(r->join)),
          r->first_events, (unsigned long long)r->events, r->ended_early);
  ctl_json_string(f, r->ended_early > 0 ? r->first_end : NULL);
  fprintf(f,
          ", \"rss_before_bytes\": %llu, \"rss_held_bytes\": %llu, "
          "\"rss_peak_bytes\": %llu, \"bytes_per_plugin\": %.1f, "
          "\"hold_cpu_percent\": %.2f, \"samples\": [",
          (unsigned long long)r->rss_before, (unsigned long long)r->rss_held,
          (unsigned long long)r->rss_peak, r->bytes_per_plugin,
          r->hold_cpu_percent);
  for (size_t i = 0; i < r->sample_count; i++) {
    const ctl_sample *x = &r->samples[i];
    fprintf(f,
            "%s\n    {\"t_s\": %.3f, \"phase\": \"%s\", \"plugins\": %u, "
            "\"cpu_percent\": %.2f, \"rss_bytes\": %llu}",
            i > 0 ? "," : "", x->t_s, phase_name(x->phase), x->plugins,
            x->cpu_percent, (unsigned long long)x->rss_bytes);
  }
  fprintf(f, "]}");
}
