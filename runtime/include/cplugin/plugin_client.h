/* cplugin — the plugin client: connect to a plugin (or a host) with the
 * handshake, keep the runtime identity it issues, and hand out clients for
 * the plugins it offers.
 *
 *   cp_plugin_client_options o;
 *   cp_plugin_client_options_init(&o);
 *   o.endpoint = "127.0.0.1:5000";
 *   const char *want[] = {"kv"};
 *   o.requested_plugins = want;
 *   o.requested_plugin_count = 1;
 *   cp_plugin_client *pc;
 *   cp_plugin_client_create(&pc, &o);
 *   cp_status st;
 *   if (cp_plugin_client_connect(pc, &st) == 0) {
 *     cp_client *kv;
 *     cp_plugin_client_dispense(pc, &cp_kv__v1__kvservice__plugin, &kv);
 *     cp_kv__v1__kvservice__get__call(kv, &req, &resp, NULL, &st);
 *   }
 *   cp_plugin_client_destroy(pc);
 *
 * When the handshake issued a runtime identity, every call made through the
 * dispensed client carries it (`authorization: Bearer <token>` and
 * `x-plugin-runtime-id`).
 *
 * Thread safety: connect, close and destroy from one thread; once connected,
 * dispensed clients and the accessors may be used from any thread.
 */
#ifndef CPLUGIN_PLUGIN_CLIENT_H
#define CPLUGIN_PLUGIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/client.h"
#include "cplugin/service.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_plugin_client cp_plugin_client;

typedef struct cp_plugin_client_options {
  const char *endpoint; /* target: "host:port" or "unix:/path"; required */
  /* NULL or "" = both defaults (CP_MAGIC_COOKIE_KEY / _VALUE). */
  const char *magic_cookie_key;
  const char *magic_cookie_value;
  int32_t app_version; /* 0 = 1 */
  /* Ask for a runtime identity (host mode); NULL = none. */
  const char *self_id;
  const char *self_version;
  /* Plugins that must be available; connect fails naming a missing one. */
  const char *const *requested_plugins;
  size_t requested_plugin_count;
  const cp_tls_client_options *tls; /* NULL = plaintext */
  /* Sent as x-api-key on the handshake call only (later calls carry the
   * runtime token): the identity the host issues then carries the key's
   * principal, which its allow-lists key on. NULL = none. A secret: copied,
   * never logged. A client certificate (tls) is the other way to
   * authenticate the handshake. */
  const char *api_key;
  int64_t handshake_timeout_ms; /* default 10 000 */
  size_t max_message_bytes;     /* default 4 MiB */
} cp_plugin_client_options;

CP_API void cp_plugin_client_options_init(cp_plugin_client_options *opts);

/* Creates a client (no I/O yet); strings are copied. Returns 0, CP_EINVAL or
 * CP_ENOMEM. */
CP_API int cp_plugin_client_create(cp_plugin_client **out,
                                   const cp_plugin_client_options *opts);

/* Performs the handshake and checks its answer: core version 1, the app
 * version asked for, every requested plugin present. Returns 0; CP_ERPC when
 * the server refused (status holds its code and message) or the answer fails
 * a check (status FAILED_PRECONDITION naming what, e.g. "requested plugin
 * \"kv\" not available on server"); CP_ECLOSED after close; CP_ESTATE when
 * already connected. */
CP_API int cp_plugin_client_connect(cp_plugin_client *pc, cp_status *status);

/* The runtime ID and token issued by the handshake, or NULL. Valid until
 * destroy. The token is a secret: never log it. */
CP_API const char *cp_plugin_client_runtime_id(const cp_plugin_client *pc);
CP_API const char *cp_plugin_client_runtime_token(const cp_plugin_client *pc);

/* The app protocol version the server chose. */
CP_API int32_t cp_plugin_client_app_version(const cp_plugin_client *pc);

/* The version the server announced for plugin `name`, or NULL. */
CP_API const char *cp_plugin_client_plugin_version(const cp_plugin_client *pc,
                                                   const char *name);

/* Returns (in *out) the client to call `plugin` with the generated stubs.
 * The plugin must have been announced by the server under plugin->name with
 * the same service path. The client belongs to `pc`: do not destroy it; it
 * stays valid until cp_plugin_client_destroy. Returns 0, CP_ESTATE before a
 * successful connect, CP_ECLOSED after close, or CP_ENOTFOUND. */
CP_API int cp_plugin_client_dispense(cp_plugin_client *pc,
                                     const cp_plugin_desc *plugin,
                                     cp_client **out);

/* The authenticated channel itself (every call carries the runtime identity
 * once connected): for host APIs such as the registry and lifecycle. Owned by
 * `pc`; valid until cp_plugin_client_destroy. */
CP_API cp_client *cp_plugin_client_channel(cp_plugin_client *pc);

/* Closes the connection: calls in progress are cancelled, later calls and
 * dispenses fail with CP_ECLOSED. Idempotent. */
CP_API void cp_plugin_client_close(cp_plugin_client *pc);

/* Closes and frees. NULL allowed. */
CP_API void cp_plugin_client_destroy(cp_plugin_client *pc);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_PLUGIN_CLIENT_H */
