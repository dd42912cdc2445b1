/* cpluginctl — when open-loop calls are due. A segment's rate goes linearly
 * from rate_start to rate_end (equal for a constant rate) over duration_s;
 * slot k (0-based) is due when the rate, integrated from the segment's
 * start, reaches k: so the first call goes at once and a constant rate R
 * sends slot k at k / R seconds.
 *
 * Thread safety: pure functions.
 */
#ifndef CPLUGINCTL_SCHEDULE_H
#define CPLUGINCTL_SCHEDULE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctl_segment {
  const char *name;
  double rate_start; /* calls per second, all kinds together; > 0 */
  double rate_end;   /* == rate_start for a constant rate; > 0 */
  double duration_s; /* > 0 */
} ctl_segment;

/* The slots the segment holds: its average rate times its length, rounded
 * down, but at least 1. */
uint64_t ctl_segment_slots(const ctl_segment *seg);

/* When slot k is due, in nanoseconds after the segment's start. */
int64_t ctl_segment_offset_ns(const ctl_segment *seg, uint64_t k);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGINCTL_SCHEDULE_H */
