/* The plugin runtime's handshake with its host: plain (a new identity) or
 * a renewal (a fresh token for the current runtime ID). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "cplugin/handshake.h"
#include "plugin/runtime_internal.h"
#include "plugin/v1/handshake.cplugin.h"

/* Longest lifetime believed (a year): the host's string never makes the
 * renewal arithmetic overflow. */
#define MAX_TTL_MS (366LL * 24 * 60 * 60 * 1000)

/* The token lifetime the host stated, or 0. */
static int64_t stated_ttl_ms(const Connectplugin__V1__HandshakeResponse *r) {
  for (size_t i = 0; i < r->n_server_metadata; i++) {
    const char *key = r->server_metadata[i]->key;
    const char *value = r->server_metadata[i]->value;
    if (key != NULL && value != NULL &&
        strcmp(key, CP_HANDSHAKE_TOKEN_TTL_KEY) == 0) {
      char *end = NULL;
      long long ms = strtoll(value, &end, 10);
      if (end == value || *end != '\0' || ms <= 0) {
        return 0;
      }
      return ms > MAX_TTL_MS ? MAX_TTL_MS : (int64_t)ms;
    }
  }
  return 0;
}

static int accept_answer(cp_plugin_runtime *rt, const char *renew_id,
                         const Connectplugin__V1__HandshakeResponse *r,
                         rt_identity *out, cp_status *st) {
  int32_t want = rt->opts.app_version == 0 ? 1 : rt->opts.app_version;
  if (r->core_protocol_version != CP_CORE_PROTOCOL_VERSION ||
      r->app_protocol_version != want) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "protocol version mismatch: core %d, app %d (want %d)",
                  (int)r->core_protocol_version, (int)r->app_protocol_version,
                  (int)want);
    return CP_ERPC;
  }
  if (r->runtime_id == NULL || r->runtime_id[0] == '\0' ||
      strlen(r->runtime_id) > CP_RUNTIME_ID_MAX) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "host issued no runtime identity");
    return CP_ERPC;
  }
  if (r->runtime_token == NULL || strlen(r->runtime_token) != CP_TOKEN_LEN) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "host issued a malformed runtime token");
    return CP_ERPC;
  }
  if (renew_id != NULL && strcmp(renew_id, r->runtime_id) != 0) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "host renewed another runtime ID");
    return CP_ERPC;
  }
  snprintf(out->id, sizeof out->id, "%s", r->runtime_id);
  memcpy(out->token, r->runtime_token, CP_TOKEN_LEN + 1);
  out->ttl_ms = stated_ttl_ms(r);
  return 0;
}

int cpi_rt_handshake(cp_plugin_runtime *rt, const char *renew_id,
                     rt_identity *out, cp_status *st) {
  const cp_plugin_runtime_options *o = &rt->opts;
  Connectplugin__V1__HandshakeRequest req =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
  req.core_protocol_version = CP_CORE_PROTOCOL_VERSION;
  req.app_protocol_version = o->app_version == 0 ? 1 : o->app_version;
  bool default_cookie =
      o->magic_cookie_key == NULL || o->magic_cookie_key[0] == '\0';
  req.magic_cookie_key =
      (char *)(default_cookie ? CP_MAGIC_COOKIE_KEY : o->magic_cookie_key);
  req.magic_cookie_value =
      (char *)(default_cookie                  ? CP_MAGIC_COOKIE_VALUE
               : o->magic_cookie_value != NULL ? o->magic_cookie_value
                                               : "");
  req.self_id = (char *)o->self_id;
  if (o->self_version != NULL) {
    req.self_version = (char *)o->self_version;
  }
  Connectplugin__V1__HandshakeRequest__ClientMetadataEntry version =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__CLIENT_METADATA_ENTRY__INIT;
  version.key = "client_version";
  version.value = CP_SERVER_VERSION;
  Connectplugin__V1__HandshakeRequest__ClientMetadataEntry renew =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__CLIENT_METADATA_ENTRY__INIT;
  renew.key = CP_HANDSHAKE_RENEW_KEY;
  renew.value = (char *)renew_id;
  Connectplugin__V1__HandshakeRequest__ClientMetadataEntry *md[] = {&version,
                                                                    &renew};
  req.client_metadata = md;
  req.n_client_metadata = renew_id != NULL ? 2 : 1;
  cp_call_options co;
  cp_call_options_init(&co);
  co.timeout_ms = RT_CALL_TIMEOUT_MS;
  /* The API key proves the principal of a new identity; a renewal is
   * proved by the current token (added by the channel's interceptor). */
  cp_metadata key = {CP_MD_API_KEY, o->api_key};
  if (o->api_key != NULL && renew_id == NULL) {
    co.metadata = &key;
    co.metadata_count = 1;
  }
  Connectplugin__V1__HandshakeResponse *resp = NULL;
  out->sent_ns = cpi_clock_monotonic_ns();
  int rc = cp_connectplugin__v1__handshake_service__handshake__call(
      rt->ctl, &req, &resp, &co, st);
  if (rc != 0) {
    return rc;
  }
  rc = accept_answer(rt, renew_id, resp, out, st);
  if (resp->runtime_token != NULL) {
    memset(resp->runtime_token, 0, strlen(resp->runtime_token));
  }
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return rc;
}
