/* cplugin-host's command line: what a generic host is told to be. */
#ifndef CPLUGIN_TOOLS_HOST_FLAGS_H
#define CPLUGIN_TOOLS_HOST_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "cplugin/cplugin.h"

typedef struct host_config {
  const char *listen;   /* default 127.0.0.1:0 */
  const char *manifest; /* NULL: self-registering plugins only */
  const char *admin_key;
  int64_t token_ttl_ms;        /* 0: the library's default */
  const char *metrics_address; /* NULL: no metrics listener */
  int metrics_port;
  bool rate_limits;
  bool tls;
  cp_tls_server_options tls_options;
  cp_rate_redis_options redis;
  bool use_redis;
  cp_etcd_options etcd;
  cp_tls_client_options etcd_tls;
  const char *replica_secret; /* CPLUGIN_REPLICA_SECRET */
} host_config;

/* Fills `c` from the environment (CPLUGIN_ADMIN_KEY, CPLUGIN_REDIS_*,
 * CPLUGIN_REPLICA_SECRET) and then the flags, which win. Returns 0; 1 after
 * --help (usage printed on stdout); 2 for a bad command line (the reason
 * and the usage printed on stderr). `prog` names the program in messages. */
int host_flags_parse(host_config *c, const char *prog, int argc, char **argv);

#endif /* CPLUGIN_TOOLS_HOST_FLAGS_H */
