/* cplugin — the whole public API. */
#ifndef CPLUGIN_CPLUGIN_H
#define CPLUGIN_CPLUGIN_H

#include "cplugin/admin.h"
#include "cplugin/auth.h"
#include "cplugin/broker.h"
#include "cplugin/call.h"
#include "cplugin/client.h"
#include "cplugin/clock.h"
#include "cplugin/errors.h"
#include "cplugin/handshake.h"
#include "cplugin/health.h"
#include "cplugin/host.h"
#include "cplugin/launcher.h"
#include "cplugin/lifecycle.h"
#include "cplugin/log.h"
#include "cplugin/metrics.h"
#include "cplugin/plugin_client.h"
#include "cplugin/plugin_runtime.h"
#include "cplugin/ratelimit.h"
#include "cplugin/ratelimit_policy.h"
#include "cplugin/registry.h"
#include "cplugin/resilience.h"
#include "cplugin/router.h"
#include "cplugin/server.h"
#include "cplugin/service.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"
#include "cplugin/tokens.h"
#include "cplugin/version.h"

#endif /* CPLUGIN_CPLUGIN_H */
