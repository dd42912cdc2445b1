/* Open-loop schedule arithmetic (schedule.h). */
#include "schedule.h"

#include <math.h>

/* A segment's rate goes linearly from r0 to r1 over T seconds, so the calls
 * due by time t are N(t) = r0 t + (r1 - r0) t^2 / (2T); slot k is due when
 * N(t) = k. */

uint64_t ctl_segment_slots(const ctl_segment *seg) {
  double n = (seg->rate_start + seg->rate_end) / 2 * seg->duration_s;
  if (!(n >= 1)) {
    return n > 0 ? 1 : 0;
  }
  return (uint64_t)floor(n + 1e-9);
}

int64_t ctl_segment_offset_ns(const ctl_segment *seg, uint64_t k) {
  double r0 = seg->rate_start;
  double a =
      (seg->rate_end - r0) / (2 * seg->duration_s); /* N = r0 t + a t^2 */
  double t;
  if (fabs(a) < 1e-12) {
    t = (double)k / r0;
  } else {
    /* The root of a t^2 + r0 t - k = 0 in the segment, written so that it
     * does not lose precision when a is small. */
    t = 2 * (double)k / (r0 + sqrt(r0 * r0 + 4 * a * (double)k));
  }
  return (int64_t)llround(t * 1e9);
}
