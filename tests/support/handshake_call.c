/* test_handshake: see handshake_call.h. */
#include "handshake_call.h"

#include <stdio.h>

#include "plugin/v1/handshake.cplugin.h"

cp_status test_handshake(cp_client *client, const char *self_id,
                         const cp_metadata *md, size_t md_count,
                         char *runtime_id, size_t cap) {
  Connectplugin__V1__HandshakeRequest req =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
  req.core_protocol_version = CP_CORE_PROTOCOL_VERSION;
  req.app_protocol_version = 1;
  req.magic_cookie_key = (char *)CP_MAGIC_COOKIE_KEY;
  req.magic_cookie_value = (char *)CP_MAGIC_COOKIE_VALUE;
  req.self_id = (char *)(self_id != NULL ? self_id : "");
  cp_call_options o;
  cp_call_options_init(&o);
  o.metadata = md;
  o.metadata_count = md_count;
  Connectplugin__V1__HandshakeResponse *resp = NULL;
  cp_status st;
  cp_connectplugin__v1__handshake_service__handshake__call(client, &req, &resp,
                                                           &o, &st);
  if (resp != NULL) {
    if (runtime_id != NULL && cap > 0) {
      snprintf(runtime_id, cap, "%s", resp->runtime_id);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return st;
}
