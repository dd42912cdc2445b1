/* The start order of a manifest's plugins (internal). */
#ifndef CPLUGIN_PLATFORM_LAUNCHER_ORDER_H
#define CPLUGIN_PLATFORM_LAUNCHER_ORDER_H

#include <stddef.h>

#include "platform/manifest.h"

/* Fills order[0 .. plugins_count) with plugin indices such that every
 * plugin comes after all providers of its startup requirements (ties by
 * name). Returns 0; CP_EINVAL with err naming the cycle (`dependency cycle:
 * a -> b -> a`) or the unprovided service; CP_ENOMEM. */
int cpi_launcher_startup_order(const manifest *m, size_t *order, char *err,
                               size_t errlen);

/* The same checks for a set of entries (the running set and one being
 * added), without an order: 0, CP_EINVAL with err, CP_ENOMEM. */
int cpi_launcher_check_graph(const manifest_plugin *const *plugins,
                             size_t count, char *err, size_t errlen);

#endif /* CPLUGIN_PLATFORM_LAUNCHER_ORDER_H */
