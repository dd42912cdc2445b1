/* /proc sampling of the started host. */
#include "host_sampler.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"

struct ctl_sampler {
  pid_t pid;
  int64_t interval_ns;
  const atomic_uint_least32_t *plugins;
  const atomic_int *phase;
  ctl_sample *samples;
  size_t count;
  size_t cap;
  int64_t t0;
  double ticks_per_s;
  uint64_t last_ticks;
  int64_t last_ns;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  pthread_t thread;
};

/* Reads a small /proc file whole into buf; returns its length or -1. */
static long read_small(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return -1;
  }
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (long)n;
}

/* The unsigned number that starts `skip` space-separated fields after p;
 * *next points past it. Returns false when there is none. */
static bool number_after(const char *p, int skip, unsigned long long *out,
                         const char **next) {
  for (int i = 0; i < skip; i++) {
    while (*p == ' ') {
      p++;
    }
    while (*p != ' ' && *p != '\0') {
      p++;
    }
  }
  while (*p == ' ') {
    p++;
  }
  char *end = NULL;
  *out = strtoull(p, &end, 10);
  if (end == p) {
    return false;
  }
  *next = end;
  return true;
}

int ctl_proc_read(pid_t pid, uint64_t *cpu_ticks, uint64_t *rss_bytes) {
  char path[64];
  char buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_small(path, buf, sizeof buf) < 0) {
    return -1;
  }
  /* The command name is in parentheses and may hold spaces: fields are
   * counted from the last ')'. utime and stime are fields 14 and 15: the
   * 12th and 13th after it. */
  const char *p = strrchr(buf, ')');
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (p == NULL || !number_after(p + 1, 11, &utime, &p) ||
      !number_after(p, 0, &stime, &p)) {
    return -1;
  }
  snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
  unsigned long long size = 0;
  unsigned long long resident = 0;
  if (read_small(path, buf, sizeof buf) < 0 ||
      !number_after(buf, 0, &size, &p) || !number_after(p, 0, &resident, &p)) {
    return -1;
  }
  *cpu_ticks = utime + stime;
  *rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
  return 0;
}

static void take(ctl_sampler *s) {
  uint64_t ticks = 0;
  uint64_t rss = 0;
  if (s->count >= s->cap || ctl_proc_read(s->pid, &ticks, &rss) != 0) {
    return; /* full, or the process is gone: the report ends there */
  }
  int64_t now = ctl_now_ns();
  ctl_sample *x = &s->samples[s->count++];
  x->t_s = (double)(now - s->t0) / 1e9;
  x->plugins = atomic_load(s->plugins);
  x->phase = atomic_load(s->phase);
  x->rss_bytes = rss;
  double dt = (double)(now - s->last_ns) / 1e9;
  x->cpu_percent =
      s->count > 1 && dt > 0
          ? 100.0 * (double)(ticks - s->last_ticks) / s->ticks_per_s / dt
          : 0;
  s->last_ticks = ticks;
  s->last_ns = now;
}

static void *sampler_main(void *arg) {
  ctl_sampler *s = arg;
  pthread_mutex_lock(&s->mu);
  int64_t due = s->t0;
  while (!s->stop) {
    take(s);
    due += s->interval_ns;
    /* ctl_now_ns is CLOCK_MONOTONIC, the condition variable's clock. */
    struct timespec ts = {.tv_sec = (time_t)(due / 1000000000),
                          .tv_nsec = (long)(due % 1000000000)};
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0) {
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int ctl_sampler_start(ctl_sampler **out, pid_t pid, uint32_t interval_ms,
                      size_t max_samples, const atomic_uint_least32_t *plugins,
                      const atomic_int *phase, char *err, size_t err_len) {
  *out = NULL;
  uint64_t ticks = 0;
  uint64_t rss = 0;
  if (interval_ms < 100 || interval_ms > 60000 || max_samples == 0) {
    snprintf(err, err_len, "sampler: bad interval or size");
    return -1;
  }
  if (ctl_proc_read(pid, &ticks, &rss) != 0) {
    snprintf(err, err_len, "cannot read /proc/%d/stat and statm", (int)pid);
    return -1;
  }
  ctl_sampler *s = calloc(1, sizeof *s);
  ctl_sample *samples = calloc(max_samples, sizeof *samples);
  if (s == NULL || samples == NULL) {
    free(s);
    free(samples);
    snprintf(err, err_len, "out of memory for %zu samples", max_samples);
    return -1;
  }
  s->pid = pid;
  s->interval_ns = (int64_t)interval_ms * 1000000;
  s->plugins = plugins;
  s->phase = phase;
  s->last_ticks = ticks;
  s->samples = samples;
  s->cap = max_samples;
  long hz = sysconf(_SC_CLK_TCK);
  s->ticks_per_s = hz > 0 ? (double)hz : 100;
  s->t0 = ctl_now_ns();
  s->last_ns = s->t0;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&s->mu, NULL);
  if (pthread_create(&s->thread, NULL, sampler_main, s) != 0) {
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(samples);
    free(s);
    snprintf(err, err_len, "cannot start the sampling thread");
    return -1;
  }
  *out = s;
  return 0;
}

void ctl_sampler_stop(ctl_sampler *s, ctl_sample **samples, size_t *count) {
  *samples = NULL;
  *count = 0;
  if (s == NULL) {
    return;
  }
  pthread_mutex_lock(&s->mu);
  take(s); /* the end of the run */
  s->stop = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  *samples = s->samples;
  *count = s->count;
  free(s);
}
