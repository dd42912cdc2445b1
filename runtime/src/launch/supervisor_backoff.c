/* The restart delay of a supervised plugin (see supervisor.h). */
#include <stdint.h>

#include "launch/supervisor.h"

int64_t cpi_sup_backoff_ms(uint32_t attempt, int64_t initial_ms, int64_t max_ms,
                           double random_fraction) {
  if (initial_ms <= 0) {
    return 0;
  }
  if (max_ms < initial_ms) {
    max_ms = initial_ms;
  }
  /* Doubling stops at the cap, so no shift can overflow. */
  int64_t nominal = initial_ms;
  for (uint32_t i = 0; i < attempt && nominal < max_ms; i++) {
    nominal = nominal > max_ms / 2 ? max_ms : nominal * 2;
  }
  if (nominal > max_ms) {
    nominal = max_ms;
  }
  /* NaN fails both comparisons: treat it as 0. */
  if (!(random_fraction > 0.0)) {
    random_fraction = 0.0;
  } else if (random_fraction > 1.0) {
    random_fraction = 1.0;
  }
  int64_t half = nominal / 2;
  int64_t span = nominal - half;
  /* A double holds 53 bits: keep the scaled part within the span. */
  int64_t extra =
      random_fraction >= 1.0 ? span : (int64_t)(random_fraction * (double)span);
  return half + (extra > span ? span : extra);
}
