/* Command-line parsing: strict numbers (digits only, bounded), loopback
 * addresses only, and every combination that cannot mean anything refused
 * with a reason rather than guessed. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- usage -------------------------------------------------------------- */

static const char kUsageMain[] =
    "usage: cpluginctl <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      a cplugin host serving /cplugin.load.v1.LoadService/Echo\n"
    "  handshake  handshake with a host, print RUNTIME_ID= and "
    "RUNTIME_TOKEN=\n"
    "  provider   a self-registering plugin serving LoadService\n"
    "  middle     a self-registering plugin whose Echo makes one routed "
    "call\n"
    "  load       the load generator (presets: steady, burst, ratelimit, "
    "routed,\n"
    "             fanout, bidi, handshake-flood, burst-tls, fleet)\n"
    "\n"
    "admin commands (a host's admin service, with its API key):\n"
    "  status     the host and its managed plugins\n"
    "  plugins    add|remove|replace|restart NAME\n"
    "  registry   list [TYPE]: every registration\n"
    "  watch      TYPE: registry events until Ctrl-C or --count N\n"
    "  limits     the rate-limit rules the host applies, with denials\n"
    "\n"
    "cpluginctl <command> --help shows the command's options.\n";

static const char kUsageServe[] =
    "usage: cpluginctl serve [--listen ADDR] [--chain on|off]\n"
    "                        [--rate R] [--burst B] [--handshake-rate R]\n"
    "                        [--handshake-burst B]\n"
    "                        [--tls-cert FILE --tls-key FILE]\n"
    "                        [--threads N] [--metrics-port P|off]\n"
    "                        [--provider-type T] [--busy-poll-us US]\n"
    "                        [--redis ADDR] [--etcd ENDPOINTS]\n"
    "                        [--max-watchers N]\n"
    "  --listen ADDR       loopback only: 127.0.0.1:PORT, [::1]:PORT,\n"
    "                      localhost:PORT or unix:PATH "
    "(default 127.0.0.1:0)\n"
    "  --chain on|off      auth + per-identity rate limit + metrics hook "
    "(on)\n"
    "  --rate R            Echo calls per second per identity (default "
    "1000000000)\n"
    "  --burst B           bucket size of that limit (default: the rate)\n"
    "  --handshake-rate R  handshakes per second per peer address (default\n"
    "                      1000)\n"
    "  --handshake-burst B bucket size of that limit (default: the rate)\n"
    "  --tls-cert FILE     serve TLS with this PEM certificate chain ...\n"
    "  --tls-key FILE      ... and this PEM private key (default: plaintext)\n"
    "  --threads N         server threads (default: half the CPUs)\n"
    "  --busy-poll-us US   poll without sleeping this long after each event\n"
    "                      (0..10000, default 0 = off)\n"
    "  --metrics-port P    /metrics listener port, 0 = any, off = none "
    "(default 0)\n"
    "  --provider-type T   do not answer Echo here: providers of type T do,\n"
    "                      through the router (x-cplugin-service-type: T)\n"
    "  --redis ADDR        share the rate limits through the Redis at ADDR\n"
    "                      (HOST:PORT or unix:PATH; "
    "cplugin/ratelimit_redis.h)\n"
    "  --etcd ENDPOINTS    share identities and the registry through etcd\n"
    "                      (secret: CPLUGIN_REPLICA_SECRET; "
    "cplugin/replicas.h)\n"
    "stdout: LISTENING <port>, METRICS <port> (when on); at SIGINT/SIGTERM\n"
    "        SERVED ok=<Echo calls answered OK>\n";

static const char kUsageHandshake[] =
    "usage: cpluginctl handshake --target ADDR [--id NAME]\n"
    "  --target ADDR  the host (loopback only)\n"
    "  --id NAME      self_id to ask a runtime identity for (default "
    "cpluginctl)\n"
    "stdout: RUNTIME_ID=<id> and RUNTIME_TOKEN=<token> (shell-evaluable)\n";

static const char kUsageProvider[] =
    "usage: cpluginctl provider --host ADDR [--type T] [--id NAME]\n"
    "                           [--listen ADDR] [--threads N] [--delay-ms MS]\n"
    "  --host ADDR    the host to register with (loopback only)\n"
    "  --type T       service type to provide LoadService as (default load)\n"
    "  --id NAME      self_id (default load-provider)\n"
    "  --listen ADDR  where to serve (loopback only, default 127.0.0.1:0)\n"
    "  --threads N    server threads (default: half the CPUs)\n"
    "  --delay-ms MS  answer Echo MS milliseconds after it arrived, holding\n"
    "                 no thread meanwhile (default 0: at once)\n"
    "stdout: LISTENING <port>, REGISTERED; at SIGINT/SIGTERM SERVED ok=<n>\n";

static const char kUsageMiddle[] =
    "usage: cpluginctl middle --host ADDR [--type T] [--calls T] [--id NAME]\n"
    "                         [--listen ADDR] [--threads N]\n"
    "                         [--style deferred|pool|blocking]\n"
    "                         [--pool-threads N]\n"
    "  --host ADDR        the host to register with (loopback only)\n"
    "  --type T           service type to provide LoadService as (default\n"
    "                     fanout)\n"
    "  --calls T          each Echo makes one Echo call routed by the host to\n"
    "                     a provider of type T (default delayed)\n"
    "  --id NAME          self_id (default load-middle)\n"
    "  --listen ADDR      where to serve (loopback only, default "
    "127.0.0.1:0)\n"
    "  --threads N        server completion-queue threads (default 2)\n"
    "  --style S          deferred: defer the reply, call asynchronously\n"
    "                     pool: a blocking call on a worker pool thread\n"
    "                     blocking: a blocking call on a completion-queue\n"
    "                     thread (default deferred)\n"
    "  --pool-threads N   the worker pool's threads (pool only, default 16)\n"
    "stdout: LISTENING <port>, REGISTERED; at SIGINT/SIGTERM SERVED ok=<n>\n";

static const char kUsageLoad[] =
    "usage: cpluginctl load [--preset "
    "steady|burst|ratelimit|routed|fanout|bidi|\n"
    "                                handshake-flood|burst-tls|fleet]\n"
    "                       [--rate R | --concurrency C | --requests N]\n"
    "                       [--plugins N] [--duration S] [--target ADDR]\n"
    "                       [--provider ADDR] [--chain on|off]\n"
    "                       [--serve-threads N] [--payload BYTES]\n"
    "                       [--timeout-ms MS] [--max-inflight N]\n"
    "                       [--max-requests N] [--json FILE]\n"
    "                       [--middle deferred|pool|blocking]\n"
    "                       [--middle-threads N] [--pool-threads N]\n"
    "                       [--delay-ms MS] [--streams N] [--ramp S]\n"
    "  --preset P        steady: 100 plugins x 10 req/s for 60 s\n"
    "                    burst: 100 plugins, ramp 100 -> 5000 req/s, hold\n"
    "                    ratelimit: one identity, 1000 calls at once\n"
    "                    routed: steady through the host's router, and the\n"
    "                    same rate directly to the provider\n"
    "                    fanout: 256 calls in flight through the host to a\n"
    "                    middle plugin (2 threads) whose Echo makes one\n"
    "                    routed call to a provider answering after 50 ms\n"
    "                    bidi: N Chat streams through the host's router and\n"
    "                    N straight to the provider, ping-pong, 20 s\n"
    "                    handshake-flood: 1000 Handshakes at once from one\n"
    "                    address, each with a spoofed x-plugin-runtime-id\n"
    "                    burst-tls: burst against a host serving TLS (a\n"
    "                    self-signed certificate made with openssl)\n"
    "                    fleet: 5000 plugins, each with its own connection,\n"
    "                    identity, registration and watch stream, joining\n"
    "                    over 60 s, then 1 call/s each for 60 s; reports the\n"
    "                    host's CPU and memory over time\n"
    "  --rate R          open loop: R calls per second in total, latency\n"
    "                    from the scheduled send time (burst: the peak)\n"
    "  --concurrency C   closed loop: C calls in flight (custom runs and\n"
    "                    fanout)\n"
    "  --requests N      one volley of N calls sent at once\n"
    "  --plugins N       simulated plugins, each with its own runtime\n"
    "                    identity (handshake) and connection (default 1)\n"
    "  --duration S      seconds (default 10, presets their own; max 600)\n"
    "  --target ADDR     a running host (loopback only); default: start\n"
    "                    `cpluginctl serve` (and `provider`) as children\n"
    "  --provider ADDR   routed with --target: the provider's own address\n"
    "  --chain on|off    the started host's call chain (default on)\n"
    "  --serve-threads N the started host's threads\n"
    "  --payload BYTES   Echo payload size (default 32, max 1 MiB)\n"
    "  --timeout-ms MS   per-call deadline (default 10000; fanout 30000)\n"
    "  --max-inflight N  calls in flight at most; more are dropped and\n"
    "                    counted (default 10000)\n"
    "  --max-requests N  stop after N calls (default 5000000)\n"
    "  --json FILE       also write the report as JSON\n"
    "  --middle S        fanout: the middle plugin's style, deferred, pool\n"
    "                    or blocking (default deferred)\n"
    "  --middle-threads N fanout: its completion-queue threads (default 2)\n"
    "  --pool-threads N  fanout with --middle pool: its worker pool's\n"
    "                    threads (default 16)\n"
    "  --delay-ms MS     fanout: the provider's answer delay (default 50)\n"
    "  --streams N       bidi: streams of each kind, one plugin and thread\n"
    "                    each (default 4, max 64)\n"
    "  --ramp S          fleet: the plugins join over S seconds (default 60);\n"
    "                    --duration is the hold after it\n"
    "exit: 0 done, 1 could not run (or a started host failed), 2 usage,\n"
    "      3 a preset's behaviour check failed, 130 interrupted\n";

const char *ctl_usage(const char *subcommand) {
  if (subcommand == NULL) {
    return kUsageMain;
  }
  if (strcmp(subcommand, "serve") == 0) {
    return kUsageServe;
  }
  if (strcmp(subcommand, "handshake") == 0) {
    return kUsageHandshake;
  }
  if (strcmp(subcommand, "provider") == 0) {
    return kUsageProvider;
  }
  if (strcmp(subcommand, "middle") == 0) {
    return kUsageMiddle;
  }
  if (strcmp(subcommand, "load") == 0) {
    return kUsageLoad;
  }
  return kUsageMain;
}

const char *ctl_preset_name(ctl_preset preset) {
  switch (preset) {
    case CTL_PRESET_STEADY:
      return "steady";
    case CTL_PRESET_BURST:
      return "burst";
    case CTL_PRESET_RATELIMIT:
      return "ratelimit";
    case CTL_PRESET_ROUTED:
      return "routed";
    case CTL_PRESET_FANOUT:
      return "fanout";
    case CTL_PRESET_BIDI:
      return "bidi";
    case CTL_PRESET_HANDSHAKE_FLOOD:
      return "handshake-flood";
    case CTL_PRESET_BURST_TLS:
      return "burst-tls";
    case CTL_PRESET_FLEET:
      return "fleet";
    case CTL_PRESET_NONE:
      break;
  }
  return "custom";
}

const char *ctl_middle_style_name(ctl_middle_style style) {
  switch (style) {
    case CTL_MIDDLE_POOL:
      return "pool";
    case CTL_MIDDLE_BLOCKING:
      return "blocking";
    case CTL_MIDDLE_DEFERRED:
      break;
  }
  return "deferred";
}

static int parse_middle_style(const char *v, ctl_middle_style *out) {
  static const ctl_middle_style all[] = {CTL_MIDDLE_DEFERRED, CTL_MIDDLE_POOL,
                                         CTL_MIDDLE_BLOCKING};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(v, ctl_middle_style_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return -1;
}

/* --- helpers ------------------------------------------------------------ */

/* Writes the reason into err and evaluates to CTL_PARSE_USAGE. A macro, not
 * a variadic function: clang-analyzer's va_list checker misfires on the
 * latter when several files are analysed in one run. */
#define FAIL(err, err_len, ...) \
  (snprintf((err), (err_len), __VA_ARGS__), CTL_PARSE_USAGE)

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
  }
  return n > 0;
}

/* Digits only (no sign, no spaces), min..max. */
static bool parse_uint(const char *s, uint64_t min, uint64_t max,
                       uint64_t *out) {
  size_t n = strlen(s);
  if (!all_digits(s, n) || n > 19) {
    return false;
  }
  uint64_t v = strtoull(s, NULL, 10);
  if (v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

/* A decimal number: digits, optionally '.' and more digits; > 0, <= max. */
static bool parse_positive(const char *s, double max, double *out) {
  const char *dot = strchr(s, '.');
  size_t whole = dot != NULL ? (size_t)(dot - s) : strlen(s);
  if (!all_digits(s, whole) || whole > 15 ||
      (dot != NULL && !all_digits(dot + 1, strlen(dot + 1)))) {
    return false;
  }
  double v = strtod(s, NULL);
  if (!(v > 0) || v > max) {
    return false;
  }
  *out = v;
  return true;
}

static bool parse_on_off(const char *s, bool *out) {
  if (strcmp(s, "on") == 0) {
    *out = true;
    return true;
  }
  if (strcmp(s, "off") == 0) {
    *out = false;
    return true;
  }
  return false;
}

/* Identifiers (self_id, service type): a letter, then letters, digits, '.',
 * '_' or '-'; at most 63 characters. The host validates them again. */
static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 ||
      !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool ctl_loopback_address(const char *addr, bool allow_port_zero) {
  if (addr == NULL) {
    return false;
  }
  if (strncmp(addr, "unix:", 5) == 0) {
    return addr[5] != '\0';
  }
  static const char *const hosts[] = {"127.0.0.1:", "[::1]:", "localhost:"};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    size_t n = strlen(hosts[i]);
    if (strncmp(addr, hosts[i], n) == 0) {
      uint64_t port = 0;
      return parse_uint(addr + n, allow_port_zero ? 0 : 1, 65535, &port) &&
             strlen(addr + n) <= 5;
    }
  }
  return false;
}

/* Walks "--name value" and "--name=value" options. */
typedef struct opt_iter {
  int argc;
  char **argv;
  int i;
  char name[64];
  const char *value;
} opt_iter;

/* What next_opt found. */
enum { OPT_END = 0, OPT_FOUND, OPT_HELP, OPT_BAD };

/* OPT_FOUND with it->name and it->value (never NULL), OPT_END after the
 * last argument, OPT_HELP for -h/--help, or OPT_BAD with a reason in err. */
static int next_opt(opt_iter *it, bool (*takes_value)(const char *), char *err,
                    size_t err_len) {
  it->value = "";
  if (++it->i >= it->argc) {
    return OPT_END;
  }
  const char *arg = it->argv[it->i];
  if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
    return OPT_HELP;
  }
  if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
    snprintf(err, err_len, "unexpected argument \"%s\"", arg);
    return OPT_BAD;
  }
  const char *eq = strchr(arg, '=');
  size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
  if (n >= sizeof it->name) {
    snprintf(err, err_len, "unknown option \"%s\"", arg);
    return OPT_BAD;
  }
  memcpy(it->name, arg, n);
  it->name[n] = '\0';
  if (!takes_value(it->name)) {
    snprintf(err, err_len, "unknown option \"%s\"", it->name);
    return OPT_BAD;
  }
  if (eq != NULL) {
    it->value = eq + 1;
  } else if (it->i + 1 < it->argc) {
    it->value = it->argv[++it->i];
  } else {
    snprintf(err, err_len, "%s needs a value", it->name);
    return OPT_BAD;
  }
  return OPT_FOUND;
}

/* The parse result for next_opt's last answer (OPT_END: CTL_PARSE_OK). */
static int opt_result(int opt) {
  return opt == OPT_HELP  ? CTL_PARSE_HELP
         : opt == OPT_BAD ? CTL_PARSE_USAGE
                          : CTL_PARSE_OK;
}

static bool is_one_of(const char *name, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(name, names[i]) == 0) {
      return true;
    }
  }
  return false;
}

#define ONE_OF(name, list) \
  is_one_of((name), (list), sizeof(list) / sizeof((list)[0]))

/* --- serve -------------------------------------------------------------- */

static bool serve_opt(const char *name) {
  static const char *const names[] = {
      "--listen",        "--chain",          "--rate",
      "--burst",         "--threads",        "--metrics-port",
      "--provider-type", "--handshake-rate", "--busy-poll-us",
      "--redis",         "--etcd",           "--handshake-burst",
      "--tls-cert",      "--tls-key",        "--max-watchers"};
  return ONE_OF(name, names);
}

int ctl_parse_serve(int argc, char **argv, ctl_serve_args *out, char *err,
                    size_t err_len) {
  memset(out, 0, sizeof *out);
  out->listen = "127.0.0.1:0";
  out->chain = true;
  out->rate = CTL_MAX_LIMIT;
  out->handshake_rate = 1000;
  bool has_burst = false;
  opt_iter it = {argc, argv, 0, {0}, ""};
  int rc;
  while ((rc = next_opt(&it, serve_opt, err, err_len)) == OPT_FOUND) {
    const char *n = it.name;
    const char *v = it.value;
    uint64_t u = 0;
    if (strcmp(n, "--listen") == 0) {
      if (!ctl_loopback_address(v, true)) {
        return FAIL(err, err_len,
                    "--listen: \"%s\" is not a loopback address "
                    "(127.0.0.1:PORT, [::1]:PORT, localhost:PORT, unix:PATH)",
                    v);
      }
      out->listen = v;
    } else if (strcmp(n, "--chain") == 0) {
      if (!parse_on_off(v, &out->chain)) {
        return FAIL(err, err_len, "--chain: expected on or off, got \"%s\"", v);
      }
    } else if (strcmp(n, "--rate") == 0 || strcmp(n, "--burst") == 0 ||
               strcmp(n, "--handshake-rate") == 0 ||
               strcmp(n, "--handshake-burst") == 0) {
      if (!parse_uint(v, 1, CTL_MAX_LIMIT, &u)) {
        return FAIL(err, err_len,
                    "%s: expected a whole number 1..%u, got \"%s\"", n,
                    CTL_MAX_LIMIT, v);
      }
      if (strcmp(n, "--rate") == 0) {
        out->rate = (uint32_t)u;
      } else if (strcmp(n, "--burst") == 0) {
        out->burst = (uint32_t)u;
        has_burst = true;
      } else if (strcmp(n, "--handshake-burst") == 0) {
        out->handshake_burst = (uint32_t)u;
      } else {
        out->handshake_rate = (uint32_t)u;
      }
    } else if (strcmp(n, "--threads") == 0) {
      if (!parse_uint(v, 1, CTL_MAX_THREADS, &u)) {
        return FAIL(err, err_len, "--threads: expected 1..%u, got \"%s\"",
                    CTL_MAX_THREADS, v);
      }
      out->threads = (unsigned)u;
    } else if (strcmp(n, "--busy-poll-us") == 0) {
      if (!parse_uint(v, 0, CTL_MAX_BUSY_POLL_US, &u)) {
        return FAIL(err, err_len, "--busy-poll-us: expected 0..%u, got \"%s\"",
                    CTL_MAX_BUSY_POLL_US, v);
      }
      out->busy_poll_us = (unsigned)u;
    } else if (strcmp(n, "--max-watchers") == 0) {
      if (!parse_uint(v, 1, CTL_MAX_WATCHERS, &u)) {
        return FAIL(err, err_len, "--max-watchers: expected 1..%u, got \"%s\"",
                    CTL_MAX_WATCHERS, v);
      }
      out->max_watchers = (uint32_t)u;
    } else if (strcmp(n, "--metrics-port") == 0) {
      if (strcmp(v, "off") == 0) {
        out->metrics_port = -1;
      } else if (parse_uint(v, 0, 65535, &u)) {
        out->metrics_port = (int)u;
      } else {
        return FAIL(err, err_len,
                    "--metrics-port: expected 0..65535 or off, got \"%s\"", v);
      }
    } else if (strcmp(n, "--redis") == 0) {
      out->redis = v; /* checked by cp_host_create */
    } else if (strcmp(n, "--etcd") == 0) {
      out->etcd = v; /* checked by cp_host_create */
    } else if (strcmp(n, "--tls-cert") == 0 || strcmp(n, "--tls-key") == 0) {
      if (v[0] == '\0') {
        return FAIL(err, err_len, "%s: expected a PEM file", n);
      }
      *(strcmp(n, "--tls-cert") == 0 ? &out->tls_cert : &out->tls_key) = v;
    } else {
      if (!valid_name(v)) {
        return FAIL(err, err_len, "--provider-type: invalid type \"%s\"", v);
      }
      out->provider_type = v;
    }
  }
  if (rc != OPT_END) {
    return opt_result(rc);
  }
  if (!has_burst) {
    out->burst = out->rate;
  }
  if (out->handshake_burst == 0) {
    out->handshake_burst = out->handshake_rate;
  }
  if ((out->tls_cert == NULL) != (out->tls_key == NULL)) {
    return FAIL(err, err_len, "--tls-cert and --tls-key go together");
  }
  return CTL_PARSE_OK;
}

/* --- handshake ---------------------------------------------------------- */

static bool handshake_opt(const char *name) {
  static const char *const names[] = {"--target", "--id"};
  return ONE_OF(name, names);
}

int ctl_parse_handshake(int argc, char **argv, ctl_handshake_args *out,
                        char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  out->id = "cpluginctl";
  opt_iter it = {argc, argv, 0, {0}, ""};
  int rc;
  while ((rc = next_opt(&it, handshake_opt, err, err_len)) == OPT_FOUND) {
    if (strcmp(it.name, "--target") == 0) {
      if (!ctl_loopback_address(it.value, false)) {
        return FAIL(err, err_len,
                    "--target: \"%s\" is not a loopback address with a port",
                    it.value);
      }
      out->target = it.value;
    } else {
      if (!valid_name(it.value)) {
        return FAIL(err, err_len, "--id: invalid self_id \"%s\"", it.value);
      }
      out->id = it.value;
    }
  }
  if (rc != OPT_END) {
    return opt_result(rc);
  }
  if (out->target == NULL) {
    return FAIL(err, err_len, "--target is required");
  }
  return CTL_PARSE_OK;
}

/* --- provider ----------------------------------------------------------- */

static bool provider_opt(const char *name) {
  static const char *const names[] = {"--host",   "--type",    "--id",
                                      "--listen", "--threads", "--delay-ms"};
  return ONE_OF(name, names);
}

int ctl_parse_provider(int argc, char **argv, ctl_provider_args *out, char *err,
                       size_t err_len) {
  memset(out, 0, sizeof *out);
  out->type = "load";
  out->id = "load-provider";
  out->listen = "127.0.0.1:0";
  opt_iter it = {argc, argv, 0, {0}, ""};
  int rc;
  while ((rc = next_opt(&it, provider_opt, err, err_len)) == OPT_FOUND) {
    const char *n = it.name;
    const char *v = it.value;
    uint64_t u = 0;
    if (strcmp(n, "--host") == 0) {
      if (!ctl_loopback_address(v, false)) {
        return FAIL(err, err_len,
                    "--host: \"%s\" is not a loopback address with a port", v);
      }
      out->host = v;
    } else if (strcmp(n, "--listen") == 0) {
      if (!ctl_loopback_address(v, true)) {
        return FAIL(err, err_len, "--listen: \"%s\" is not a loopback address",
                    v);
      }
      out->listen = v;
    } else if (strcmp(n, "--threads") == 0) {
      if (!parse_uint(v, 1, CTL_MAX_THREADS, &u)) {
        return FAIL(err, err_len, "--threads: expected 1..%u, got \"%s\"",
                    CTL_MAX_THREADS, v);
      }
      out->threads = (unsigned)u;
    } else if (strcmp(n, "--delay-ms") == 0) {
      if (!parse_uint(v, 0, CTL_MAX_DELAY_MS, &u)) {
        return FAIL(err, err_len, "--delay-ms: expected 0..%u, got \"%s\"",
                    CTL_MAX_DELAY_MS, v);
      }
      out->delay_ms = (uint32_t)u;
    } else {
      if (!valid_name(v)) {
        return FAIL(err, err_len, "%s: invalid name \"%s\"", n, v);
      }
      if (strcmp(n, "--type") == 0) {
        out->type = v;
      } else {
        out->id = v;
      }
    }
  }
  if (rc != OPT_END) {
    return opt_result(rc);
  }
  if (out->host == NULL) {
    return FAIL(err, err_len, "--host is required");
  }
  return CTL_PARSE_OK;
}

/* --- middle ------------------------------------------------------------- */

static bool middle_opt(const char *name) {
  static const char *const names[] = {"--host",         "--type",   "--calls",
                                      "--id",           "--listen", "--style",
                                      "--pool-threads", "--threads"};
  return ONE_OF(name, names);
}

/* One option of `middle`; returns CTL_PARSE_OK or CTL_PARSE_USAGE. */
static int middle_option(ctl_middle_args *o, const char *n, const char *v,
                         bool *has_pool_threads, char *err, size_t err_len) {
  uint64_t u = 0;
  if (strcmp(n, "--host") == 0) {
    if (!ctl_loopback_address(v, false)) {
      return FAIL(err, err_len,
                  "--host: \"%s\" is not a loopback address with a port", v);
    }
    o->host = v;
  } else if (strcmp(n, "--listen") == 0) {
    if (!ctl_loopback_address(v, true)) {
      return FAIL(err, err_len, "--listen: \"%s\" is not a loopback address",
                  v);
    }
    o->listen = v;
  } else if (strcmp(n, "--threads") == 0) {
    if (!parse_uint(v, 1, CTL_MAX_THREADS, &u)) {
      return FAIL(err, err_len, "--threads: expected 1..%u, got \"%s\"",
                  CTL_MAX_THREADS, v);
    }
    o->threads = (unsigned)u;
  } else if (strcmp(n, "--pool-threads") == 0) {
    if (!parse_uint(v, 1, CTL_MAX_POOL_THREADS, &u)) {
      return FAIL(err, err_len, "--pool-threads: expected 1..%u, got \"%s\"",
                  CTL_MAX_POOL_THREADS, v);
    }
    o->pool_threads = (unsigned)u;
    *has_pool_threads = true;
  } else if (strcmp(n, "--style") == 0) {
    if (parse_middle_style(v, &o->style) != 0) {
      return FAIL(err, err_len,
                  "--style: expected deferred, pool or blocking, got \"%s\"",
                  v);
    }
  } else {
    if (!valid_name(v)) {
      return FAIL(err, err_len, "%s: invalid name \"%s\"", n, v);
    }
    if (strcmp(n, "--type") == 0) {
      o->type = v;
    } else if (strcmp(n, "--calls") == 0) {
      o->calls = v;
    } else {
      o->id = v;
    }
  }
  return CTL_PARSE_OK;
}

int ctl_parse_middle(int argc, char **argv, ctl_middle_args *out, char *err,
                     size_t err_len) {
  memset(out, 0, sizeof *out);
  out->type = "fanout";
  out->calls = "delayed";
  out->id = "load-middle";
  out->listen = "127.0.0.1:0";
  out->threads = 2;
  out->style = CTL_MIDDLE_DEFERRED;
  out->pool_threads = 16;
  bool has_pool_threads = false;
  opt_iter it = {argc, argv, 0, {0}, ""};
  int rc;
  while ((rc = next_opt(&it, middle_opt, err, err_len)) == OPT_FOUND) {
    int r =
        middle_option(out, it.name, it.value, &has_pool_threads, err, err_len);
    if (r != CTL_PARSE_OK) {
      return r;
    }
  }
  if (rc != OPT_END) {
    return opt_result(rc);
  }
  if (out->host == NULL) {
    return FAIL(err, err_len, "--host is required");
  }
  if (has_pool_threads && out->style != CTL_MIDDLE_POOL) {
    return FAIL(err, err_len, "--pool-threads is for --style pool");
  }
  if (strcmp(out->type, out->calls) == 0) {
    return FAIL(err, err_len,
                "--type and --calls are both \"%s\": the middle plugin "
                "would call itself",
                out->type);
  }
  return CTL_PARSE_OK;
}

/* --- load --------------------------------------------------------------- */

static bool load_opt(const char *name) {
  static const char *const names[] = {
      "--preset",       "--target",         "--provider",
      "--rate",         "--concurrency",    "--plugins",
      "--duration",     "--requests",       "--chain",
      "--max-requests", "--max-inflight",   "--payload",
      "--timeout-ms",   "--serve-threads",  "--json",
      "--middle",       "--middle-threads", "--pool-threads",
      "--delay-ms",     "--streams",        "--ramp"};
  return ONE_OF(name, names);
}

static int parse_preset(const char *v, ctl_preset *out) {
  static const ctl_preset all[] = {
      CTL_PRESET_STEADY,          CTL_PRESET_BURST,     CTL_PRESET_RATELIMIT,
      CTL_PRESET_ROUTED,          CTL_PRESET_FANOUT,    CTL_PRESET_BIDI,
      CTL_PRESET_HANDSHAKE_FLOOD, CTL_PRESET_BURST_TLS, CTL_PRESET_FLEET};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(v, ctl_preset_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return -1;
}

/* One option of `load`; returns CTL_PARSE_OK or CTL_PARSE_USAGE. */
static int load_option(ctl_load_args *o, const char *n, const char *v,
                       char *err, size_t err_len) {
  uint64_t u = 0;
  if (strcmp(n, "--preset") == 0) {
    if (parse_preset(v, &o->preset) != 0) {
      return FAIL(err, err_len,
                  "--preset: unknown preset \"%s\" (steady, burst, "
                  "ratelimit, routed, fanout, bidi, handshake-flood, "
                  "burst-tls, fleet)",
                  v);
    }
  } else if (strcmp(n, "--target") == 0 || strcmp(n, "--provider") == 0) {
    if (!ctl_loopback_address(v, false)) {
      return FAIL(err, err_len,
                  "%s: \"%s\" is not a loopback address with a port "
                  "(127.0.0.1:PORT, [::1]:PORT, localhost:PORT, unix:PATH)",
                  n, v);
    }
    *(strcmp(n, "--target") == 0 ? &o->target : &o->provider) = v;
  } else if (strcmp(n, "--rate") == 0) {
    if (!parse_positive(v, CTL_MAX_RATE, &o->rate)) {
      return FAIL(err, err_len,
                  "--rate: expected a number > 0 and <= %.0f, got \"%s\"",
                  CTL_MAX_RATE, v);
    }
    o->has_rate = true;
  } else if (strcmp(n, "--duration") == 0) {
    if (!parse_positive(v, CTL_MAX_DURATION_S, &o->duration_s)) {
      return FAIL(err, err_len,
                  "--duration: expected seconds > 0 and <= %.0f, got \"%s\"",
                  CTL_MAX_DURATION_S, v);
    }
    o->has_duration = true;
  } else if (strcmp(n, "--ramp") == 0) {
    if (!parse_positive(v, CTL_MAX_RAMP_S, &o->ramp_s)) {
      return FAIL(err, err_len,
                  "--ramp: expected seconds > 0 and <= %.0f, got \"%s\"",
                  CTL_MAX_RAMP_S, v);
    }
    o->has_ramp = true;
  } else if (strcmp(n, "--chain") == 0) {
    if (!parse_on_off(v, &o->chain)) {
      return FAIL(err, err_len, "--chain: expected on or off, got \"%s\"", v);
    }
    o->has_chain = true;
  } else if (strcmp(n, "--json") == 0) {
    if (v[0] == '\0') {
      return FAIL(err, err_len, "--json: empty file name");
    }
    o->json_path = v;
  } else if (strcmp(n, "--middle") == 0) {
    if (parse_middle_style(v, &o->middle) != 0) {
      return FAIL(err, err_len,
                  "--middle: expected deferred, pool or blocking, got \"%s\"",
                  v);
    }
    o->has_middle = true;
  } else {
    /* The whole-number options: name, bounds, destination. */
    static const struct {
      const char *name;
      uint64_t min;
      uint64_t max;
    } nums[] = {
        {"--concurrency", 1, CTL_MAX_INFLIGHT},
        {"--plugins", 1, CTL_MAX_PLUGINS},
        {"--requests", 1, CTL_MAX_INFLIGHT},
        {"--max-requests", 1, CTL_MAX_REQUESTS},
        {"--max-inflight", 1, CTL_MAX_INFLIGHT},
        {"--payload", 0, CTL_MAX_PAYLOAD},
        {"--timeout-ms", 1, CTL_MAX_TIMEOUT_MS},
        {"--serve-threads", 1, CTL_MAX_THREADS},
        {"--middle-threads", 1, CTL_MAX_THREADS},
        {"--pool-threads", 1, CTL_MAX_POOL_THREADS},
        {"--delay-ms", 1, CTL_MAX_DELAY_MS},
        {"--streams", 1, CTL_MAX_STREAMS},
    };
    size_t k = 0;
    while (strcmp(nums[k].name, n) != 0) {
      k++; /* load_opt admitted n, so it is in the table */
    }
    if (!parse_uint(v, nums[k].min, nums[k].max, &u)) {
      return FAIL(
          err, err_len, "%s: expected a whole number %llu..%llu, got \"%s\"", n,
          (unsigned long long)nums[k].min, (unsigned long long)nums[k].max, v);
    }
    switch (k) {
      case 0:
        o->concurrency = (uint32_t)u;
        o->has_concurrency = true;
        break;
      case 1:
        o->plugins = (uint32_t)u;
        o->has_plugins = true;
        break;
      case 2:
        o->requests = (uint32_t)u;
        o->has_requests = true;
        break;
      case 3:
        o->max_requests = u;
        break;
      case 4:
        o->max_inflight = (uint32_t)u;
        break;
      case 5:
        o->payload_bytes = (uint32_t)u;
        break;
      case 6:
        o->timeout_ms = (uint32_t)u;
        o->has_timeout = true;
        break;
      case 7:
        o->serve_threads = (unsigned)u;
        break;
      case 8:
        o->middle_threads = (unsigned)u;
        o->has_middle_threads = true;
        break;
      case 9:
        o->pool_threads = (unsigned)u;
        o->has_pool_threads = true;
        break;
      case 10:
        o->delay_ms = (uint32_t)u;
        o->has_delay = true;
        break;
      default:
        o->streams = (uint32_t)u;
        o->has_streams = true;
        break;
    }
  }
  return CTL_PARSE_OK;
}

/* Combinations that cannot mean anything. */
static int load_check(const ctl_load_args *o, char *err, size_t err_len) {
  int modes = (int)o->has_rate + (int)o->has_concurrency + (int)o->has_requests;
  switch (o->preset) {
    case CTL_PRESET_NONE:
      if (modes != 1) {
        return FAIL(err, err_len,
                    "choose one of --rate (open loop), --concurrency (closed "
                    "loop) or --requests (one volley), or a --preset");
      }
      if (o->has_requests && o->has_duration) {
        return FAIL(err, err_len,
                    "--requests is one volley: --duration does not apply");
      }
      break;
    case CTL_PRESET_RATELIMIT:
    case CTL_PRESET_HANDSHAKE_FLOOD:
      if (o->has_rate || o->has_concurrency || o->has_duration) {
        return FAIL(err, err_len,
                    "the %s preset is one volley: use --requests, not "
                    "--rate, --concurrency or --duration",
                    ctl_preset_name(o->preset));
      }
      break;
    case CTL_PRESET_FANOUT:
      if (o->has_rate || o->has_requests) {
        return FAIL(err, err_len,
                    "the fanout preset is a closed loop: use --concurrency, "
                    "not --rate or --requests");
      }
      if (o->target != NULL) {
        return FAIL(err, err_len,
                    "the fanout preset starts its own host, middle plugin "
                    "and provider: --target does not apply");
      }
      if (o->has_pool_threads &&
          !(o->has_middle && o->middle == CTL_MIDDLE_POOL)) {
        return FAIL(err, err_len, "--pool-threads is for --middle pool");
      }
      break;
    case CTL_PRESET_BIDI:
      if (modes != 0 || o->has_plugins) {
        return FAIL(err, err_len,
                    "the bidi preset sends ping-pong on --streams N streams "
                    "(one plugin each): --rate, --concurrency, --requests "
                    "and --plugins do not apply");
      }
      break;
    default:
      if (o->has_concurrency || o->has_requests) {
        return FAIL(err, err_len,
                    "the %s preset is open loop: --concurrency and "
                    "--requests are for custom runs",
                    ctl_preset_name(o->preset));
      }
      if (o->preset == CTL_PRESET_BURST_TLS && o->target != NULL) {
        return FAIL(err, err_len,
                    "the burst-tls preset starts its own TLS host with a "
                    "certificate it makes: --target does not apply");
      }
      break;
  }
  bool fanout = o->preset == CTL_PRESET_FANOUT;
  if (!fanout && (o->has_middle || o->has_middle_threads ||
                  o->has_pool_threads || o->has_delay)) {
    return FAIL(err, err_len,
                "--middle, --middle-threads, --pool-threads and --delay-ms "
                "are for --preset fanout");
  }
  if (o->target != NULL && (o->has_chain || o->serve_threads != 0)) {
    return FAIL(err, err_len,
                "--chain and --serve-threads configure the host cpluginctl "
                "starts; with --target the host is yours");
  }
  if (o->has_streams && o->preset != CTL_PRESET_BIDI) {
    return FAIL(err, err_len, "--streams is for --preset bidi");
  }
  if (o->has_ramp && o->preset != CTL_PRESET_FLEET) {
    return FAIL(err, err_len, "--ramp is for --preset fleet");
  }
  bool routed = o->preset == CTL_PRESET_ROUTED || o->preset == CTL_PRESET_BIDI;
  if (o->provider != NULL && !(routed && o->target != NULL)) {
    return FAIL(err, err_len,
                "--provider is for --preset routed or bidi with --target");
  }
  if (routed && o->target != NULL && o->provider == NULL) {
    return FAIL(err, err_len,
                "--preset %s with --target needs --provider ADDR (the "
                "provider's own address, for the direct calls)",
                ctl_preset_name(o->preset));
  }
  if (o->has_concurrency && o->concurrency > o->max_inflight) {
    return FAIL(err, err_len, "--concurrency %u exceeds --max-inflight %u",
                o->concurrency, o->max_inflight);
  }
  if (o->has_requests && o->requests > o->max_inflight) {
    return FAIL(err, err_len, "--requests %u exceeds --max-inflight %u",
                o->requests, o->max_inflight);
  }
  return CTL_PARSE_OK;
}

int ctl_parse_load(int argc, char **argv, ctl_load_args *out, char *err,
                   size_t err_len) {
  memset(out, 0, sizeof *out);
  out->chain = true;
  out->max_requests = 5000000;
  out->max_inflight = 10000;
  out->payload_bytes = 32;
  out->timeout_ms = 10000;
  opt_iter it = {argc, argv, 0, {0}, ""};
  int rc;
  while ((rc = next_opt(&it, load_opt, err, err_len)) == OPT_FOUND) {
    int r = load_option(out, it.name, it.value, err, err_len);
    if (r != CTL_PARSE_OK) {
      return r;
    }
  }
  if (rc != OPT_END) {
    return opt_result(rc);
  }
  return load_check(out, err, err_len);
}
