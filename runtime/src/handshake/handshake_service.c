/* The handshake service: cookie and version checks, identity issuance, and
 * the description of what the server offers. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/validate.h"
#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "handshake/identity_quota.h"
#include "handshake/renewal.h"
#include "cplugin/handshake.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"
#include "plugin/v1/handshake.cplugin.h"
#include "ratelimit/peer_key.h"

/* The public limits are the ones validation enforces (core/validate.h):
 * metadata entries are checked by cpi_check_metadata_entry. */
_Static_assert(CP_HANDSHAKE_MAX_METADATA_ENTRIES == CP_METADATA_MAX_ENTRIES,
               "handshake metadata entries: one limit");
_Static_assert(CP_HANDSHAKE_MAX_METADATA_KEY_BYTES == CP_METADATA_MAX_KEY,
               "handshake metadata keys: one limit");
_Static_assert(CP_HANDSHAKE_MAX_METADATA_VALUE_BYTES == CP_METADATA_MAX_VALUE,
               "handshake metadata values: one limit");
_Static_assert(CP_HANDSHAKE_MAX_VERSION_BYTES == CP_VERSION_MAX,
               "versions: one limit");

enum { MAX_APP_VERSIONS = 16, VERSION_LIST_MAX = 128 };

struct cp_handshake_service {
  cp_arena mem; /* every copied string and prebuilt message */
  char cookie_key[CP_HANDSHAKE_MAX_COOKIE_BYTES];
  size_t cookie_key_len;
  char cookie_value[CP_HANDSHAKE_MAX_COOKIE_BYTES];
  size_t cookie_value_len;
  int32_t app_versions[MAX_APP_VERSIONS];
  size_t app_version_count;
  char version_list[VERSION_LIST_MAX]; /* "1,2" for error messages */
  cp_token_store *tokens;
  id_quota *quota; /* NULL: no per-address cap */
  bool require_principal;

  /* Prebuilt, immutable response parts shared by every call. */
  Connectplugin__V1__PluginInfo **plugins;
  size_t plugin_count;
  Connectplugin__V1__HandshakeResponse__ServerMetadataEntry **metadata;
  size_t metadata_count;
  Connectplugin__V1__Capability **capabilities;
  size_t capability_count;

  atomic_uint_fast64_t ok;
  atomic_uint_fast64_t rejected;
};

void cp_handshake_service_options_init(cp_handshake_service_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_identities_per_address = 256;
}

void cp_plugin_info_from_desc(cp_plugin_info *info,
                              const cp_plugin_desc *desc) {
  memset(info, 0, sizeof *info);
  info->name = desc->name;
  info->version = desc->version;
  info->service_path = desc->service_path;
}

static char *copy(cp_handshake_service *svc, const char *s) {
  return cpi_arena_strndup(&svc->mem, s != NULL ? s : "",
                           s != NULL ? strlen(s) : 0);
}

static void *alloc_array(cp_handshake_service *svc, size_t n, size_t size) {
  return n == 0 ? NULL : cpi_arena_alloc(&svc->mem, n * size);
}

static int build_plugin(cp_handshake_service *svc, const cp_plugin_info *in,
                        Connectplugin__V1__PluginInfo **out) {
  if (in->name == NULL || in->name[0] == '\0') {
    return CP_EINVAL;
  }
  Connectplugin__V1__PluginInfo *p = cpi_arena_alloc(&svc->mem, sizeof *p);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  connectplugin__v1__plugin_info__init(p);
  p->name = copy(svc, in->name);
  p->version = copy(svc, in->version);
  p->service_path = copy(svc, in->service_path);
  p->n_provides = in->provides_count;
  p->provides = alloc_array(svc, in->provides_count, sizeof *p->provides);
  for (size_t i = 0; i < in->provides_count; i++) {
    Connectplugin__V1__ServiceDeclaration *d =
        cpi_arena_alloc(&svc->mem, sizeof *d);
    if (d == NULL || p->provides == NULL) {
      return CP_ENOMEM;
    }
    connectplugin__v1__service_declaration__init(d);
    d->type = copy(svc, in->provides[i].type);
    d->version = copy(svc, in->provides[i].version);
    d->path = copy(svc, in->provides[i].path);
    p->provides[i] = d;
  }
  p->n_requires = in->requires_count;
  p->requires = alloc_array(svc, in->requires_count, sizeof *p->requires);
  for (size_t i = 0; i < in->requires_count; i++) {
    Connectplugin__V1__ServiceDependency *d =
        cpi_arena_alloc(&svc->mem, sizeof *d);
    if (d == NULL || p->requires == NULL) {
      return CP_ENOMEM;
    }
    connectplugin__v1__service_dependency__init(d);
    d->type = copy(svc, in->requires[i].type);
    d->min_version = copy(svc, in->requires[i].min_version);
    d->required_for_startup = in->requires[i].required_for_startup;
    d->watch_for_changes = in->requires[i].watch_for_changes;
    p->requires[i] = d;
  }
  if (p->name == NULL || p->version == NULL || p->service_path == NULL) {
    return CP_ENOMEM;
  }
  *out = p;
  return 0;
}

static Connectplugin__V1__HandshakeResponse__ServerMetadataEntry *
metadata_entry(cp_handshake_service *svc, const char *key, const char *value) {
  Connectplugin__V1__HandshakeResponse__ServerMetadataEntry *e =
      cpi_arena_alloc(&svc->mem, sizeof *e);
  if (e != NULL) {
    connectplugin__v1__handshake_response__server_metadata_entry__init(e);
    e->key = copy(svc, key);
    e->value = copy(svc, value);
  }
  return e;
}

/* server_version first, then the user's entries; a user entry with the same
 * key replaces the default. */
static int build_metadata(cp_handshake_service *svc,
                          const cp_handshake_service_options *o) {
  svc->metadata =
      alloc_array(svc, o->server_metadata_count + 1, sizeof *svc->metadata);
  if (svc->metadata == NULL) {
    return CP_ENOMEM;
  }
  svc->metadata[0] = metadata_entry(svc, "server_version", CP_SERVER_VERSION);
  svc->metadata_count = 1;
  for (size_t i = 0; i < o->server_metadata_count; i++) {
    const cp_metadata *m = &o->server_metadata[i];
    if (m->key == NULL || m->value == NULL) {
      return CP_EINVAL;
    }
    size_t slot = svc->metadata_count;
    for (size_t j = 0; j < svc->metadata_count; j++) {
      if (strcmp(svc->metadata[j]->key, m->key) == 0) {
        slot = j;
      }
    }
    svc->metadata[slot] = metadata_entry(svc, m->key, m->value);
    if (slot == svc->metadata_count) {
      svc->metadata_count++;
    }
  }
  for (size_t i = 0; i < svc->metadata_count; i++) {
    if (svc->metadata[i] == NULL) {
      return CP_ENOMEM;
    }
  }
  return 0;
}

static int build_capabilities(cp_handshake_service *svc,
                              const cp_handshake_service_options *o) {
  svc->capability_count = o->capability_count;
  svc->capabilities =
      alloc_array(svc, o->capability_count, sizeof *svc->capabilities);
  for (size_t i = 0; i < o->capability_count; i++) {
    Connectplugin__V1__Capability *c = cpi_arena_alloc(&svc->mem, sizeof *c);
    if (c == NULL || svc->capabilities == NULL) {
      return CP_ENOMEM;
    }
    connectplugin__v1__capability__init(c);
    c->type = copy(svc, o->capabilities[i].type);
    c->version = copy(svc, o->capabilities[i].version);
    c->endpoint = copy(svc, o->capabilities[i].endpoint);
    svc->capabilities[i] = c;
  }
  return 0;
}

static int set_cookie(cp_handshake_service *svc,
                      const cp_handshake_service_options *o) {
  const char *key = o->magic_cookie_key;
  const char *value = o->magic_cookie_value;
  if (key == NULL || key[0] == '\0') {
    /* Upstream's rule: an empty key means both defaults. */
    key = CP_MAGIC_COOKIE_KEY;
    value = CP_MAGIC_COOKIE_VALUE;
  }
  if (value == NULL) {
    value = "";
  }
  svc->cookie_key_len = strlen(key);
  svc->cookie_value_len = strlen(value);
  if (svc->cookie_key_len >= sizeof svc->cookie_key ||
      svc->cookie_value_len >= sizeof svc->cookie_value) {
    return CP_EINVAL;
  }
  memcpy(svc->cookie_key, key, svc->cookie_key_len);
  memcpy(svc->cookie_value, value, svc->cookie_value_len);
  return 0;
}

static int set_versions(cp_handshake_service *svc,
                        const cp_handshake_service_options *o) {
  static const int32_t default_version = 1;
  const int32_t *v = o->app_versions;
  size_t n = o->app_version_count;
  if (n == 0) {
    v = &default_version;
    n = 1;
  }
  if (n > MAX_APP_VERSIONS || v == NULL) {
    return CP_EINVAL;
  }
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] <= 0) {
      return CP_EINVAL;
    }
    svc->app_versions[i] = v[i];
    used += (size_t)snprintf(svc->version_list + used,
                             sizeof svc->version_list - used, "%s%d",
                             i == 0 ? "" : ",", (int)v[i]);
  }
  svc->app_version_count = n;
  return 0;
}

int cp_handshake_service_create(cp_handshake_service **out,
                                const cp_handshake_service_options *opts) {
  if (out == NULL || opts == NULL ||
      (opts->plugin_count > 0 && opts->plugins == NULL) ||
      (opts->server_metadata_count > 0 && opts->server_metadata == NULL) ||
      (opts->capability_count > 0 && opts->capabilities == NULL)) {
    return CP_EINVAL;
  }
  *out = NULL;
  cp_handshake_service *svc = calloc(1, sizeof *svc);
  if (svc == NULL) {
    return CP_ENOMEM;
  }
  cpi_arena_init(&svc->mem);
  svc->tokens = opts->tokens;
  svc->require_principal = opts->require_principal;
  int rc = set_cookie(svc, opts);
  if (rc == 0) {
    rc = set_versions(svc, opts);
  }
  if (rc == 0 && opts->plugin_count > 0) {
    svc->plugins = alloc_array(svc, opts->plugin_count, sizeof *svc->plugins);
    rc = svc->plugins == NULL ? CP_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < opts->plugin_count; i++) {
      rc = build_plugin(svc, &opts->plugins[i], &svc->plugins[i]);
    }
    svc->plugin_count = opts->plugin_count;
  }
  if (rc == 0) {
    rc = build_metadata(svc, opts);
  }
  if (rc == 0) {
    rc = build_capabilities(svc, opts);
  }
  if (rc == 0 && opts->tokens != NULL && opts->max_identities_per_address > 0) {
    rc = cpi_id_quota_create(&svc->quota, opts->tokens,
                             opts->max_identities_per_address);
  }
  if (rc != 0) {
    cp_handshake_service_destroy(svc);
    return rc;
  }
  atomic_init(&svc->ok, 0);
  atomic_init(&svc->rejected, 0);
  *out = svc;
  return 0;
}

void cp_handshake_service_destroy(cp_handshake_service *svc) {
  if (svc == NULL) {
    return;
  }
  cpi_id_quota_destroy(svc->quota);
  cpi_arena_release(&svc->mem);
  free(svc);
}

void cp_handshake_service_get_stats(const cp_handshake_service *svc,
                                    cp_handshake_stats *stats) {
  cp_handshake_service *s = (cp_handshake_service *)svc;
  stats->ok = atomic_load(&s->ok);
  stats->rejected = atomic_load(&s->rejected);
}

/* Constant-time equality of a presented cookie part with the configured one:
 * both are compared as zero-padded fixed-size buffers, so the time does not
 * depend on where they differ or on the configured length. */
static bool cookie_equal(const char *presented, const char *expected,
                         size_t expected_len) {
  char a[CP_HANDSHAKE_MAX_COOKIE_BYTES] = {0};
  char b[CP_HANDSHAKE_MAX_COOKIE_BYTES] = {0};
  size_t plen = strnlen(presented, sizeof a);
  memcpy(a, presented, plen);
  memcpy(b, expected, expected_len);
  bool same = cpi_ct_equal(a, b, sizeof a);
  return same & (plen == expected_len);
}

/* Bounds on everything the request carries; names the field. */
static cp_status_code check_bounds(
    cp_call *call, const Connectplugin__V1__HandshakeRequest *r) {
  if (cpi_check_length(r->magic_cookie_key,
                       CP_HANDSHAKE_MAX_COOKIE_BYTES - 1) ||
      cpi_check_length(r->magic_cookie_value,
                       CP_HANDSHAKE_MAX_COOKIE_BYTES - 1)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "magic_cookie too long (max %d bytes)",
                         CP_HANDSHAKE_MAX_COOKIE_BYTES - 1);
  }
  if (r->n_requested_plugins > CP_HANDSHAKE_MAX_REQUESTED_PLUGINS) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "requested_plugins: too many entries: %zu (max: %d)",
                         r->n_requested_plugins,
                         CP_HANDSHAKE_MAX_REQUESTED_PLUGINS);
  }
  for (size_t i = 0; i < r->n_requested_plugins; i++) {
    if (cpi_check_length(r->requested_plugins[i],
                         CP_HANDSHAKE_MAX_PLUGIN_NAME_BYTES) != NULL) {
      return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                           "requested_plugins[%zu]: too long (max %d bytes)", i,
                           CP_HANDSHAKE_MAX_PLUGIN_NAME_BYTES);
    }
  }
  if (r->n_client_metadata > CP_HANDSHAKE_MAX_METADATA_ENTRIES) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "client_metadata: too many metadata entries: %zu "
                         "(max: %d)",
                         r->n_client_metadata,
                         CP_HANDSHAKE_MAX_METADATA_ENTRIES);
  }
  for (size_t i = 0; i < r->n_client_metadata; i++) {
    const char *why = cpi_check_metadata_entry(r->client_metadata[i]->key,
                                               r->client_metadata[i]->value);
    if (why != NULL) {
      return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                           "client_metadata: %s", why);
    }
  }
  if (cpi_check_length(r->self_version, CP_HANDSHAKE_MAX_VERSION_BYTES)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "self_version: too long (max %d bytes)",
                         CP_HANDSHAKE_MAX_VERSION_BYTES);
  }
  return CP_STATUS_OK;
}

static cp_status_code check_versions(
    cp_handshake_service *svc, cp_call *call,
    const Connectplugin__V1__HandshakeRequest *r, int32_t *chosen) {
  if (r->core_protocol_version != CP_CORE_PROTOCOL_VERSION) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "unsupported core protocol version: %d (server "
                         "supports: %d)",
                         (int)r->core_protocol_version,
                         CP_CORE_PROTOCOL_VERSION);
  }
  int32_t wanted = r->app_protocol_version == 0 ? 1 : r->app_protocol_version;
  for (size_t i = 0; i < svc->app_version_count; i++) {
    if (svc->app_versions[i] == wanted) {
      *chosen = wanted;
      return CP_STATUS_OK;
    }
  }
  return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                       "version mismatch: client=%d, server=%s", (int)wanted,
                       svc->version_list);
}

/* What authenticated this handshake (the auth interceptor ran its providers
 * under the OPTIONAL rule): the principal the identity will carry, "" when
 * anonymous. */
static cp_status_code handshake_principal(cp_handshake_service *svc,
                                          cp_call *call,
                                          char out[CP_PRINCIPAL_MAX + 1]) {
  int rc = cp_call_principal(call, out);
  if (rc == CP_ETOOBIG) {
    return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                         "authenticated identity too long to record "
                         "(max %d bytes with its provider)",
                         CP_PRINCIPAL_MAX);
  }
  if (rc != 0 && svc->require_principal) {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "runtime identities are issued only to "
                         "authenticated handshakes: present an API key "
                         "(x-api-key) or a client certificate");
  }
  return CP_STATUS_OK;
}

static cp_status_code issue_identity(
    cp_handshake_service *svc, cp_call *call, const char *self_id,
    Connectplugin__V1__HandshakeResponse *resp) {
  if (!cp_self_id_valid(self_id)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "invalid self_id: must be 1-%d characters: a letter, "
                         "then letters, digits, '_', '.' or '-'",
                         CP_SELF_ID_MAX);
  }
  if (svc->tokens == NULL) {
    return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                         "this server does not issue runtime identities");
  }
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = handshake_principal(svc, call, principal);
  if (code != CP_STATUS_OK) {
    return code;
  }
  char *id = cp_call_alloc(call, CP_RUNTIME_ID_MAX + 1);
  char *token = cp_call_alloc(call, CP_TOKEN_LEN + 1);
  if (id == NULL || token == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  char address[CP_PEER_KEY_MAX] = "";
  if (svc->quota != NULL) {
    cpi_peer_key(cp_call_peer(call), address);
    if (!cpi_id_quota_reserve(svc->quota, address)) {
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                           "too many live runtime identities from this "
                           "address");
    }
  }
  int rc = cp_token_store_issue_for(svc->tokens, self_id, principal, id,
                                    CP_RUNTIME_ID_MAX + 1, token);
  if (svc->quota != NULL) {
    if (rc == 0) {
      cpi_id_quota_bind(svc->quota, address, id, token);
    } else {
      cpi_id_quota_cancel(svc->quota, address);
    }
  }
  switch (rc) {
    case 0:
      resp->runtime_id = id;
      resp->runtime_token = token;
      return CP_STATUS_OK;
    case CP_ELIMIT:
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED,
                           "too many live runtime identities");
    case CP_ESYS:
      return cp_call_error(call, CP_STATUS_INTERNAL,
                           "failed to generate runtime identity");
    default:
      return cp_call_error(call, CP_STATUS_INTERNAL,
                           "failed to issue runtime identity: %s",
                           cp_strerror(rc));
  }
}

/* The known plugins among those requested, in request order. */
static cp_status_code add_plugins(cp_handshake_service *svc, cp_call *call,
                                  const Connectplugin__V1__HandshakeRequest *r,
                                  Connectplugin__V1__HandshakeResponse *resp) {
  if (r->n_requested_plugins == 0 || svc->plugin_count == 0) {
    return CP_STATUS_OK;
  }
  Connectplugin__V1__PluginInfo **out =
      cp_call_alloc(call, r->n_requested_plugins * sizeof *out);
  if (out == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  size_t n = 0;
  for (size_t i = 0; i < r->n_requested_plugins; i++) {
    for (size_t j = 0; j < svc->plugin_count; j++) {
      if (strcmp(svc->plugins[j]->name, r->requested_plugins[i]) == 0) {
        out[n++] = svc->plugins[j];
        break;
      }
    }
  }
  resp->plugins = out;
  resp->n_plugins = n;
  return CP_STATUS_OK;
}

static cp_status_code handshake(cp_handshake_service *svc, cp_call *call,
                                const Connectplugin__V1__HandshakeRequest *req,
                                Connectplugin__V1__HandshakeResponse *resp) {
  cp_status_code code = check_bounds(call, req);
  if (code != CP_STATUS_OK) {
    return code;
  }
  bool key_ok =
      cookie_equal(req->magic_cookie_key, svc->cookie_key, svc->cookie_key_len);
  bool value_ok = cookie_equal(req->magic_cookie_value, svc->cookie_value,
                               svc->cookie_value_len);
  if (!(key_ok & value_ok)) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT,
                         "invalid magic cookie - this may not be a "
                         "connect-plugin server");
  }
  int32_t chosen = 0;
  code = check_versions(svc, call, req, &chosen);
  if (code != CP_STATUS_OK) {
    return code;
  }
  const char *renew = cpi_hs_renewal_target(req);
  if (renew != NULL) {
    code = cpi_hs_renew_identity(svc->tokens, call, req->self_id, renew, resp);
  } else if (req->self_id != NULL && req->self_id[0] != '\0') {
    code = issue_identity(svc, call, req->self_id, resp);
  }
  if (code != CP_STATUS_OK) {
    return code;
  }
  code = add_plugins(svc, call, req, resp);
  if (code != CP_STATUS_OK) {
    return code;
  }
  resp->core_protocol_version = CP_CORE_PROTOCOL_VERSION;
  resp->app_protocol_version = chosen;
  code = cpi_hs_set_metadata(svc->tokens, call, svc->metadata,
                             svc->metadata_count, resp);
  if (code != CP_STATUS_OK) {
    return code;
  }
  resp->host_capabilities = svc->capabilities;
  resp->n_host_capabilities = svc->capability_count;
  return CP_STATUS_OK;
}

/* One line per handshake: who asked (the peer address, the self_id it
 * claimed and the principal it proved) and what it got. Never the token. */
static void log_outcome(cp_call *call,
                        const Connectplugin__V1__HandshakeRequest *req,
                        const Connectplugin__V1__HandshakeResponse *resp,
                        cp_status_code code) {
  if (code == CP_STATUS_OK) {
    if (cp_log_enabled(CP_LOG_INFO)) {
      char principal[CP_PRINCIPAL_MAX + 1];
      (void)cp_call_principal(call, principal);
      cp_log(CP_LOG_INFO, "handshake accepted", "peer", cp_call_peer(call),
             "self_id", req->self_id, "principal", principal, "runtime_id",
             resp->runtime_id, CP_LOG_END);
    }
    return;
  }
  cp_log(CP_LOG_WARN, "handshake rejected", "peer", cp_call_peer(call), "code",
         cp_status_code_name(code), CP_LOG_END);
}

static cp_status_code on_handshake(
    cp_call *call, const Connectplugin__V1__HandshakeRequest *req,
    Connectplugin__V1__HandshakeResponse *resp, void *user) {
  cp_handshake_service *svc = user;
  cp_status_code code = handshake(svc, call, req, resp);
  atomic_fetch_add(code == CP_STATUS_OK ? &svc->ok : &svc->rejected, 1);
  log_outcome(call, req, resp, code);
  return code;
}

int cp_handshake_service_register(cp_handshake_service *svc,
                                  cp_server *server) {
  if (svc == NULL || server == NULL) {
    return CP_EINVAL;
  }
  cp_connectplugin__v1__handshake_service__handlers h;
  memset(&h, 0, sizeof h);
  h.on_handshake = on_handshake;
  return cp_connectplugin__v1__handshake_service__register(server, &h, svc);
}
