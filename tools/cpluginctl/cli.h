/* cpluginctl — command-line parsing of every subcommand (no I/O, no side
 * effects, so every rejection is unit-tested).
 *
 * Each ctl_parse_* fills its struct with the defaults, then applies argv
 * (argv[0] is the subcommand's name, options follow). Strings point into
 * argv, which must outlive the struct. Returns CTL_PARSE_OK, CTL_PARSE_HELP
 * (-h/--help: print the usage, exit 0) or CTL_PARSE_USAGE with a one-line
 * reason in `err` (print it and the usage on stderr, exit 2).
 *
 * Thread safety: pure functions.
 */
#ifndef CPLUGINCTL_CLI_H
#define CPLUGINCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CTL_PARSE_OK = 0, CTL_PARSE_HELP = 1, CTL_PARSE_USAGE = 2 };

/* Exit statuses of cpluginctl. */
enum {
  CTL_EXIT_OK = 0,
  CTL_EXIT_FAILED = 1, /* the run could not be done (unreachable, ...) */
  CTL_EXIT_USAGE = 2,  /* bad arguments */
  CTL_EXIT_CHECK = 3,  /* a preset's behaviour check failed */
  CTL_EXIT_INTERRUPTED = 130
};

/* Bounds every run respects. */
#define CTL_MAX_DURATION_S 600.0
#define CTL_MAX_RATE 1000000.0
#define CTL_MAX_PLUGINS 10000u
#define CTL_MAX_INFLIGHT 1000000u
#define CTL_MAX_REQUESTS UINT64_C(100000000)
#define CTL_MAX_PAYLOAD 1048576u /* 1 MiB */
#define CTL_MAX_TIMEOUT_MS 60000u
#define CTL_MAX_THREADS 256u
#define CTL_MAX_BUSY_POLL_US 10000u /* cp_server_options.busy_poll_us */
/* Bidirectional streams of the bidi preset (--streams): one thread each. */
#define CTL_MAX_STREAMS 64u
/* A provider's answer delay (--delay-ms). */
#define CTL_MAX_DELAY_MS 60000u
/* A middle plugin's worker pool (--pool-threads): cp_server_run_blocking's
 * own bound. */
#define CTL_MAX_POOL_THREADS 1024u
/* The rate limiter treats rates above 10^9/s as 10^9/s. */
#define CTL_MAX_LIMIT 1000000000u
/* serve --max-watchers (cp_registry_options.max_watchers). */
#define CTL_MAX_WATCHERS 1000000u
/* fleet's join ramp (--ramp). */
#define CTL_MAX_RAMP_S 600.0

typedef struct ctl_serve_args {
  const char *listen;       /* default "127.0.0.1:0" */
  bool chain;               /* default true */
  uint32_t rate;            /* Echo limit per identity; default CTL_MAX_LIMIT */
  uint32_t burst;           /* default: the rate */
  uint32_t handshake_rate;  /* per peer address; default 1000 */
  uint32_t handshake_burst; /* default: the handshake rate */
  unsigned threads;         /* 0 = the server default */
  unsigned busy_poll_us;    /* default 0 = off */
  int metrics_port;         /* -1 = off; default 0 = any free port */
  const char *provider_type; /* NULL = the host answers Echo itself */
  const char *redis;         /* NULL = limits of this process only */
  const char *etcd;          /* NULL = identities and registry of its own */
  /* TLS: both or neither (PEM files); NULL = plaintext. */
  const char *tls_cert;
  const char *tls_key;
  uint32_t max_watchers; /* 0 = the host's default */
} ctl_serve_args;

typedef struct ctl_handshake_args {
  const char *target; /* required */
  const char *id;     /* default "cpluginctl" */
} ctl_handshake_args;

typedef struct ctl_provider_args {
  const char *host;   /* required */
  const char *type;   /* default "load" */
  const char *id;     /* default "load-provider" */
  const char *listen; /* default "127.0.0.1:0" */
  unsigned threads;   /* 0 = the server default */
  uint32_t delay_ms;  /* 0 = answer at once (default) */
} ctl_provider_args;

/* How the middle plugin of the fanout preset waits for its one downstream
 * call (cplugin/server.h): */
typedef enum ctl_middle_style {
  CTL_MIDDLE_DEFERRED = 0, /* cp_call_defer + an asynchronous routed call */
  CTL_MIDDLE_POOL,         /* a worker pool (cp_server_run_blocking), a
                              blocking routed call on a pool thread */
  CTL_MIDDLE_BLOCKING      /* a blocking routed call on a completion-queue
                              thread */
} ctl_middle_style;

typedef struct ctl_middle_args {
  const char *host;       /* required */
  const char *type;       /* default "fanout": what it provides */
  const char *calls;      /* default "delayed": the type it calls */
  const char *id;         /* default "load-middle" */
  const char *listen;     /* default "127.0.0.1:0" */
  unsigned threads;       /* completion-queue threads, default 2 */
  ctl_middle_style style; /* default deferred */
  unsigned pool_threads;  /* default 16; pool style only */
} ctl_middle_args;

typedef enum ctl_preset {
  CTL_PRESET_NONE = 0,
  CTL_PRESET_STEADY,
  CTL_PRESET_BURST,
  CTL_PRESET_RATELIMIT,
  CTL_PRESET_ROUTED,
  CTL_PRESET_FANOUT,
  CTL_PRESET_BIDI,
  CTL_PRESET_HANDSHAKE_FLOOD,
  CTL_PRESET_BURST_TLS,
  CTL_PRESET_FLEET
} ctl_preset;

typedef struct ctl_load_args {
  ctl_preset preset;
  const char *target;   /* NULL = launch `cpluginctl serve` */
  const char *provider; /* routed with --target: the provider's address */
  /* has_* says whether the option was given (presets fill the rest). */
  bool has_rate;
  double rate; /* req/s, > 0 */
  bool has_concurrency;
  uint32_t concurrency;
  bool has_plugins;
  uint32_t plugins;
  bool has_duration;
  double duration_s;
  bool has_requests;
  uint32_t requests; /* a volley of this many calls at once */
  bool has_chain;
  bool chain;
  uint64_t max_requests;  /* default 5 000 000 */
  uint32_t max_inflight;  /* default 10 000 */
  uint32_t payload_bytes; /* default 32 */
  uint32_t timeout_ms;    /* per call, default 10 000 */
  unsigned serve_threads; /* spawned serve's --threads; 0 = its default */
  const char *json_path;  /* NULL = no JSON */
  /* fanout only (has_* as above; the defaults are the preset's). */
  bool has_middle;
  ctl_middle_style middle;
  bool has_middle_threads;
  unsigned middle_threads;
  bool has_pool_threads;
  unsigned pool_threads;
  bool has_delay;
  uint32_t delay_ms;
  bool has_timeout;
  /* bidi only: streams per kind (routed, direct), one plugin each. */
  bool has_streams;
  uint32_t streams;
  /* fleet only: the plugins join over this many seconds. */
  bool has_ramp;
  double ramp_s;
} ctl_load_args;

int ctl_parse_serve(int argc, char **argv, ctl_serve_args *out, char *err,
                    size_t err_len);
int ctl_parse_handshake(int argc, char **argv, ctl_handshake_args *out,
                        char *err, size_t err_len);
int ctl_parse_provider(int argc, char **argv, ctl_provider_args *out, char *err,
                       size_t err_len);
int ctl_parse_middle(int argc, char **argv, ctl_middle_args *out, char *err,
                     size_t err_len);
int ctl_parse_load(int argc, char **argv, ctl_load_args *out, char *err,
                   size_t err_len);

/* Usage text of a subcommand ("serve", ...) or of the whole tool (NULL). */
const char *ctl_usage(const char *subcommand);

/* Whether `addr` is a loopback address cpluginctl accepts: 127.0.0.1:PORT,
 * [::1]:PORT, localhost:PORT or unix:PATH. PORT is 1..65535, or 0 too when
 * `allow_port_zero` (a listener picks a free port). */
bool ctl_loopback_address(const char *addr, bool allow_port_zero);

/* The preset's name ("steady"), or "custom". */
const char *ctl_preset_name(ctl_preset preset);

/* "deferred", "pool" or "blocking". */
const char *ctl_middle_style_name(ctl_middle_style style);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGINCTL_CLI_H */
