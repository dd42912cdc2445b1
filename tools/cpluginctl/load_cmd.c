/* `cpluginctl load`: set up the preset, start the host (and provider, and
 * for fanout the middle plugin) unless --target names one, run, stop what
 * was started, report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absl_quiet.h"
#include "bidi.h"
#include "children.h"
#include "cli.h"
#include "commands.h"
#include "cplugin/cplugin.h"
#include "fleet.h"
#include "host_sampler.h"
#include "loadgen.h"
#include "presets.h"
#include "report.h"
#include "signals.h"
#include "tls_setup.h"

enum {
  CHILD_START_TIMEOUT_MS = 30000, /* generous: sanitizer builds start slowly */
  CHILD_STOP_TIMEOUT_MS = 15000,
  SAMPLE_INTERVAL_MS = 1000
};

typedef struct started {
  ctl_tls_files tls; /* burst-tls: the host's certificate */
  ctl_child host;
  ctl_child provider;
  ctl_child middle;
  char target[64];
  char provider_addr[64];
  char host_command[512];
  char provider_command[512];
  char middle_command[512];
  int metrics_port;
} started;

/* "cpluginctl serve --listen ..." for the report. */
static void join_args(char *out, size_t cap, char *const argv[]) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; argv[i] != NULL && len < cap; i++) {
    int w = snprintf(out + len, cap - len, "%s%s", i > 0 ? " " : "", argv[i]);
    len += w > 0 ? (size_t)w : 0;
  }
}

static int start_host(const ctl_load_args *a, const ctl_setup *s, started *st) {
  char rate[16];
  char burst[16];
  char threads[16];
  snprintf(rate, sizeof rate, "%u", s->limit_rate);
  snprintf(burst, sizeof burst, "%u", s->limit_burst);
  snprintf(threads, sizeof threads, "%u", a->serve_threads);
  char *argv[30];
  size_t n = 0;
  argv[n++] = "cpluginctl";
  argv[n++] = "serve";
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--chain";
  argv[n++] = a->chain ? "on" : "off";
  if (s->limit_rate > 0) {
    argv[n++] = "--rate";
    argv[n++] = rate;
    argv[n++] = "--burst";
    argv[n++] = burst;
  }
  if (a->serve_threads > 0) {
    argv[n++] = "--threads";
    argv[n++] = threads;
  }
  if (s->tls) {
    argv[n++] = "--tls-cert";
    argv[n++] = st->tls.cert;
    argv[n++] = "--tls-key";
    argv[n++] = st->tls.key;
  }
  char hs_rate[16];
  char hs_burst[16];
  if (s->handshake_rate > 0) {
    snprintf(hs_rate, sizeof hs_rate, "%u", s->handshake_rate);
    snprintf(hs_burst, sizeof hs_burst, "%u", s->handshake_burst);
    argv[n++] = "--handshake-rate";
    argv[n++] = hs_rate;
    argv[n++] = "--handshake-burst";
    argv[n++] = hs_burst;
  }
  char watchers[16];
  if (s->max_watchers > 0) {
    snprintf(watchers, sizeof watchers, "%u", s->max_watchers);
    argv[n++] = "--max-watchers";
    argv[n++] = watchers;
  }
  argv[n++] = "--metrics-port";
  argv[n++] = "0";
  if (s->needs_provider) {
    /* Echo is not the host's: the callers' calls are routed. */
    argv[n++] = "--provider-type";
    argv[n++] = (char *)s->plan.service_type;
  }
  argv[n] = NULL;
  join_args(st->host_command, sizeof st->host_command, argv);
  char port[32];
  char metrics[32];
  if (ctl_child_start(&st->host, "serve", argv) != 0 ||
      ctl_child_expect(&st->host, "LISTENING ", port, sizeof port,
                       CHILD_START_TIMEOUT_MS) != 0 ||
      ctl_child_expect(&st->host, "METRICS ", metrics, sizeof metrics,
                       CHILD_START_TIMEOUT_MS) != 0) {
    return -1;
  }
  snprintf(st->target, sizeof st->target, "127.0.0.1:%s", port);
  st->metrics_port = (int)strtol(metrics, NULL, 10);
  return 0;
}

/* Starts a self-registering child (provider, middle) and waits until the
 * host accepted its registration; `port` receives its listening port. */
static int start_plugin(ctl_child *c, const char *name, char *const argv[],
                        char *port, size_t port_cap) {
  char ignored[8];
  if (ctl_child_start(c, name, argv) != 0 ||
      ctl_child_expect(c, "LISTENING ", port, port_cap,
                       CHILD_START_TIMEOUT_MS) != 0 ||
      ctl_child_expect(c, "REGISTERED", ignored, sizeof ignored,
                       CHILD_START_TIMEOUT_MS) != 0) {
    return -1;
  }
  return 0;
}

static int start_provider(const ctl_setup *s, started *st) {
  char delay[16];
  snprintf(delay, sizeof delay, "%u", s->provider_delay_ms);
  char *argv[11] = {"cpluginctl", "provider", "--host",
                    st->target,   "--type",   (char *)s->provider_type};
  size_t n = 6;
  if (s->provider_delay_ms > 0) {
    argv[n++] = "--id";
    argv[n++] = "load-delayed";
    argv[n++] = "--delay-ms";
    argv[n++] = delay;
  }
  argv[n] = NULL;
  join_args(st->provider_command, sizeof st->provider_command, argv);
  char port[32];
  if (start_plugin(&st->provider, "provider", argv, port, sizeof port) != 0) {
    return -1;
  }
  snprintf(st->provider_addr, sizeof st->provider_addr, "127.0.0.1:%s", port);
  return 0;
}

static int start_middle(const ctl_setup *s, started *st) {
  char threads[16];
  char pool[16];
  snprintf(threads, sizeof threads, "%u", s->middle_threads);
  snprintf(pool, sizeof pool, "%u", s->pool_threads);
  char *argv[16] = {"cpluginctl", "middle",
                    "--host",     st->target,
                    "--type",     CTL_FANOUT_MIDDLE_TYPE,
                    "--calls",    (char *)s->provider_type,
                    "--threads",  threads,
                    "--style",    (char *)ctl_middle_style_name(s->middle)};
  size_t n = 12;
  if (s->middle == CTL_MIDDLE_POOL) {
    argv[n++] = "--pool-threads";
    argv[n++] = pool;
  }
  argv[n] = NULL;
  join_args(st->middle_command, sizeof st->middle_command, argv);
  char port[32];
  return start_plugin(&st->middle, "middle", argv, port, sizeof port);
}

/* The middle plugin first (its calls need the provider), then the
 * provider: each unregisters from the host while the host runs. Returns -1
 * when a child did not exit cleanly (status 0): its figures, and so the
 * run's, are then suspect. */
static int stop_children(started *st, ctl_report *rep) {
  bool has = false;
  uint64_t served = 0;
  int rc = 0;
  bool was_running = st->middle.pid > 0;
  if (ctl_child_stop(&st->middle, CHILD_STOP_TIMEOUT_MS, &has, &served) != 0 &&
      was_running) {
    fprintf(stderr,
            "cpluginctl load: the middle plugin did not exit cleanly\n");
    rc = -1;
  }
  rep->has_middle_served = has;
  rep->middle_served = served;
  has = false;
  served = 0;
  was_running = st->provider.pid > 0;
  if (ctl_child_stop(&st->provider, CHILD_STOP_TIMEOUT_MS, &has, &served) !=
          0 &&
      was_running) {
    fprintf(stderr, "cpluginctl load: the provider did not exit cleanly\n");
    rc = -1;
  }
  rep->has_provider_served = has;
  rep->provider_served = served;
  was_running = st->host.pid > 0;
  if (ctl_child_stop(&st->host, CHILD_STOP_TIMEOUT_MS, &has, &served) != 0 &&
      was_running) {
    fprintf(stderr, "cpluginctl load: the host did not exit cleanly\n");
    rc = -1;
  }
  rep->has_host_served = has;
  rep->host_served = served;
  return rc;
}

/* The fleet's counters, and the sampler of a host this run started (with
 * --target there is no process to sample: the report says so). */
static int start_fleet(ctl_setup *s, const started *st, ctl_fleet_stats *fleet,
                       ctl_sampler **sampler) {
  if (ctl_fleet_stats_init(fleet) != 0) {
    fprintf(stderr, "cpluginctl load: out of memory\n");
    return -1;
  }
  s->plan.fleet = fleet;
  if (st->host.pid <= 0) {
    return 0;
  }
  /* One sample a second over the ramp, the hold and the drain. */
  size_t max = (size_t)(s->plan.ramp_s + s->plan.segments[0].duration_s) + 120;
  char err[160];
  if (ctl_sampler_start(sampler, st->host.pid, SAMPLE_INTERVAL_MS, max,
                        &fleet->joined, &fleet->phase, err, sizeof err) != 0) {
    fprintf(stderr, "cpluginctl load: %s\n", err);
    ctl_fleet_stats_destroy(fleet);
    return -1;
  }
  return 0;
}

static int write_json(const char *path, const ctl_report *rep) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  int rc = ctl_report_json(f, rep);
  if (fclose(f) != 0) {
    rc = -1;
  }
  if (rc != 0) {
    fprintf(stderr, "cpluginctl load: cannot write %s\n", path);
  }
  return rc;
}

static int exit_status(const ctl_result *r, const ctl_check *checks, size_t n) {
  if (r->interrupted) {
    return CTL_EXIT_INTERRUPTED;
  }
  for (size_t i = 0; i < n; i++) {
    if (checks[i].behaviour && !checks[i].pass) {
      return CTL_EXIT_CHECK;
    }
  }
  return CTL_EXIT_OK;
}

int ctl_cmd_load(int argc, char **argv) {
  ctl_load_args a;
  char err[512];
  int p = ctl_parse_load(argc, argv, &a, err, sizeof err);
  if (p != CTL_PARSE_OK) {
    return ctl_usage_exit("load", p, err);
  }
  ctl_setup s;
  ctl_preset_setup(&a, &s);
  /* The generator's own process only (absl_quiet.h). */
  (void)ctl_absl_quiet_deadlock_detector();
  started st;
  memset(&st, 0, sizeof st);
  ctl_report rep;
  memset(&rep, 0, sizeof rep);
  rep.metrics_port = -1;

  /* Children first: fork() before any gRPC thread exists. */
  if (a.target == NULL) {
    int rc = 0;
    if (s.tls && ctl_tls_make(&st.tls, err, sizeof err) != 0) {
      fprintf(stderr, "cpluginctl load: %s\n", err);
      return CTL_EXIT_FAILED;
    }
    if (s.tls) {
      s.plan.host_tls_root = st.tls.cert;
    }
    rc = start_host(&a, &s, &st);
    if (rc == 0 && s.needs_provider) {
      rc = start_provider(&s, &st);
    }
    if (rc == 0 && s.needs_middle) {
      rc = start_middle(&s, &st);
    }
    if (rc != 0) {
      fprintf(stderr, "cpluginctl load: cannot start the %s\n",
              st.middle.pid != 0     ? "middle plugin"
              : st.provider.pid != 0 ? "provider"
                                     : "host");
      (void)stop_children(&st, &rep);
      ctl_tls_remove(&st.tls);
      return CTL_EXIT_FAILED;
    }
    s.plan.host_target = st.target;
    /* fanout's callers reach the provider only through the middle. */
    s.plan.provider_target =
        s.needs_provider && !s.needs_middle ? st.provider_addr : NULL;
    rep.host_command = st.host_command;
    rep.provider_command = s.needs_provider ? st.provider_command : NULL;
    rep.middle_command = s.needs_middle ? st.middle_command : NULL;
    rep.metrics_port = st.metrics_port;
  } else {
    s.plan.host_target = a.target;
    s.plan.provider_target = a.provider;
    /* Not our host: its limits are unknown. */
    s.limit_rate = 0;
    s.limit_burst = 0;
  }
  rep.setup = &s;
  rep.target = s.plan.host_target;
  rep.provider = s.plan.provider_target != NULL ? s.plan.provider_target
                 : st.provider_addr[0] != '\0'  ? st.provider_addr
                                                : NULL;
  fprintf(stderr, "cpluginctl load: %s: %u plugin(s) handshaking with %s\n",
          ctl_preset_name(s.preset), s.plan.plugins, s.plan.host_target);

  ctl_fleet_stats fleet;
  ctl_sampler *sampler = NULL;
  if (s.fleet && start_fleet(&s, &st, &fleet, &sampler) != 0) {
    (void)stop_children(&st, &rep);
    ctl_tls_remove(&st.tls);
    return CTL_EXIT_FAILED;
  }
  ctl_result res;
  int rc = s.plan.mode == CTL_MODE_BIDI
               ? ctl_run_bidi(&s.plan, &res, err, sizeof err)
               : ctl_run(&s.plan, &res, err, sizeof err);
  if (s.fleet) {
    ctl_sample *samples = NULL;
    size_t sample_count = 0;
    ctl_sampler_stop(sampler, &samples, &sample_count);
    ctl_fleet_result_fill(&res.fleet, &fleet, s.plan.plugins, s.plan.ramp_s,
                          samples, sample_count);
    ctl_fleet_stats_destroy(&fleet);
  }
  bool children_ok = stop_children(&st, &rep) == 0;
  ctl_tls_remove(&st.tls);
  if (rc != 0) {
    fprintf(stderr, "cpluginctl load: %s\n", err);
    ctl_result_free(&res);
    return ctl_stop_latched() ? CTL_EXIT_INTERRUPTED : CTL_EXIT_FAILED;
  }
  ctl_check checks[CTL_MAX_CHECKS];
  size_t n = ctl_preset_checks(&s, &res, checks, CTL_MAX_CHECKS);
  rep.result = &res;
  rep.checks = checks;
  rep.check_count = n;
  ctl_report_text(stdout, &rep);
  int status = exit_status(&res, checks, n);
  if (!children_ok && status == CTL_EXIT_OK) {
    status = CTL_EXIT_FAILED;
  }
  if (a.json_path != NULL && write_json(a.json_path, &rep) != 0) {
    status = CTL_EXIT_FAILED;
  }
  ctl_result_free(&res);
  return status;
}
