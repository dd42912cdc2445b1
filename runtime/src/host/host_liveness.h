/* The host's side of provider liveness (internal): a grpc.health.v1
 * prober for the registry, and the thread that runs the registry's
 * liveness pass every lease interval. */
#ifndef CPLUGIN_HOST_HOST_LIVENESS_H
#define CPLUGIN_HOST_HOST_LIVENESS_H

#include <stdint.h>

#include "cplugin/registry.h"

/* A cp_registry_probe_fn: grpc.health.v1.Health/Check ("" service) on a
 * fresh connection to each plaintext base_url, at most 16 at once. Any
 * answer, whatever its status, means the server is up (a plugin need not
 * serve health); UNAVAILABLE and DEADLINE_EXCEEDED mean it is not. https
 * addresses are UNKNOWN (the prober has no TLS settings): their lease
 * decides. `user` is unused. */
void cpi_host_probe_health(const char *const *base_urls, size_t n,
                           cp_probe_result *results, int64_t timeout_ms,
                           void *user);

typedef struct host_liveness_loop host_liveness_loop;

/* Starts a thread that calls cp_registry_check_liveness(reg) every
 * interval_ms. Returns 0, CP_ENOMEM or CP_ESYS. */
int cpi_host_liveness_start(host_liveness_loop **out, cp_registry *reg,
                            int64_t interval_ms);

/* Stops and joins the thread, frees the loop. NULL allowed. */
void cpi_host_liveness_stop(host_liveness_loop *loop);

#endif /* CPLUGIN_HOST_HOST_LIVENESS_H */
