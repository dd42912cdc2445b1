/* Every unary method of a host's own services, through the server's real
 * path: the interceptors on the metadata, the request's size cap and
 * bounded decode, the handler (handshake, registry, health, lifecycle) and
 * the response's encoding. The first byte picks the method, the second
 * whether the call carries a valid runtime token; the rest is the request.
 * The host's state (identities, registrations, health) carries over from
 * input to input, as it would from call to call. */
#include <stdlib.h>

#include "fuzz_host.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const cp_metadata *md;
  cp_host *host = fuzz_host(&md);
  if (size < 2) {
    return 0;
  }
  const char *path = paths[data[0] % (sizeof paths / sizeof paths[0])];
  size_t md_count = (data[1] & 1) != 0 ? 2 : 0;
  size_t response = 0;
  cp_status_code code = cpi_server_invoke_detached(
      cp_host_server(host), path, "ipv4:127.0.0.1:40000", md, md_count,
      data + 2, size - 2, &response);
  if (code < CP_STATUS_OK || code >= CP_STATUS_CODE_COUNT ||
      (code != CP_STATUS_OK && response != 0)) {
    abort(); /* a status off the wire, or a response with an error */
  }
  return 0;
}
