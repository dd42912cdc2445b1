/* The one-time warning about plaintext gRPC off this machine (internal). */
#ifndef CPLUGIN_TRANSPORT_PLAINTEXT_WARNING_H
#define CPLUGIN_TRANSPORT_PLAINTEXT_WARNING_H

#include <stdbool.h>

typedef enum cp_plaintext_role {
  CP_PLAINTEXT_CLIENT = 0, /* cp_client_create without TLS */
  CP_PLAINTEXT_SERVER = 1, /* cp_server_listen */
  CP_PLAINTEXT_ROLE_COUNT
} cp_plaintext_role;

/* Logs a CP_LOG_WARN record (field "target" for clients, "address" for
 * servers) when `address` is not local (cpi_address_is_local) — at most once
 * per process and role, and never while CP_TLS_WARNING_ENV is 1, true or yes
 * in any case (read on every call; a silenced call does not use up the one
 * warning). Thread-safe. */
void cpi_plaintext_warn(cp_plaintext_role role, const char *address);

/* True when CP_TLS_WARNING_ENV silences the warning right now. */
bool cpi_plaintext_warning_silenced(void);

/* Lets the next warning of each role through again (tests only). */
void cpi_plaintext_warning_reset(void);

#endif /* CPLUGIN_TRANSPORT_PLAINTEXT_WARNING_H */
