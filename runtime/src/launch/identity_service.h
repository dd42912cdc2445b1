/* What a server that claimed the launched address serves in Model A
 * (internal; docs/launch.md): PluginIdentity (GetPluginInfo,
 * SetRuntimeIdentity), a default PluginControl when the plugin registered
 * none, and the launch-secret check in front of both services.
 *
 * Built on cplugin's server API only (no gRPC): the transport calls
 * cpi_launch_identity_serve from cp_server_start of its launched server. */
#ifndef CPLUGIN_LAUNCH_IDENTITY_SERVICE_H
#define CPLUGIN_LAUNCH_IDENTITY_SERVICE_H

#include <stdbool.h>

#include "cplugin/server.h"

/* The services the secret guards ("/connectplugin.v1.<Service>/"). */
#define LAUNCH_IDENTITY_SERVICE_PREFIX "/connectplugin.v1.PluginIdentity/"
#define LAUNCH_CONTROL_SERVICE_PREFIX "/connectplugin.v1.PluginControl/"

/* Registers, on the not yet started launched `server`, when a valid launch
 * secret was loaded (otherwise does nothing and returns 0): the secret
 * interceptor (every call to PluginIdentity or PluginControl without the
 * right x-cplugin-launch-secret gets UNAUTHENTICATED "launch secret
 * required"), PluginIdentity, and, unless `has_control` (the plugin
 * registered PluginControl itself), the default PluginControl
 * (launch/default_control.c). Returns 0 or the first registration error. */
int cpi_launch_identity_serve(cp_server *server, bool has_control);

/* The default PluginControl: GetHealth answers the published runtime's
 * health (HEALTHY with reason "no plugin runtime" when none is published);
 * Shutdown acknowledges, ends a pending identity wait, and once the answer
 * went out sends the process SIGTERM, so the plugin's own SIGTERM path
 * drains and exits. Returns 0 or a registration error. */
int cpi_launch_default_control_register(cp_server *server);

#endif /* CPLUGIN_LAUNCH_IDENTITY_SERVICE_H */
