/* The host that the host-service fuzz targets call (fuzz targets only):
 * created on first use and kept, so its state carries over from input to
 * input; rate limits off, so that every input reaches its handler; its log
 * formatted (that code runs) but not written, or millions of inputs would
 * fill the disk; and one runtime identity whose metadata inputs may carry. */
#ifndef CPLUGIN_TESTS_FUZZ_HOST_H
#define CPLUGIN_TESTS_FUZZ_HOST_H

#include <stdio.h>
#include <stdlib.h>

#include "cplugin/client.h"
#include "cplugin/host.h"
#include "cplugin/log.h"
#include "cplugin/tokens.h"

static void fuzz_host_discard_log(const char *line, size_t len, void *user) {
  (void)line;
  (void)len;
  (void)user;
}

/* The host; *md (two entries) receives the identity's metadata. Aborts
 * when the host cannot be created. */
static cp_host *fuzz_host(const cp_metadata **md) {
  static cp_host *host;
  static char runtime_id[CP_RUNTIME_ID_MAX + 1];
  static char bearer[sizeof "Bearer " + CP_TOKEN_LEN];
  static cp_metadata identity[2];
  if (host == NULL) {
    cp_log_set_sink(fuzz_host_discard_log, NULL);
    cp_host_options o;
    cp_host_options_init(&o);
    o.metrics_address = NULL;
    o.rate_limits = false;
    o.tokens.sweep_interval_ms = 0;
    o.handshake.magic_cookie_key = "CONNECT_PLUGIN";
    o.handshake.magic_cookie_value = "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e";
    char token[CP_TOKEN_LEN + 1];
    if (cp_host_create(&host, &o) != 0 ||
        cp_token_store_issue(cp_host_tokens(host), "fuzzer", runtime_id,
                             sizeof runtime_id, token) != 0) {
      abort();
    }
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    identity[0] = (cp_metadata){"x-plugin-runtime-id", runtime_id};
    identity[1] = (cp_metadata){"authorization", bearer};
  }
  *md = identity;
  return host;
}

#endif /* CPLUGIN_TESTS_FUZZ_HOST_H */
