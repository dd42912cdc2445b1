/* Static discovery: a fixed list of host addresses, the one in use, and
 * failover to the next when it stops answering. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/server_answered.h"
#include "cplugin/errors.h"
#include "cplugin/resilience.h"
#include "grpc/health/v1/health.cplugin.h"

struct cp_static_discovery {
  char **addresses;
  size_t count;
  atomic_size_t current;
};

static void free_addresses(char **a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(a[i]);
  }
  free(a);
}

int cp_static_discovery_create(cp_static_discovery **out,
                               const char *const *addresses, size_t count) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  if (addresses == NULL || count == 0) {
    return CP_EINVAL;
  }
  for (size_t i = 0; i < count; i++) {
    if (addresses[i] == NULL || addresses[i][0] == '\0') {
      return CP_EINVAL;
    }
  }
  cp_static_discovery *d = calloc(1, sizeof *d);
  char **copy = calloc(count, sizeof *copy);
  if (d == NULL || copy == NULL) {
    free(d);
    free(copy);
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < count; i++) {
    size_t n = strlen(addresses[i]) + 1;
    copy[i] = malloc(n);
    if (copy[i] == NULL) {
      free_addresses(copy, i);
      free(d);
      return CP_ENOMEM;
    }
    memcpy(copy[i], addresses[i], n);
  }
  d->addresses = copy;
  d->count = count;
  atomic_init(&d->current, 0);
  *out = d;
  return 0;
}

void cp_static_discovery_destroy(cp_static_discovery *d) {
  if (d == NULL) {
    return;
  }
  free_addresses(d->addresses, d->count);
  free(d);
}

size_t cp_static_discovery_count(const cp_static_discovery *d) {
  return d == NULL ? 0 : d->count;
}

const char *cp_static_discovery_address(const cp_static_discovery *d,
                                        size_t i) {
  return d == NULL || i >= d->count ? NULL : d->addresses[i];
}

const char *cp_static_discovery_current(const cp_static_discovery *d) {
  if (d == NULL) {
    return NULL;
  }
  return d->addresses[atomic_load(&d->current)];
}

/* The index of `address`: the same pointer, or else the same text. */
static size_t index_of(const cp_static_discovery *d, const char *address) {
  for (size_t i = 0; i < d->count; i++) {
    if (d->addresses[i] == address) {
      return i;
    }
  }
  for (size_t i = 0; address != NULL && i < d->count; i++) {
    if (strcmp(d->addresses[i], address) == 0) {
      return i;
    }
  }
  return d->count;
}

const char *cp_static_discovery_next(cp_static_discovery *d,
                                     const char *failed) {
  if (d == NULL) {
    return NULL;
  }
  size_t i = index_of(d, failed);
  if (i < d->count) {
    size_t expected = i;
    /* Only the first report of this failure moves on. */
    atomic_compare_exchange_strong(&d->current, &expected, (i + 1) % d->count);
  }
  return cp_static_discovery_current(d);
}

/* Whether a health check's outcome shows a live server. */
static bool answered(int rc, const cp_status *st,
                     const Grpc__Health__V1__HealthCheckResponse *resp) {
  if (rc == 0) {
    return resp->status !=
           GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  }
  return rc == CP_ERPC && cp_status_server_answered(st->code);
}

int cp_static_discovery_connect(cp_static_discovery *d,
                                const cp_client_options *opts,
                                int64_t timeout_ms, cp_client **out,
                                cp_status *status) {
  if (out != NULL) {
    *out = NULL;
  }
  if (d == NULL || out == NULL || status == NULL || timeout_ms <= 0) {
    if (status != NULL) {
      cp_status_set(status, CP_STATUS_INVALID_ARGUMENT,
                    "invalid discovery arguments");
    }
    return CP_EINVAL;
  }
  size_t start = atomic_load(&d->current);
  char last[160] = "";
  for (size_t k = 0; k < d->count; k++) {
    size_t i = (start + k) % d->count;
    cp_client *client = NULL;
    int rc = cp_client_create(&client, d->addresses[i], opts);
    if (rc != 0) {
      snprintf(last, sizeof last, "%.64s: %s", d->addresses[i],
               cp_strerror(rc));
      continue;
    }
    Grpc__Health__V1__HealthCheckRequest req =
        GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = timeout_ms;
    cp_status st;
    rc =
        cp_grpc__health__v1__health__check__call(client, &req, &resp, &co, &st);
    bool ok = answered(rc, &st, resp);
    if (resp != NULL) {
      protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    if (ok) {
      atomic_store(&d->current, i);
      *out = client;
      cp_status_clear(status);
      return 0;
    }
    snprintf(last, sizeof last, "%.64s: %s %.64s", d->addresses[i],
             rc == 0 ? "NOT_SERVING" : cp_status_code_name(st.code),
             rc == 0 ? "" : st.message);
    cp_client_destroy(client);
  }
  cp_status_set(status, CP_STATUS_UNAVAILABLE, "no address answered (%s)",
                last);
  return CP_ERPC;
}
