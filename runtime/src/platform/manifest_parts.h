/* The pieces of a manifest plugin entry, one file each (internal to
 * platform/manifest*.c). Same contract as manifest_read.h: 0, or an error
 * code with the message written. */
#ifndef CPLUGIN_PLATFORM_MANIFEST_PARTS_H
#define CPLUGIN_PLATFORM_MANIFEST_PARTS_H

#include <jansson.h>

#include "platform/manifest.h"
#include "platform/manifest_read.h"

/* One entry of "plugins" (manifest_plugin.c). */
int cpi_manifest_read_plugin(manifest_ctx *c, json_t *v, const char *path,
                             manifest_plugin *out);

/* The plugin's "env" object, `path` naming it (manifest_env.c). */
int cpi_manifest_read_env(manifest_ctx *c, json_t *env, const char *path,
                          manifest_plugin *p);

/* The plugin's "provides" and "requires" (manifest_services.c); `path`
 * names the plugin object. */
int cpi_manifest_read_services(manifest_ctx *c, json_t *plugin,
                               const char *path, manifest_plugin *p);

#endif /* CPLUGIN_PLATFORM_MANIFEST_PARTS_H */
