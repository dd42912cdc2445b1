/* The host's liveness thread: one registry liveness pass per lease
 * interval, until the host shuts down. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/monotonic_cond.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "host/host_liveness.h"

struct host_liveness_loop {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  pthread_t thread;
  cp_registry *reg;
  int64_t interval_ms;
  bool stop;
};

static void *run(void *arg) {
  host_liveness_loop *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stop) {
    struct timespec until = cpi_monotonic_after_ms(l->interval_ms);
    while (!l->stop &&
           pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT) {
    }
    if (l->stop) {
      break;
    }
    pthread_mutex_unlock(&l->mu);
    if (cp_registry_check_liveness(l->reg) != 0) {
      cp_log(CP_LOG_WARN, "liveness pass incomplete: out of memory",
             CP_LOG_END);
    }
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int cpi_host_liveness_start(host_liveness_loop **out, cp_registry *reg,
                            int64_t interval_ms) {
  host_liveness_loop *l = calloc(1, sizeof *l);
  if (l == NULL) {
    return CP_ENOMEM;
  }
  l->reg = reg;
  l->interval_ms = interval_ms;
  pthread_mutex_init(&l->mu, NULL);
  cpi_cond_init_monotonic(&l->cv);
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    return CP_ESYS;
  }
  *out = l;
  return 0;
}

void cpi_host_liveness_stop(host_liveness_loop *l) {
  if (l == NULL) {
    return;
  }
  pthread_mutex_lock(&l->mu);
  l->stop = true;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}
