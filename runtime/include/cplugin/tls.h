/* cplugin — TLS and mutual TLS for servers and clients (gRPC ssl
 * credentials; OpenSSL underneath, see README "Crypto").
 *
 * Certificates and keys are PEM, read from a file or given in memory. Options
 * are copied (and files read) when the listener or client is created.
 *
 * Thread safety: plain values; nothing here is shared.
 */
#ifndef CPLUGIN_TLS_H
#define CPLUGIN_TLS_H

#include <stdbool.h>

#include "cplugin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PEM data: set `path` to read a file, or `pem` to pass the text itself
 * (NUL-terminated); not both. Both NULL means "not given". */
typedef struct cp_tls_pem {
  const char *path;
  const char *pem;
} cp_tls_pem;

typedef struct cp_tls_server_options {
  cp_tls_pem cert_chain;  /* required */
  cp_tls_pem private_key; /* required */
  /* Roots that client certificates must chain to. Required when
   * require_client_cert or request_client_cert is set (mutual TLS). */
  cp_tls_pem client_ca;
  /* Refuse the TLS handshake of a client without a valid certificate. */
  bool require_client_cert;
  /* Ask for a client certificate and verify it when presented, but let
   * clients without one connect: authentication then decides (the mTLS
   * provider of cplugin/auth.h answers UNAUTHENTICATED). A certificate that
   * does not verify still fails the handshake. */
  bool request_client_cert;
} cp_tls_server_options;

CP_API void cp_tls_server_options_init(cp_tls_server_options *opts);

typedef struct cp_tls_client_options {
  /* Roots the server certificate must chain to; not given = the system's
   * default roots. */
  cp_tls_pem root_ca;
  /* Client certificate and key for mutual TLS: both or neither. */
  cp_tls_pem cert_chain;
  cp_tls_pem private_key;
  /* Verify the server certificate against this name instead of the target's
   * host (for example when connecting to an IP address). NULL = the host. */
  const char *server_name;
} cp_tls_client_options;

CP_API void cp_tls_client_options_init(cp_tls_client_options *opts);

/* Environment variable that silences the one-time warning about plaintext on
 * non-loopback addresses when set to 1, true or yes (any case). */
#define CP_TLS_WARNING_ENV "CONNECTPLUGIN_DISABLE_TLS_WARNING"

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TLS_H */
