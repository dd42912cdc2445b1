/* cplugin — the handshake service (/connectplugin.v1.HandshakeService/
 * Handshake), served by a host, or by a plugin that serves a host.
 *
 * It checks the magic cookie (constant time) and the protocol versions,
 * issues a runtime identity when the caller names itself (self_id), and
 * describes the plugins and capabilities the server offers.
 *
 * Principal. The self_id is a claim. What the handshake call was
 * authenticated as (cp_call_principal: an API key's name, a client
 * certificate's subject; the auth interceptor must run its providers on
 * Handshake, i.e. the CP_AUTH_OPTIONAL rule of cp_auth_open_host_methods)
 * is recorded with the identity it issues (cp_token_store_issue_for); the
 * registry's allow-lists key on it. Without credentials the identity is
 * anonymous, unless require_principal.
 *
 * Status codes: cookie mismatch, core version != 1, invalid self_id and any
 * field over its limit → INVALID_ARGUMENT (naming the field); app version not
 * accepted → FAILED_PRECONDITION with both versions; self_id without a token
 * store → FAILED_PRECONDITION; self_id without a principal under
 * require_principal → UNAUTHENTICATED; a principal longer than
 * CP_PRINCIPAL_MAX → FAILED_PRECONDITION; live-token cap reached →
 * RESOURCE_EXHAUSTED; random source failure → INTERNAL.
 *
 * Renewal (no gap when a token expires). A handshake whose client_metadata
 * holds CP_HANDSHAKE_RENEW_KEY = <runtime ID>, and whose call carries that
 * identity's valid token (`x-plugin-runtime-id` + `authorization: Bearer`),
 * gets a fresh token for the SAME runtime ID (cp_token_store_refresh): the
 * identity's registrations, health and principal stay, and the previous
 * token keeps validating for the store's refresh_overlap_ms (never past its
 * own expiry), so calls already sent with it still pass. The self_id must
 * name the same identity (its ID's name part), else INVALID_ARGUMENT. A
 * renewal whose credentials do not prove that identity (unknown, wrong,
 * expired or revoked token, or another identity's token) is UNAUTHENTICATED
 * "runtime identity renewal refused" and issues nothing: the plugin then
 * handshakes plainly for a new identity. A plain handshake (no renewal key)
 * behaves as before, whatever credentials it carries.
 *
 * Every response that issues or renews an identity carries the token's
 * lifetime in server_metadata[CP_HANDSHAKE_TOKEN_TTL_KEY] (decimal
 * milliseconds), so the plugin knows when to renew.
 *
 * Thread safety: a service may serve calls on any number of server threads;
 * create, register and destroy it from one thread.
 */
#ifndef CPLUGIN_HANDSHAKE_H
#define CPLUGIN_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/server.h"
#include "cplugin/service.h"
#include "cplugin/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The defaults shared with connect-plugin-go. */
#define CP_MAGIC_COOKIE_KEY "CONNECT_PLUGIN"
#define CP_MAGIC_COOKIE_VALUE "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e"
#define CP_CORE_PROTOCOL_VERSION 1
#define CP_SERVER_VERSION "0.1.0"

/* Renewal request key (client_metadata; value: the runtime ID to renew) and
 * token lifetime response key (server_metadata; decimal ms). */
#define CP_HANDSHAKE_RENEW_KEY "renew_runtime_id"
#define CP_HANDSHAKE_TOKEN_TTL_KEY "runtime_token_ttl_ms"

/* Request limits (INVALID_ARGUMENT beyond them). */
#define CP_HANDSHAKE_MAX_COOKIE_BYTES 256
#define CP_HANDSHAKE_MAX_REQUESTED_PLUGINS 64
#define CP_HANDSHAKE_MAX_PLUGIN_NAME_BYTES 128
#define CP_HANDSHAKE_MAX_METADATA_ENTRIES 100
#define CP_HANDSHAKE_MAX_METADATA_KEY_BYTES 256
#define CP_HANDSHAKE_MAX_METADATA_VALUE_BYTES 4096
#define CP_HANDSHAKE_MAX_VERSION_BYTES 64

/* A plugin as the handshake announces it. */
typedef struct cp_plugin_info {
  const char *name;         /* "kv" */
  const char *version;      /* "1.0.0" */
  const char *service_path; /* "/kv.v1.KVService/" */
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
} cp_plugin_info;

/* Fills name, version and service path from a generated plugin descriptor
 * (provides/requires left empty). */
CP_API void cp_plugin_info_from_desc(cp_plugin_info *info,
                                     const cp_plugin_desc *desc);

/* A capability the host offers (handshake host_capabilities). */
typedef struct cp_capability_info {
  const char *type;
  const char *version;
  const char *endpoint;
} cp_capability_info;

typedef struct cp_handshake_service_options {
  /* NULL or "" = both defaults (CP_MAGIC_COOKIE_KEY / _VALUE). */
  const char *magic_cookie_key;
  const char *magic_cookie_value;
  /* Accepted app protocol versions, preferred first; none = {1}. A client's
   * 0 means 1. */
  const int32_t *app_versions;
  size_t app_version_count;
  /* Issues identities to callers that send self_id; NULL = this server does
   * not issue identities. Not owned. */
  cp_token_store *tokens;
  /* Live identities issued to one client address (an IPv6 /64 counts as
   * one), default 256; 0 = no per-address cap. Over it: RESOURCE_EXHAUSTED
   * "too many live runtime identities from this address"; a revoked or
   * expired identity gives its place back. Uses one of the token store's
   * listener places. */
  size_t max_identities_per_address;
  /* false (default): an identity is issued to any handshake that names
   * itself, authenticated or not (anonymous identities may discover, watch
   * and call, and register what the registry's policy lets anonymous
   * runtimes register). true: only to an authenticated handshake (API key,
   * client certificate, a custom validator; not a runtime token);
   * otherwise UNAUTHENTICATED. A handshake without self_id is unaffected. */
  bool require_principal;
  const cp_plugin_info *plugins;
  size_t plugin_count;
  /* Merged over {"server_version": CP_SERVER_VERSION}. */
  const cp_metadata *server_metadata;
  size_t server_metadata_count;
  const cp_capability_info *capabilities;
  size_t capability_count;
} cp_handshake_service_options;

CP_API void cp_handshake_service_options_init(
    cp_handshake_service_options *opts);

typedef struct cp_handshake_service cp_handshake_service;

/* Creates the service; everything in `opts` is copied except `tokens`.
 * Returns 0, CP_EINVAL (e.g. a version <= 0, a plugin without a name) or
 * CP_ENOMEM. */
CP_API int cp_handshake_service_create(
    cp_handshake_service **out, const cp_handshake_service_options *opts);

/* Registers Handshake on `server` (before cp_server_start). The service must
 * outlive the server. */
CP_API int cp_handshake_service_register(cp_handshake_service *svc,
                                         cp_server *server);

/* Counts of handshakes by outcome since creation (for metrics). */
typedef struct cp_handshake_stats {
  uint64_t ok;
  uint64_t rejected; /* any non-OK answer */
} cp_handshake_stats;
CP_API void cp_handshake_service_get_stats(const cp_handshake_service *svc,
                                           cp_handshake_stats *stats);

CP_API void cp_handshake_service_destroy(cp_handshake_service *svc);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_HANDSHAKE_H */
