/* Serving statuses per service name and the C API over them. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "health/health_internal.h"

void cp_health_options_init(cp_health_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_services = 256;
  opts->max_watchers = 128;
  opts->max_anonymous_watchers_per_address = 8;
  opts->watch_retry_interval_ms = 50;
}

int cp_health_create(cp_health **out, const cp_health_options *opts) {
  cp_health_options defaults;
  if (opts == NULL) {
    cp_health_options_init(&defaults);
    opts = &defaults;
  }
  if (out == NULL || opts->max_services == 0 || opts->max_watchers == 0 ||
      opts->max_anonymous_watchers_per_address == 0 ||
      opts->watch_retry_interval_ms <= 0) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_health *h = calloc(1, sizeof *h);
  if (h == NULL) {
    return CP_ENOMEM;
  }
  h->max_services = opts->max_services;
  h->max_watchers = opts->max_watchers;
  h->max_anonymous_per_address = opts->max_anonymous_watchers_per_address;
  h->services = calloc(opts->max_services, sizeof *h->services);
  int rc = h->services == NULL
               ? CP_ENOMEM
               : cpi_push_hub_create(&h->hub, opts->watch_retry_interval_ms);
  if (rc == 0) {
    h->services[0].name = strdup("");
    rc = h->services[0].name == NULL ? CP_ENOMEM : 0;
  }
  if (rc != 0) {
    cpi_push_hub_destroy(h->hub);
    free(h->services);
    free(h);
    return rc;
  }
  /* Upstream's initial state: the server as a whole is serving. */
  h->services[0].status = CP_SERVING_STATUS_SERVING;
  h->count = 1;
  atomic_init(&h->serving, true);
  pthread_mutex_init(&h->mu, NULL);
  *out = h;
  return 0;
}

void cp_health_destroy(cp_health *h) {
  if (h == NULL) {
    return;
  }
  cpi_push_hub_stop(h->hub); /* no retry may reach the watchers ended here */
  cpi_health_end_watchers(h);
  cpi_push_hub_destroy(h->hub);
  for (size_t i = 0; i < h->count; i++) {
    free(h->services[i].name);
  }
  free(h->services);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

/* With h->mu held: records the status and tells the watchers. */
static void apply_locked(cp_health *h, health_service *s,
                         cp_serving_status status) {
  s->status = status;
  if (s->name[0] == '\0') {
    atomic_store(&h->serving, status == CP_SERVING_STATUS_SERVING);
  }
  cpi_health_notify_locked(h, s->name, status);
}

int cp_health_set(cp_health *h, const char *service, cp_serving_status status) {
  if (h == NULL || service == NULL ||
      strnlen(service, CP_HEALTH_SERVICE_NAME_MAX + 1) >
          CP_HEALTH_SERVICE_NAME_MAX ||
      (status != CP_SERVING_STATUS_SERVING &&
       status != CP_SERVING_STATUS_NOT_SERVING)) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&h->mu);
  int rc = 0;
  health_service *s = h->shut_down ? NULL : cpi_health_find(h, service);
  if (h->shut_down) {
    rc = CP_ESTATE;
  } else if (s == NULL && h->count == h->max_services) {
    rc = CP_ELIMIT;
  } else if (s == NULL) {
    char *name = strdup(service);
    if (name == NULL) {
      rc = CP_ENOMEM;
    } else {
      s = &h->services[h->count++];
      s->name = name;
    }
  }
  if (s != NULL) {
    apply_locked(h, s, status);
  }
  pthread_mutex_unlock(&h->mu);
  cpi_push_hub_flush(h->hub);
  return rc;
}

int cp_health_remove(cp_health *h, const char *service) {
  if (h == NULL || service == NULL || service[0] == '\0') {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&h->mu);
  health_service *s = cpi_health_find(h, service);
  if (s != NULL) {
    cpi_health_notify_locked(h, s->name, CP_SERVING_STATUS_SERVICE_UNKNOWN);
    free(s->name);
    *s = h->services[--h->count]; /* order does not matter */
  }
  pthread_mutex_unlock(&h->mu);
  cpi_push_hub_flush(h->hub);
  return s != NULL ? 0 : CP_ENOTFOUND;
}

int cp_health_get(cp_health *h, const char *service, cp_serving_status *out) {
  if (h == NULL || service == NULL || out == NULL) {
    return CP_EINVAL;
  }
  pthread_mutex_lock(&h->mu);
  health_service *s = cpi_health_find(h, service);
  if (s != NULL) {
    *out = s->status;
  }
  pthread_mutex_unlock(&h->mu);
  return s != NULL ? 0 : CP_ENOTFOUND;
}

void cp_health_shutdown(cp_health *h) {
  if (h == NULL) {
    return;
  }
  pthread_mutex_lock(&h->mu);
  if (!h->shut_down) {
    h->shut_down = true;
    for (size_t i = 0; i < h->count; i++) {
      apply_locked(h, &h->services[i], CP_SERVING_STATUS_NOT_SERVING);
    }
  }
  pthread_mutex_unlock(&h->mu);
  cpi_push_hub_flush(h->hub);
}

bool cp_health_serving(const cp_health *h) {
  return h != NULL && atomic_load(&((cp_health *)h)->serving);
}
