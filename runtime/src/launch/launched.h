/* The launched mode of a plugin process (internal): started by a launcher
 * that set CP_LAUNCH_LISTEN_ENV ("CPLUGIN_LISTEN", plugin_runtime.h), the
 * process serves there, whatever address its code asked for, and announces
 * the address with the handshake line (launch/announce.h).
 *
 * The first plaintext listener the process opens (cp_server_listen) claims
 * the launched address; later listeners, and every listener of a process
 * that was not launched, bind what they are given. The bound endpoint is
 * recorded for the server's start (which announces it) and for the plugin
 * runtime (which registers it as base_url).
 *
 * Thread safety: every function may be called from any thread; the state is
 * the process's, behind one lock. */
#ifndef CPLUGIN_LAUNCH_LAUNCHED_H
#define CPLUGIN_LAUNCH_LAUNCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "launch/process.h"

/* Checks a CPLUGIN_LISTEN value: "unix:<absolute path>" (at most 107
 * bytes of path) or "<loopback host>:<port>" with host 127.0.0.1, [::1] or
 * localhost and port 0..65535 (0: any free port). Returns 0 or CP_EINVAL
 * with the reason in err. */
int cpi_launch_listen_check(const char *value, char *err, size_t errlen);

/* Called by a listener before it binds. Returns 1 and copies the launched
 * address into address (cap bytes) when the process was launched and no
 * listener claimed it yet; 0 when the caller binds its own address; CP_EINVAL
 * (logged) when CPLUGIN_LISTEN is set but not valid, or when
 * CPLUGIN_LAUNCH_SECRET is set but not valid (cpi_launch_secret_load). */
int cpi_launch_listen_claim(char *address, size_t cap);

/* Records where the claiming listener bound: `address` is the claimed one,
 * `port` the TCP port it got (ignored for unix). Returns 0 or CP_EINVAL. */
int cpi_launch_listen_bound(const char *address, int port);

/* Gives back a claim whose bind failed, so the state says "not bound". */
void cpi_launch_listen_unclaim(void);

/* True, with the endpoint, once the claiming listener bound. */
bool cpi_launch_endpoint(proc_endpoint *out);

/* The endpoint as a cplugin address ("unix:/path" or "host:port"), for
 * base_url. Returns false when not bound (or cap is too small). */
bool cpi_launch_endpoint_url(char *out, size_t cap);

/* Prints the handshake line for the bound endpoint on stdout, once per
 * process; later calls do nothing. Returns 0 or the errors of
 * cpi_launch_announce. */
int cpi_launch_announce_once(void);

/* Tests only: forgets the claim, the endpoint and the announcement. */
void cpi_launch_testing_reset(void);

#endif /* CPLUGIN_LAUNCH_LAUNCHED_H */
