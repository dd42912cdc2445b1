/* Bytes per structure and sweep timestamps; see memory_metrics.h. */
#include "host/memory_metrics.h"

#include <stddef.h>

#include "cplugin/ratelimit.h"

/* --- bytes held -------------------------------------------------------- */

static int64_t token_bytes(void *user) {
  const cpi_host_structures *s = user;
  cp_token_store_stats st;
  cp_token_store_get_stats(s->tokens, &st);
  return (int64_t)st.memory_bytes;
}

static int64_t bucket_bytes(void *user) {
  const cpi_host_structures *s = user;
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(cp_rate_policy_limiter(s->rate), &st);
  return (int64_t)st.memory_bytes;
}

static int64_t registry_bytes(void *user) {
  const cpi_host_structures *s = user;
  cp_registry_stats st;
  cp_registry_get_stats(s->registry, &st);
  return (int64_t)st.memory_bytes;
}

static int64_t router_bytes(void *user) {
  const cpi_host_structures *s = user;
  cp_router_stats st;
  cp_router_get_stats(s->router, &st);
  return (int64_t)st.target_bytes;
}

static int64_t queue_bytes(void *user) {
  const cpi_host_structures *s = user;
  return (int64_t)cp_server_queued_bytes(s->server);
}

/* --- last sweeps, in nanoseconds since the epoch (exported as seconds) -- */

static int64_t ms_to_ns(int64_t ms) {
  return ms * 1000000;
}

static int64_t token_sweep(void *user) {
  const cpi_host_structures *s = user;
  cp_token_store_stats st;
  cp_token_store_get_stats(s->tokens, &st);
  return ms_to_ns(st.last_sweep_unix_ms);
}

static int64_t bucket_sweep(void *user) {
  const cpi_host_structures *s = user;
  cp_rate_limiter_stats st;
  cp_rate_limiter_get_stats(cp_rate_policy_limiter(s->rate), &st);
  return ms_to_ns(st.last_sweep_unix_ms);
}

static int64_t liveness_pass(void *user) {
  const cpi_host_structures *s = user;
  cp_registry_stats st;
  cp_registry_get_stats(s->registry, &st);
  return ms_to_ns(st.last_liveness_unix_ms);
}

typedef struct series {
  const char *label;
  cp_metric_read_fn read;
  bool present;
} series;

static int add_family(cp_metric_registry *registry, const char *name,
                      const char *help, const char *label, cp_metric_unit unit,
                      const series *list, size_t n,
                      const cpi_host_structures *s) {
  const char *const labels[] = {label};
  cp_metric_family_options o;
  cp_metric_family_options_init(&o);
  o.name = name;
  o.help = help;
  o.label_names = labels;
  o.label_count = 1;
  o.max_series = n;
  o.unit = unit;
  cp_metric_family *f = NULL;
  int rc = cp_metric_family_create(&f, registry, CP_METRIC_GAUGE, &o);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (list[i].present) {
      const char *values[] = {list[i].label};
      rc = cp_metric_family_add_func(f, values, list[i].read, (void *)s);
    }
  }
  return rc;
}

int cpi_host_attach_memory_metrics(cp_metric_registry *registry,
                                   const cpi_host_structures *s) {
  const series memory[] = {
      {"tokens", token_bytes, true},
      {"rate_limit_buckets", bucket_bytes, s->rate != NULL},
      {"registry", registry_bytes, true},
      {"router_targets", router_bytes, true},
      {"stream_queues", queue_bytes, true},
  };
  const series sweeps[] = {
      {"tokens", token_sweep, s->tokens_swept},
      {"rate_limit_buckets", bucket_sweep, s->rate != NULL && s->buckets_swept},
      {"registry_liveness", liveness_pass, s->liveness_swept},
  };
  int rc = add_family(
      registry, "cplugin_memory_bytes",
      "Bytes the host's structures hold, by structure (docs/metrics.md).",
      "structure", CP_METRIC_UNIT_NONE, memory,
      sizeof memory / sizeof memory[0], s);
  if (rc == 0) {
    rc = add_family(registry, "cplugin_sweep_last_success_timestamp_seconds",
                    "When each periodic sweep last finished (Unix time; the "
                    "host's start before the first).",
                    "sweeper", CP_METRIC_UNIT_NS_AS_SECONDS, sweeps,
                    sizeof sweeps / sizeof sweeps[0], s);
  }
  return rc;
}
