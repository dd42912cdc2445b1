/* A generic cplugin host, from its command line to its exit status: what
 * cplugin-host runs, and what example hosts wrap under their own names. */
#ifndef CPLUGIN_TOOLS_HOST_RUN_H
#define CPLUGIN_TOOLS_HOST_RUN_H

#include "host_flags.h"

/* Serves the host `c` describes until SIGINT or SIGTERM (see README.md of
 * tools/cplugin-host): prints "LISTENING <address>" (and "METRICS <port>",
 * and "PLUGIN <name> <endpoint> <pid>" per launched plugin) on stdout once
 * serving. Returns the process exit status: 0 after a clean stop, 1 when it
 * could not start. Call from main before starting threads (the stop
 * signals are blocked for every thread it starts). */
int host_run(const host_config *c, const char *prog);

/* host_flags_parse, then host_run: a host's whole main. */
int cplugin_host_main(const char *prog, int argc, char **argv);

#endif /* CPLUGIN_TOOLS_HOST_RUN_H */
