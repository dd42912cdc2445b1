/* cpluginctl — samples a process's CPU time and resident memory from /proc
 * once per interval on a thread of its own, for the fleet preset's report
 * of the host it started.
 *
 * CPU is utime + stime of /proc/PID/stat, shown as a share of one core
 * over each interval (200% = both cores of a 2-core machine); RSS is the
 * second field of /proc/PID/statm times the page size.
 *
 * Thread safety: start and stop from one thread; `plugins` (the count each
 * sample records) and `phase` (a label it records, fleet.h's phases) are
 * read atomically from the sampling thread.
 */
#ifndef CPLUGINCTL_HOST_SAMPLER_H
#define CPLUGINCTL_HOST_SAMPLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ctl_sample {
  double t_s;         /* since the sampler started */
  uint32_t plugins;   /* *plugins at that moment */
  int phase;          /* *phase at that moment */
  double cpu_percent; /* over the interval before (the first sample: 0) */
  uint64_t rss_bytes;
} ctl_sample;

typedef struct ctl_sampler ctl_sampler;

/* Samples `pid` now and then every interval_ms (100..60000) until stopped,
 * keeping at most `max_samples` (later ones are dropped). Returns 0 and
 * *out, or -1 with a reason in `err` (the process cannot be read, no
 * memory, no thread). */
int ctl_sampler_start(ctl_sampler **out, pid_t pid, uint32_t interval_ms,
                      size_t max_samples, const atomic_uint_least32_t *plugins,
                      const atomic_int *phase, char *err, size_t err_len);

/* Stops the thread, then hands over the samples (free() them; *samples may
 * be NULL when *count is 0) and frees the sampler. NULL allowed. */
void ctl_sampler_stop(ctl_sampler *s, ctl_sample **samples, size_t *count);

/* One reading of `pid`: its CPU time in clock ticks and its resident
 * bytes. Returns 0, or -1 when /proc cannot be read or parsed. */
int ctl_proc_read(pid_t pid, uint64_t *cpu_ticks, uint64_t *rss_bytes);

#endif /* CPLUGINCTL_HOST_SAMPLER_H */
