/* Every request message a host or plugin service decodes from a peer, with
 * the transport's bounded decoder; the first byte picks the message type. */
#include "fuzz_input.h"
#include "grpc/health/v1/health.pb-c.h"
#include "plugin/v1/handshake.pb-c.h"
#include "plugin/v1/health.pb-c.h"
#include "plugin/v1/lifecycle.pb-c.h"
#include "plugin/v1/plugininfo.pb-c.h"
#include "plugin/v1/registry.pb-c.h"
#include "transport/decode_budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const requests[] = {
    &connectplugin__v1__handshake_request__descriptor,
    &connectplugin__v1__register_service_request__descriptor,
    &connectplugin__v1__unregister_service_request__descriptor,
    &connectplugin__v1__discover_service_request__descriptor,
    &connectplugin__v1__watch_service_request__descriptor,
    &connectplugin__v1__report_health_request__descriptor,
    &connectplugin__v1__get_health_request__descriptor,
    &connectplugin__v1__shutdown_request__descriptor,
    &connectplugin__v1__get_plugin_info_request__descriptor,
    &connectplugin__v1__set_runtime_identity_request__descriptor,
    &connectplugin__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const ProtobufCMessageDescriptor *desc =
      requests[data[0] % (sizeof requests / sizeof requests[0])];
  cp_decode_budget budget;
  ProtobufCMessage *m = cpi_decode_bounded(desc, data + 1, size - 1, &budget);
  if (budget.live > budget.limit) {
    abort();
  }
  if (m != NULL) {
    protobuf_c_message_free_unpacked(m, &budget.allocator);
  }
  if (budget.live != 0) {
    abort(); /* everything the decode allocated was given back */
  }
  return 0;
}
