/* Histogram bucket search (internal; usable from C++ tests). */
#ifndef CPLUGIN_METRICS_BUCKETS_H
#define CPLUGIN_METRICS_BUCKETS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The index of the first of the `bound_count` increasing bounds that is >=
 * value (Prometheus buckets are "less or equal"), or bound_count for the
 * +Inf bucket. update.c. */
size_t cpi_histogram_bucket(const int64_t *bounds, size_t bound_count,
                            int64_t value);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_METRICS_BUCKETS_H */
