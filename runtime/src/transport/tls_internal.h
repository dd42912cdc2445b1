/* gRPC ssl credentials from cp_tls_*_options (internal). */
#ifndef CPLUGIN_TRANSPORT_TLS_INTERNAL_H
#define CPLUGIN_TRANSPORT_TLS_INTERNAL_H

#include <grpc/grpc_security.h>

#include "cplugin/tls.h"

/* Largest PEM file or text accepted (a chain of a few certificates is a few
 * KiB); a bound so that a wrong path (a log, /dev/zero) cannot make us
 * allocate without limit. */
#define CP_TLS_PEM_MAX_BYTES ((size_t)1 << 20) /* 1 MiB */

/* Builds server credentials from `tls`, reading PEM files now. A client CA
 * is required when tls->require_client_cert (then clients must present a
 * certificate that chains to it); otherwise clients are not asked for one.
 * Returns 0 and *out (release with grpc_server_credentials_release), or
 * CP_EINVAL for missing, unreadable, oversized or non-PEM input or a pem
 * given both as path and text, or CP_ENOMEM. */
int cpi_tls_server_credentials(const cp_tls_server_options *tls,
                               grpc_server_credentials **out);

/* Builds channel credentials from `tls` the same way (root CA optional:
 * gRPC's default roots; client certificate and key both or neither;
 * server_name NULL or non-empty). Returns 0 and *out (release with
 * grpc_channel_credentials_release), CP_EINVAL or CP_ENOMEM. */
int cpi_tls_channel_credentials(const cp_tls_client_options *tls,
                                grpc_channel_credentials **out);

#endif /* CPLUGIN_TRANSPORT_TLS_INTERNAL_H */
