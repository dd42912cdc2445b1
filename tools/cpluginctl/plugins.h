/* cpluginctl — the simulated plugins of `load`: each one has its own runtime
 * identity from a real handshake (cp_plugin_client with a self_id) and its
 * own connections (cp_client with dedicated_connection), and sends its
 * identity as plain per-call metadata, since asynchronous calls do not run
 * client interceptors (cplugin/client.h).
 *
 * Thread safety: create, close and destroy from one thread; the clients and
 * metadata are then used from any thread.
 */
#ifndef CPLUGINCTL_PLUGINS_H
#define CPLUGINCTL_PLUGINS_H

#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "fleet.h"

typedef struct ctl_sim_plugin {
  char runtime_id[160];
  char bearer[160];    /* "Bearer <token>" */
  cp_client *host;     /* to the host: direct Echo and routed calls */
  cp_client *provider; /* straight to the provider, or NULL */
  /* authorization, x-plugin-runtime-id, x-cplugin-service-type: the host's
   * own Echo uses the first two, routed calls all three. */
  cp_metadata host_md[3];
  /* x-plugin-caller-id: what the router would send the provider. A direct
   * call never carries the token: providers must not see it. */
  cp_metadata provider_md[1];
  ctl_fleet_member fleet; /* the fleet preset's registration and watch */
} ctl_sim_plugin;

typedef struct ctl_plugins_options {
  const char *host_target;     /* required */
  const char *provider_target; /* NULL = no provider clients */
  const char *service_type;    /* for routed calls */
  const char *id_prefix;       /* self_id = "<prefix>-<index>" */
  uint32_t count;
  /* The host serves TLS with a certificate chaining to this PEM file (the
   * only root the clients trust); NULL = plaintext. */
  const char *host_tls_root;
  /* The fleet preset: every plugin joins as a fleet member (fleet.h), the
   * joins spread evenly over ramp_s seconds (0 = one after another). NULL =
   * plain simulated plugins, all at once. */
  ctl_fleet_stats *fleet;
  double ramp_s;
  /* The completion thread the host clients share (cplugin/client.h); NULL
   * = one thread per client. A fleet of thousands needs it. */
  cp_client_loop *loop;
} ctl_plugins_options;

/* Handshakes `count` identities (retrying while the host rate-limits the
 * handshakes, up to 30 s), creates their clients and opens each connection
 * with one grpc.health.v1 Check (answer ignored) so that no measured call
 * pays for a TCP or HTTP/2 handshake; fleet members then join (see above).
 * Returns 0 and *out (an array of
 * `count`), or -1 with a reason in `err` (then nothing is left allocated).
 * Stops early, with -1, when SIGINT/SIGTERM arrive. */
int ctl_plugins_create(ctl_sim_plugin **out, const ctl_plugins_options *opts,
                       char *err, size_t err_len);

/* Closes every client: calls in flight are cancelled (their callbacks run
 * with CANCELLED). */
void ctl_plugins_close(ctl_sim_plugin *plugins, uint32_t count);

/* Closes and destroys every client (waits for every callback), then frees
 * the array. NULL allowed. */
void ctl_plugins_destroy(ctl_sim_plugin *plugins, uint32_t count);

#endif /* CPLUGINCTL_PLUGINS_H */
