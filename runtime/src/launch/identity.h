/* The identity a launcher hands a plugin process (internal; "Model A",
 * docs/launch.md): the launch secret the launcher put in the environment,
 * the plugin's declaration its runtime publishes, and the runtime identity
 * the launcher then gives it with SetRuntimeIdentity, handed over to the
 * runtime that waits for it.
 *
 * Nothing here knows gRPC or cp_server: launch/identity_service.c serves it
 * and plugin/plugin_runtime.c consumes it.
 *
 * Thread safety: every function may be called from any thread; the state
 * is the process's, behind one lock. */
#ifndef CPLUGIN_LAUNCH_IDENTITY_H
#define CPLUGIN_LAUNCH_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/handshake.h"
#include "cplugin/registry.h"
#include "cplugin/tokens.h"

enum {
  LAUNCH_SECRET_MIN = 16,
  LAUNCH_SECRET_MAX = 128,
  LAUNCH_HOST_URL_MAX = 512
};

/* How long cp_plugin_runtime_start waits for SetRuntimeIdentity once it
 * published the plugin's info. A launcher that handshook (read the line)
 * calls within milliseconds; 30 s also covers a host busy starting many. */
#define LAUNCH_IDENTITY_WAIT_MS 30000

/* Longest token lifetime believed (a year), as for a handshake. */
#define LAUNCH_MAX_TTL_MS (366LL * 24 * 60 * 60 * 1000)

/* --- the launch secret --- */

/* Checks a CPLUGIN_LAUNCH_SECRET value: LAUNCH_SECRET_MIN..MAX characters
 * of base64url (A-Z a-z 0-9 '-' '_', '=' only as padding at the end).
 * Returns 0 or CP_EINVAL. */
int cpi_launch_secret_check(const char *value);

/* Reads CPLUGIN_LAUNCH_SECRET once, when a listener claims the launched
 * address: 0 when unset or valid (kept), CP_EINVAL (logged, not kept) when
 * set but invalid. */
int cpi_launch_secret_load(void);

/* True once a valid secret was loaded. */
bool cpi_launch_secret_present(void);

/* True when value[0..len) is the loaded secret; constant time in the
 * secret's length. False when no secret is loaded. */
bool cpi_launch_secret_matches(const char *value, size_t len);

/* True in Model A: the process was launched (a listener bound
 * CPLUGIN_LISTEN) and has a valid launch secret. */
bool cpi_launch_identity_mode(void);

/* The runtime-ID format the host's token store issues: "<self_id
 * lower-cased>-<16 lower-case hex>", at most CP_RUNTIME_ID_MAX bytes. */
bool cpi_launch_runtime_id_valid(const char *id);

/* --- the plugin's declaration --- */

typedef struct launch_plugin_info {
  const char *self_id;
  const char *self_version; /* NULL = "" */
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
} launch_plugin_info;

/* The health of the published runtime (cp_plugin_runtime_health). */
typedef cp_plugin_health (*launch_health_fn)(void *ctx);

/* Publishes the declaration (deep-copied) and the runtime's health source;
 * from now on GetPluginInfo answers and SetRuntimeIdentity is accepted.
 * Replaces an earlier publication. Returns 0 or CP_ENOMEM. */
int cpi_launch_info_publish(const launch_plugin_info *info,
                            launch_health_fn health, void *ctx);

/* Withdraws the publication (the runtime stops): `health` is not called
 * any more once this returned. */
void cpi_launch_info_withdraw(void);

/* Runs fn on the published declaration, under the lock (fn must not call
 * back into this module). Returns fn's value, or CP_ESTATE when nothing is
 * published. */
typedef int (*launch_info_fn)(const launch_plugin_info *info, void *user);
int cpi_launch_info_read(launch_info_fn fn, void *user);

/* The published runtime's health; false (and *out untouched) when no
 * runtime is published. Calls the health source under the lock. */
bool cpi_launch_runtime_health(cp_plugin_health *out);

/* --- the handover --- */

typedef struct launch_identity {
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  int64_t ttl_ms;      /* 0 = not stated */
  int64_t received_ns; /* monotonic: when SetRuntimeIdentity arrived */
  char host_url[LAUNCH_HOST_URL_MAX + 1]; /* "" = CPLUGIN_HOST_URL */
} launch_identity;

/* Stores the identity for the waiting runtime and wakes it. Returns 0;
 * CP_ESTATE when no runtime published its info; CP_EEXIST when an
 * identity was already set in this process (the launcher starts a new
 * process for a new identity). */
int cpi_launch_identity_offer(const launch_identity *ident);

/* Waits (condition variable) up to timeout_ms for the identity and takes
 * it (the stored token is wiped). Returns 0; CP_ETIMEDOUT; CP_ECANCELLED
 * after cpi_launch_identity_abort. */
int cpi_launch_identity_wait(int64_t timeout_ms, launch_identity *out);

/* Ends a wait now and every later one (the process is shutting down). */
void cpi_launch_identity_abort(void);

/* Tests only: forgets the secret, the publication and the identity. */
void cpi_launch_identity_testing_reset(void);

#endif /* CPLUGIN_LAUNCH_IDENTITY_H */
