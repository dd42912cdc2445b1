/* The plugin client: handshake, identity, dispensing clients. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "cplugin/handshake.h"
#include "cplugin/log.h"
#include "cplugin/plugin_client.h"
#include "plugin/v1/handshake.cplugin.h"

enum { DEFAULT_HANDSHAKE_TIMEOUT_MS = 10000 };

typedef struct announced {
  const char *name;
  const char *version;
  const char *service_path;
} announced;

struct cp_plugin_client {
  cp_arena mem; /* copied options and handshake results */
  const char *endpoint;
  const char *cookie_key;
  const char *cookie_value;
  int32_t app_version;
  const char *self_id;
  const char *self_version;
  const char *api_key; /* handshake only */
  const char **requested;
  size_t requested_count;
  int64_t handshake_timeout_ms;

  cp_client *client;
  bool connected;
  atomic_bool closed;

  const char *runtime_id;
  const char *runtime_token;
  char bearer[8 + CP_TOKEN_LEN + 1]; /* "Bearer <token>" */
  int32_t chosen_app_version;
  announced *plugins;
  size_t plugin_count;
};

void cp_plugin_client_options_init(cp_plugin_client_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

static const char *dup(cp_plugin_client *pc, const char *s) {
  if (s == NULL) {
    return NULL;
  }
  return cpi_arena_strndup(&pc->mem, s, strlen(s));
}

/* Adds the runtime identity to every call once the handshake issued one.
 * Returns 0 or the failure (CP_ERPC, status set). */
static int attach_identity(cp_plugin_client *pc, cp_invocation *inv) {
  if (pc->runtime_id != NULL) {
    int rc = cp_invocation_add_metadata(inv, CP_MD_RUNTIME_ID, pc->runtime_id);
    if (rc == 0) {
      rc = cp_invocation_add_metadata(inv, CP_MD_AUTHORIZATION, pc->bearer);
    }
    if (rc != 0) {
      return cp_invocation_fail(inv, CP_STATUS_INTERNAL,
                                "cannot attach the runtime identity");
    }
  }
  return 0;
}

static int add_identity(cp_invocation *inv, void *user) {
  int rc = attach_identity(user, inv);
  return rc != 0 ? rc : cp_invocation_proceed(inv);
}

static void add_identity_async(cp_invocation *inv, void *user) {
  int rc = attach_identity(user, inv);
  if (rc != 0) {
    cp_invocation_complete(inv, rc);
  } else {
    cp_invocation_proceed_async(inv, NULL, NULL);
  }
}

static int copy_options(cp_plugin_client *pc,
                        const cp_plugin_client_options *o) {
  pc->endpoint = dup(pc, o->endpoint);
  pc->cookie_key = dup(pc, o->magic_cookie_key);
  pc->cookie_value = dup(pc, o->magic_cookie_value);
  pc->self_id = dup(pc, o->self_id);
  pc->self_version = dup(pc, o->self_version);
  pc->api_key = dup(pc, o->api_key);
  pc->app_version = o->app_version == 0 ? 1 : o->app_version;
  pc->handshake_timeout_ms = o->handshake_timeout_ms > 0
                                 ? o->handshake_timeout_ms
                                 : DEFAULT_HANDSHAKE_TIMEOUT_MS;
  pc->requested_count = o->requested_plugin_count;
  if (o->requested_plugin_count > 0) {
    pc->requested = cpi_arena_alloc(
        &pc->mem, o->requested_plugin_count * sizeof *pc->requested);
    if (pc->requested == NULL) {
      return CP_ENOMEM;
    }
    for (size_t i = 0; i < o->requested_plugin_count; i++) {
      if (o->requested_plugins[i] == NULL) {
        return CP_EINVAL;
      }
      pc->requested[i] = dup(pc, o->requested_plugins[i]);
      if (pc->requested[i] == NULL) {
        return CP_ENOMEM;
      }
    }
  }
  return pc->endpoint == NULL ? CP_ENOMEM : 0;
}

int cp_plugin_client_create(cp_plugin_client **out,
                            const cp_plugin_client_options *opts) {
  if (out == NULL || opts == NULL || opts->endpoint == NULL ||
      opts->endpoint[0] == '\0' || opts->app_version < 0 ||
      (opts->requested_plugin_count > 0 && opts->requested_plugins == NULL)) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_plugin_client *pc = calloc(1, sizeof *pc);
  if (pc == NULL) {
    return CP_ENOMEM;
  }
  cpi_arena_init(&pc->mem);
  atomic_init(&pc->closed, false);
  int rc = copy_options(pc, opts);
  if (rc == 0) {
    cp_client_options co;
    cp_client_options_init(&co);
    co.tls = opts->tls;
    if (opts->max_message_bytes > 0) {
      co.max_message_bytes = opts->max_message_bytes;
    }
    rc = cp_client_create(&pc->client, pc->endpoint, &co);
  }
  if (rc == 0) {
    rc = cp_client_add_interceptor_async(pc->client, add_identity,
                                         add_identity_async, pc);
  }
  if (rc != 0) {
    cp_plugin_client_destroy(pc);
    return rc;
  }
  *out = pc;
  return 0;
}

/* Checks the answer and keeps what later calls need. */
static int accept_response(cp_plugin_client *pc,
                           const Connectplugin__V1__HandshakeResponse *r,
                           cp_status *st) {
  if (r->core_protocol_version != CP_CORE_PROTOCOL_VERSION) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "core protocol version mismatch: got %d, want %d",
                  (int)r->core_protocol_version, CP_CORE_PROTOCOL_VERSION);
    return CP_ERPC;
  }
  if (r->app_protocol_version != pc->app_version) {
    cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                  "app protocol version mismatch: got %d, want %d",
                  (int)r->app_protocol_version, (int)pc->app_version);
    return CP_ERPC;
  }
  pc->plugins =
      r->n_plugins == 0
          ? NULL
          : cpi_arena_alloc(&pc->mem, r->n_plugins * sizeof(announced));
  if (r->n_plugins > 0 && pc->plugins == NULL) {
    cp_status_set(st, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < r->n_plugins; i++) {
    pc->plugins[i].name = dup(pc, r->plugins[i]->name);
    pc->plugins[i].version = dup(pc, r->plugins[i]->version);
    pc->plugins[i].service_path = dup(pc, r->plugins[i]->service_path);
  }
  pc->plugin_count = r->n_plugins;
  for (size_t i = 0; i < pc->requested_count; i++) {
    if (cp_plugin_client_plugin_version(pc, pc->requested[i]) == NULL) {
      cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                    "requested plugin \"%s\" not available on server",
                    pc->requested[i]);
      return CP_ERPC;
    }
  }
  if (r->runtime_id != NULL && r->runtime_id[0] != '\0') {
    if (r->runtime_token == NULL || strlen(r->runtime_token) != CP_TOKEN_LEN) {
      cp_status_set(st, CP_STATUS_FAILED_PRECONDITION,
                    "server issued a malformed runtime token");
      return CP_ERPC;
    }
    pc->runtime_id = dup(pc, r->runtime_id);
    pc->runtime_token = dup(pc, r->runtime_token);
    memcpy(pc->bearer, "Bearer ", 7);
    memcpy(pc->bearer + 7, r->runtime_token, CP_TOKEN_LEN + 1);
  }
  pc->chosen_app_version = r->app_protocol_version;
  return 0;
}

int cp_plugin_client_connect(cp_plugin_client *pc, cp_status *status) {
  if (pc == NULL || status == NULL) {
    return CP_EINVAL;
  }
  cp_status_clear(status);
  if (atomic_load(&pc->closed)) {
    cp_status_set(status, CP_STATUS_CANCELLED, "client is closed");
    return CP_ECLOSED;
  }
  if (pc->connected) {
    return CP_ESTATE;
  }
  Connectplugin__V1__HandshakeRequest req =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
  req.core_protocol_version = CP_CORE_PROTOCOL_VERSION;
  req.app_protocol_version = pc->app_version;
  bool default_cookie = pc->cookie_key == NULL || pc->cookie_key[0] == '\0';
  req.magic_cookie_key =
      (char *)(default_cookie ? CP_MAGIC_COOKIE_KEY : pc->cookie_key);
  req.magic_cookie_value =
      (char *)(default_cookie
                   ? CP_MAGIC_COOKIE_VALUE
                   : (pc->cookie_value != NULL ? pc->cookie_value : ""));
  req.requested_plugins = (char **)pc->requested;
  req.n_requested_plugins = pc->requested_count;
  Connectplugin__V1__HandshakeRequest__ClientMetadataEntry version =
      CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__CLIENT_METADATA_ENTRY__INIT;
  version.key = "client_version";
  version.value = CP_SERVER_VERSION;
  Connectplugin__V1__HandshakeRequest__ClientMetadataEntry *md[] = {&version};
  req.client_metadata = md;
  req.n_client_metadata = 1;
  if (pc->self_id != NULL) {
    req.self_id = (char *)pc->self_id;
  }
  if (pc->self_version != NULL) {
    req.self_version = (char *)pc->self_version;
  }
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = pc->handshake_timeout_ms;
  cp_metadata key = {CP_MD_API_KEY, pc->api_key};
  if (pc->api_key != NULL) {
    opts.metadata = &key;
    opts.metadata_count = 1;
  }
  Connectplugin__V1__HandshakeResponse *resp = NULL;
  int rc = cp_connectplugin__v1__handshake_service__handshake__call(
      pc->client, &req, &resp, &opts, status);
  if (rc != 0) {
    return rc;
  }
  rc = accept_response(pc, resp, status);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  if (rc == 0) {
    pc->connected = true;
    cp_log(CP_LOG_DEBUG, "plugin client connected", "endpoint", pc->endpoint,
           "runtime_id", pc->runtime_id != NULL ? pc->runtime_id : "",
           CP_LOG_END);
  }
  return rc;
}

const char *cp_plugin_client_runtime_id(const cp_plugin_client *pc) {
  return pc != NULL ? pc->runtime_id : NULL;
}

const char *cp_plugin_client_runtime_token(const cp_plugin_client *pc) {
  return pc != NULL ? pc->runtime_token : NULL;
}

int32_t cp_plugin_client_app_version(const cp_plugin_client *pc) {
  return pc != NULL ? pc->chosen_app_version : 0;
}

static const announced *find_plugin(const cp_plugin_client *pc,
                                    const char *name) {
  for (size_t i = 0; i < pc->plugin_count; i++) {
    if (pc->plugins[i].name != NULL && strcmp(pc->plugins[i].name, name) == 0) {
      return &pc->plugins[i];
    }
  }
  return NULL;
}

const char *cp_plugin_client_plugin_version(const cp_plugin_client *pc,
                                            const char *name) {
  if (pc == NULL || name == NULL) {
    return NULL;
  }
  const announced *a = find_plugin(pc, name);
  return a != NULL ? a->version : NULL;
}

int cp_plugin_client_dispense(cp_plugin_client *pc,
                              const cp_plugin_desc *plugin, cp_client **out) {
  if (pc == NULL || plugin == NULL || plugin->name == NULL || out == NULL) {
    return CP_EINVAL;
  }
  *out = NULL;
  if (atomic_load(&pc->closed)) {
    return CP_ECLOSED;
  }
  if (!pc->connected) {
    return CP_ESTATE;
  }
  const announced *a = find_plugin(pc, plugin->name);
  if (a == NULL || a->service_path == NULL ||
      strcmp(a->service_path, plugin->service_path) != 0) {
    return CP_ENOTFOUND;
  }
  *out = pc->client;
  return 0;
}

cp_client *cp_plugin_client_channel(cp_plugin_client *pc) {
  return pc != NULL ? pc->client : NULL;
}

void cp_plugin_client_close(cp_plugin_client *pc) {
  if (pc == NULL) {
    return;
  }
  atomic_store(&pc->closed, true);
  cp_client_close(pc->client);
}

void cp_plugin_client_destroy(cp_plugin_client *pc) {
  if (pc == NULL) {
    return;
  }
  cp_client_destroy(pc->client);
  if (pc->runtime_token != NULL) {
    /* Arena memory is freed below; wipe the secret first. */
    memset((char *)pc->runtime_token, 0, CP_TOKEN_LEN);
  }
  if (pc->api_key != NULL) {
    memset((char *)pc->api_key, 0, strlen(pc->api_key));
  }
  memset(pc->bearer, 0, sizeof pc->bearer);
  cpi_arena_release(&pc->mem);
  free(pc);
}
