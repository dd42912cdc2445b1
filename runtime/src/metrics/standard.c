/* The standard cplugin metrics: families, the post-call hook, attachments
 * (token store, handshake service, rate limiter) and readiness. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "metrics/method_labels.h"
#include "metrics/process_stats.h"
#include "metrics/standard_internal.h"

enum { DEFAULT_MAX_METHODS = 128, MAX_METHODS_LIMIT = 1024 };

#define US 1000LL
#define MS 1000000LL
#define S 1000000000LL

/* Loopback gRPC calls take ~100 µs; the alerting guide cares about tens of
 * milliseconds and up. */
static const int64_t REQUEST_BUCKETS_NS[] = {
    100 * US, 250 * US,  500 * US, 1 * MS,   2500 * US, 5 * MS,
    10 * MS,  25 * MS,   50 * MS,  100 * MS, 250 * MS,  500 * MS,
    1 * S,    2500 * MS, 5 * S,    10 * S};

/* Validation takes tens to hundreds of nanoseconds; the alert fires at a
 * p99 above 5 ms, so the buckets reach past it. */
static const int64_t TOKEN_BUCKETS_NS[] = {
    25,     50,        100,     250,     500,      1 * US,   2500,
    5 * US, 10 * US,   25 * US, 50 * US, 100 * US, 250 * US, 500 * US,
    1 * MS, 2500 * US, 5 * MS,  10 * MS, 25 * MS};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

void cp_metrics_options_init(cp_metrics_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_methods = DEFAULT_MAX_METHODS;
  opts->token_sample_every = 64;
}

/* Label sets of the standard families. */
static const char *const METHOD_CODE[] = {"method", "code"};
static const char *const METHOD[] = {"method"};
static const char *const RESULT[] = {"result"};

typedef struct family_spec {
  cp_metric_type type;
  const char *name;
  const char *help;
  const char *const *labels;
  size_t label_count;
  size_t max_series;
  const int64_t *buckets; /* nanoseconds, exported as seconds */
  size_t bucket_count;
} family_spec;

static int family(cp_metrics *m, const family_spec *spec,
                  cp_metric_family **out) {
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = spec->name;
  o.help = spec->help;
  o.label_names = spec->labels;
  o.label_count = spec->label_count;
  o.max_series = spec->max_series;
  o.buckets = spec->buckets;
  o.bucket_count = spec->bucket_count;
  o.unit = spec->buckets != NULL ? CP_METRIC_UNIT_NS_AS_SECONDS
                                 : CP_METRIC_UNIT_NONE;
  return cp_metric_family_create(out, m->registry, spec->type, &o);
}

static int create_families(cp_metrics *m, size_t max_methods) {
  size_t methods = max_methods + 1; /* + "other" */
  const family_spec specs[] = {
      {CP_METRIC_COUNTER, "cplugin_requests_total",
       "RPCs completed, by method and status code.", METHOD_CODE, 2,
       methods * CP_STATUS_CODE_COUNT, NULL, 0},
      {CP_METRIC_HISTOGRAM, "cplugin_request_duration_seconds",
       "RPC duration from arrival to completion, by method.", METHOD, 1,
       methods, REQUEST_BUCKETS_NS, COUNT_OF(REQUEST_BUCKETS_NS)},
      {CP_METRIC_HISTOGRAM, "cplugin_token_validation_duration_seconds",
       "Runtime token validation time (sampled, see docs/metrics.md).", NULL, 0,
       0, TOKEN_BUCKETS_NS, COUNT_OF(TOKEN_BUCKETS_NS)},
      {CP_METRIC_COUNTER, "cplugin_rate_limit_denials_total",
       "Calls rejected by the rate limiter, by method.", METHOD, 1, methods,
       NULL, 0},
      {CP_METRIC_GAUGE, "cplugin_rate_limit_buckets_active",
       "Rate-limit buckets currently held.", NULL, 0, 0, NULL, 0},
      {CP_METRIC_GAUGE, "cplugin_tokens_active",
       "Live runtime identities in the token store.", NULL, 0, 0, NULL, 0},
      {CP_METRIC_COUNTER, "cplugin_handshakes_total",
       "Handshakes answered, by result (ok or rejected).", RESULT, 1, 2, NULL,
       0},
      {CP_METRIC_GAUGE, "process_resident_memory_bytes",
       "Resident memory size in bytes.", NULL, 0, 0, NULL, 0},
      {CP_METRIC_GAUGE, "process_threads", "Threads of the process.", NULL, 0,
       0, NULL, 0},
  };
  cp_metric_family **outs[] = {
      &m->requests,       &m->duration,      &m->token_duration, &m->denials,
      &m->buckets_active, &m->tokens_active, &m->handshakes,     &m->rss,
      &m->threads,
  };
  _Static_assert(COUNT_OF(specs) == COUNT_OF(outs), "one output per spec");
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < COUNT_OF(specs); i++) {
    rc = family(m, &specs[i], outs[i]);
  }
  if (rc == 0) {
    rc = cp_metric_family_add_func(m->rss, NULL, cpi_process_resident_bytes,
                                   NULL);
  }
  if (rc == 0) {
    rc = cp_metric_family_add_func(m->threads, NULL, cpi_process_threads, NULL);
  }
  if (rc == 0) {
    /* Created now so that the histogram is exported (as zeros) from the
     * first scrape. */
    m->token_histogram = cp_histogram_get(m->token_duration, NULL);
    rc = m->token_histogram != NULL ? 0 : CP_ENOMEM;
  }
  return rc;
}

static uint32_t round_pow2(uint32_t n) {
  uint32_t p = 1;
  while (p < n && p < (1u << 30)) {
    p <<= 1;
  }
  return p;
}

int cp_metrics_create(cp_metrics **out, const cp_metrics_options *opts) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_metrics_options o;
  cp_metrics_options_init(&o);
  if (opts != NULL) {
    o = *opts;
  }
  if (o.max_methods == 0) {
    o.max_methods = DEFAULT_MAX_METHODS;
  }
  if (o.max_methods > MAX_METHODS_LIMIT) {
    return CP_EINVAL;
  }
  cp_metrics *m = calloc(1, sizeof *m);
  if (m == NULL) {
    return CP_ENOMEM;
  }
  atomic_init(&m->ready, false);
  m->token_mask =
      round_pow2(o.token_sample_every == 0 ? 1 : o.token_sample_every) - 1;
  cp_metric_registry_options ro;
  cp_metric_registry_options_init(&ro);
  ro.stripes = o.stripes;
  int rc = cp_metric_registry_create(&m->registry, &ro);
  if (rc == 0) {
    rc = create_families(m, o.max_methods);
  }
  if (rc == 0) {
    rc = cpi_method_labels_init(&m->methods, o.max_methods, m->duration);
    m->methods_ready = rc == 0;
  }
  if (rc != 0) {
    cp_metrics_destroy(m);
    return rc;
  }
  *out = m;
  return 0;
}

void cp_metrics_destroy(cp_metrics *metrics) {
  if (metrics == NULL) {
    return;
  }
  if (metrics->methods_ready) {
    cpi_method_labels_destroy(&metrics->methods);
  }
  cp_metric_registry_destroy(metrics->registry);
  free(metrics);
}

cp_metric_registry *cp_metrics_registry(cp_metrics *metrics) {
  return metrics != NULL ? metrics->registry : NULL;
}

/* --- calls -----------------------------------------------------------------
 */

static cp_counter *requests_counter(cp_metrics *m, cpi_method_label_slot *e,
                                    size_t code) {
  cp_counter *c =
      atomic_load_explicit(&e->requests[code], memory_order_acquire);
  if (c == NULL) {
    const char *values[2] = {e->path,
                             cp_status_code_name((cp_status_code)code)};
    c = cp_counter_get(m->requests, values);
    atomic_store_explicit(&e->requests[code], c, memory_order_release);
  }
  return c;
}

void cp_metrics_record_call(cp_metrics *metrics, const cp_method_desc *method,
                            cp_status_code code, int64_t duration_ns) {
  if (metrics == NULL) {
    return;
  }
  cpi_method_label_slot *e = cpi_method_labels_find(&metrics->methods, method);
  size_t c = code >= CP_STATUS_OK && code < CP_STATUS_CODE_COUNT
                 ? (size_t)code
                 : (size_t)CP_STATUS_UNKNOWN;
  cp_counter_inc(requests_counter(metrics, e, c));
  cp_histogram_observe(e->duration, duration_ns);
}

void cp_metrics_post_hook(const cp_call *call, cp_status_code code,
                          int64_t duration_ns, void *user) {
  cp_metrics_record_call(user, cp_call_method(call), code, duration_ns);
}

int cp_metrics_register(cp_metrics *metrics, cp_server *server) {
  if (metrics == NULL || server == NULL) {
    return CP_EINVAL;
  }
  return cp_server_add_post_hook(server, cp_metrics_post_hook, metrics);
}

void cp_metrics_count_rate_limit_denial(cp_metrics *metrics,
                                        const cp_method_desc *method) {
  if (metrics == NULL) {
    return;
  }
  cpi_method_label_slot *e = cpi_method_labels_find(&metrics->methods, method);
  cp_counter *c = atomic_load_explicit(&e->denials, memory_order_acquire);
  if (c == NULL) {
    const char *values[1] = {e->path};
    c = cp_counter_get(metrics->denials, values);
    atomic_store_explicit(&e->denials, c, memory_order_release);
  }
  cp_counter_inc(c);
}

/* --- attachments -------------------------------------------------------------
 */

static int64_t read_token_count(void *user) {
  return (int64_t)cp_token_store_count(user);
}

static int64_t read_handshakes_ok(void *user) {
  cp_handshake_stats st;
  cp_handshake_service_get_stats(user, &st);
  return st.ok > INT64_MAX ? INT64_MAX : (int64_t)st.ok;
}

static int64_t read_handshakes_rejected(void *user) {
  cp_handshake_stats st;
  cp_handshake_service_get_stats(user, &st);
  return st.rejected > INT64_MAX ? INT64_MAX : (int64_t)st.rejected;
}

int cp_metrics_attach_token_store(cp_metrics *metrics, cp_token_store *store) {
  if (metrics == NULL || store == NULL) {
    return CP_EINVAL;
  }
  return cp_metric_family_add_func(metrics->tokens_active, NULL,
                                   read_token_count, store);
}

int cp_metrics_attach_handshake(cp_metrics *metrics,
                                const cp_handshake_service *service) {
  if (metrics == NULL || service == NULL) {
    return CP_EINVAL;
  }
  /* The callbacks only read the service; the cast drops const for the
   * generic user pointer. */
  void *user = (void *)service;
  const char *ok[1] = {"ok"};
  const char *rejected[1] = {"rejected"};
  int rc = cp_metric_family_add_func(metrics->handshakes, ok,
                                     read_handshakes_ok, user);
  if (rc == 0) {
    rc = cp_metric_family_add_func(metrics->handshakes, rejected,
                                   read_handshakes_rejected, user);
  }
  return rc;
}

int cp_metrics_attach_rate_limit_buckets(cp_metrics *metrics,
                                         cp_metric_read_fn read, void *user) {
  if (metrics == NULL || read == NULL) {
    return CP_EINVAL;
  }
  return cp_metric_family_add_func(metrics->buckets_active, NULL, read, user);
}

/* --- readiness and exposition --------------------------------------------
 */

void cp_metrics_set_ready(cp_metrics *metrics, bool ready) {
  if (metrics != NULL) {
    atomic_store(&metrics->ready, ready);
  }
}

void cp_metrics_set_ready_check(cp_metrics *metrics, cp_ready_check_fn check,
                                void *user) {
  if (metrics != NULL) {
    metrics->ready_check = check;
    metrics->ready_user = user;
  }
}

bool cp_metrics_is_ready(const cp_metrics *metrics) {
  if (metrics == NULL || !atomic_load(&metrics->ready)) {
    return false;
  }
  return metrics->ready_check == NULL ||
         metrics->ready_check(metrics->ready_user);
}

int cp_metrics_render(cp_metrics *metrics, char **text, size_t *len) {
  if (metrics == NULL) {
    if (text != NULL) {
      *text = NULL;
    }
    return CP_EINVAL;
  }
  return cp_metric_registry_render(metrics->registry, text, len);
}
