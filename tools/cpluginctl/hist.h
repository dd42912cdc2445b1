/* cpluginctl — a log-linear latency histogram (HDR-style).
 *
 * Values are nanoseconds. 0..255 ns are counted exactly; above that every
 * power of two is split into 128 equal sub-buckets, so a bucket is at most
 * 1/128 of its lower bound wide and a reported quantile (the bucket's middle,
 * kept within the exact min and max) is within 0.4% of the exact one. The
 * range ends at CTL_HIST_MAX_NS (60 s); larger values count as 60 s (and in
 * ctl_hist_clamped). About 30 KiB per histogram, whatever the count.
 *
 * Quantiles follow the nearest-rank definition: q = 0.99 over n values is
 * the value of rank ceil(0.99 * n) (at least 1) in sorted order; ranks 1
 * and n give the exact minimum and maximum.
 *
 * Thread safety: ctl_hist_record may be called from any number of threads at
 * once (relaxed atomic counters: no lock, no allocation). The readers are
 * exact once the writers have finished (joined); during recording they see a
 * consistent-enough snapshot for progress output only. create/destroy/merge
 * from one thread.
 */
#ifndef CPLUGINCTL_HIST_H
#define CPLUGINCTL_HIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest value kept as is: 60 s. */
#define CTL_HIST_MAX_NS INT64_C(60000000000)

typedef struct ctl_hist ctl_hist;

/* Returns a new, empty histogram (free with ctl_hist_destroy) or NULL when
 * out of memory. */
ctl_hist *ctl_hist_create(void);
void ctl_hist_destroy(ctl_hist *h); /* NULL allowed */

/* Counts one value; negative values count as 0, values above
 * CTL_HIST_MAX_NS as CTL_HIST_MAX_NS. */
void ctl_hist_record(ctl_hist *h, int64_t value_ns);

/* Adds every count of `src` to `dst`. */
void ctl_hist_merge(ctl_hist *dst, const ctl_hist *src);

uint64_t ctl_hist_count(const ctl_hist *h);
/* Values recorded above CTL_HIST_MAX_NS. */
uint64_t ctl_hist_clamped(const ctl_hist *h);
/* Exact smallest and largest value (after clamping); 0 when empty. */
int64_t ctl_hist_min(const ctl_hist *h);
int64_t ctl_hist_max(const ctl_hist *h);
/* Exact mean of the (clamped) values; 0 when empty. */
double ctl_hist_mean(const ctl_hist *h);

/* The q-quantile (0 <= q <= 1; q outside is clamped), nearest rank; 0 when
 * empty. */
int64_t ctl_hist_quantile(const ctl_hist *h, double q);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGINCTL_HIST_H */
