/* urlshortener-host: the URL-shortener demo's host, which is cplugin-host
 * (tools/cplugin-host: handshake, auth, rate limits, registry, lifecycle,
 * health, router, metrics) under the demo's name. It takes every flag of
 * cplugin-host (TLS, metrics, rate limits too); the demo uses these:
 *
 *   urlshortener-host [--listen ADDRESS] [--token-ttl-ms MS]
 *                     [--manifest FILE] [--admin-key KEY]
 *                     [--redis ADDRESS] [--redis-outage local|deny]
 *                     [--etcd ENDPOINTS] [--etcd-prefix PREFIX]
 *                     [--etcd-ca FILE] [--etcd-cert FILE --etcd-key FILE]
 *
 * --manifest launches and supervises the plugins the manifest lists (the
 * managed mode, examples/urlshortener/manifest.json); without it the host
 * waits for plugins started by hand with HOST_URL (the self-registering
 * mode). In the managed mode it prints "PLUGIN <name> <endpoint> <pid>" for
 * each plugin once all run, and stops them before it exits.
 *
 * --admin-key KEY (or the environment variable CPLUGIN_ADMIN_KEY; the option
 * wins) serves the admin service (cplugin/admin.h) to callers presenting
 * KEY in x-api-key (16..256 bytes), as principal "api-key:operator":
 * `cpluginctl status --host ADDRESS --api-key KEY`. Plugins' runtime
 * tokens never pass it.
 *
 * --redis ADDRESS ("HOST:PORT" or "unix:PATH") shares the rate limits with
 * every other host replica given the same Redis (cplugin/ratelimit_redis.h),
 * authenticating with CPLUGIN_REDIS_PASSWORD (and CPLUGIN_REDIS_USERNAME)
 * from the environment when set, so no secret shows in `ps`.
 * --redis-outage says what limited calls get while Redis is unreachable:
 * "local" (default) each replica's own limits, "deny" UNAVAILABLE.
 *
 * --etcd ENDPOINTS ("HOST:PORT", or "A:PORT,B:PORT" for IPv4 addresses)
 * shares runtime identities and the service registry with every other
 * host replica given the same etcd, prefix (--etcd-prefix, default
 * "/cplugin/") and secret, which comes from CPLUGIN_REPLICA_SECRET in the
 * environment (at least 16 bytes; no secret in `ps`): a plugin registered
 * at one replica is discovered and routed to at all, and a plugin whose
 * replica died continues at another with its token and registrations
 * (cplugin/replicas.h). --etcd-ca, --etcd-cert and --etcd-key
 * reach etcd over TLS (the last two: etcd's client-certificate auth).
 *
 * --token-ttl-ms sets the lifetime of the runtime tokens it issues (default
 * 24 h); plugins renew theirs at half of it, so a short one shows renewal
 * under load.
 *
 * Prints "LISTENING <address>" and "METRICS <port>" on stdout once serving,
 * logs to stderr (CPLUGIN_LOG_FORMAT=json for JSON lines), and stops
 * cleanly on SIGINT or SIGTERM. */
#include "host_run.h"

int main(int argc, char **argv) {
  return cplugin_host_main("urlshortener-host", argc, argv);
}
