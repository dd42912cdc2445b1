/* Every unary method of a host's own services, through the server's real
 * path: the interceptors on the metadata, the request's size cap and
 * bounded decode, the handler (handshake, registry, health, lifecycle) and
 * the response's encoding. The first byte picks the method, the second
 * whether the call carries a valid runtime token; the rest is the request.
 * The host's state (identities, registrations, health) carries over from
 * input to input, as it would from call to call. */
#include <stdio.h>
#include <stdlib.h>

#include "cplugin/host.h"
#include "cplugin/log.h"
#include "cplugin/tokens.h"
#include "transport/detached_call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "/connectplugin.v1.HandshakeService/Handshake",
    "/connectplugin.v1.ServiceRegistry/RegisterService",
    "/connectplugin.v1.ServiceRegistry/UnregisterService",
    "/connectplugin.v1.ServiceRegistry/DiscoverService",
    "/connectplugin.health.v1.HealthService/Check",
    "/connectplugin.v1.PluginLifecycle/ReportHealth",
    "/connectplugin.v1.PluginLifecycle/GetHealth",
    "/grpc.health.v1.Health/Check",
    "/connectplugin.v1.CapabilityBroker/RequestCapability",
};

static cp_host *host;
static char runtime_id[CP_RUNTIME_ID_MAX + 1];
static char bearer[sizeof "Bearer " + CP_TOKEN_LEN];

/* The host logs every refusal: formatted (that code runs) but not
 * written, or millions of inputs would fill the disk. */
static void discard(const char *line, size_t len, void *user) {
  (void)line;
  (void)len;
  (void)user;
}

static void set_up(void) {
  cp_log_set_sink(discard, NULL);
  cp_host_options o;
  cp_host_options_init(&o);
  o.metrics_address = NULL;
  o.rate_limits = false; /* every input reaches its handler */
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (host == NULL) {
    set_up();
  }
  if (size < 2) {
    return 0;
  }
  const char *path = paths[data[0] % (sizeof paths / sizeof paths[0])];
  cp_metadata md[] = {{"x-plugin-runtime-id", runtime_id},
                      {"authorization", bearer}};
  size_t md_count = (data[1] & 1) != 0 ? 2 : 0;
  size_t response = 0;
  cp_status_code code = cp_server_invoke_detached(
      cp_host_server(host), path, "ipv4:127.0.0.1:40000", md, md_count,
      data + 2, size - 2, &response);
  if (code < CP_STATUS_OK || code >= CP_STATUS_CODE_COUNT ||
      (code != CP_STATUS_OK && response != 0)) {
    abort(); /* a status off the wire, or a response with an error */
  }
  return 0;
}
