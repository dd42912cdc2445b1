/* Server authentication: providers tried in order, per-method rules. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "crypto/crypto.h"

enum {
  MAX_PROVIDERS = 16,
  API_KEY_MIN = 16,
  API_KEY_MAX = 256,
  BEARER_PREFIX_LEN = 7 /* "Bearer " */
};

typedef struct api_key {
  char key[API_KEY_MAX]; /* zero-padded, compared whole */
  size_t len;
  char *identity;
} api_key;

typedef struct provider {
  cp_auth_validator_fn fn;
  void *user;
  char *name;
} provider;

typedef struct rule {
  char *path;
  size_t len;
  bool prefix; /* "/pkg.Svc/" */
  cp_auth_rule rule;
} rule;

struct cp_auth {
  provider providers[MAX_PROVIDERS];
  size_t provider_count;
  cp_token_store *tokens;
  api_key *keys;
  size_t key_count;
  rule *rules;
  size_t rule_count;
  cp_auth_rule default_rule;
  cp_auth_token_check_fn token_check;
  void *token_check_user;
};

int cp_auth_create(cp_auth **out) {
  if (out == NULL) {
    return CP_EINVAL;
  }
  *out = calloc(1, sizeof **out);
  return *out == NULL ? CP_ENOMEM : 0;
}

void cp_auth_destroy(cp_auth *auth) {
  if (auth == NULL) {
    return;
  }
  for (size_t i = 0; i < auth->provider_count; i++) {
    free(auth->providers[i].name);
  }
  for (size_t i = 0; i < auth->key_count; i++) {
    /* Keys are secrets: do not leave them in freed memory. */
    memset(auth->keys[i].key, 0, sizeof auth->keys[i].key);
    free(auth->keys[i].identity);
  }
  free(auth->keys);
  for (size_t i = 0; i < auth->rule_count; i++) {
    free(auth->rules[i].path);
  }
  free(auth->rules);
  free(auth);
}

int cp_auth_add_validator(cp_auth *auth, const char *name,
                          cp_auth_validator_fn fn, void *user) {
  if (auth == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  if (auth->provider_count == MAX_PROVIDERS) {
    return CP_ELIMIT;
  }
  char *copy = strdup(name != NULL ? name : "custom");
  if (copy == NULL) {
    return CP_ENOMEM;
  }
  provider *p = &auth->providers[auth->provider_count++];
  p->fn = fn;
  p->user = user;
  p->name = copy;
  return 0;
}

/* Copies a metadata value into a NUL-terminated buffer; false if too long. */
static bool copy_str(cp_str v, char *out, size_t cap) {
  if (v.len >= cap) {
    return false;
  }
  memcpy(out, v.ptr, v.len);
  out[v.len] = '\0';
  return true;
}

int cp_auth_set_token_check(cp_auth *auth, cp_auth_token_check_fn fn,
                            void *user) {
  if (auth == NULL || fn == NULL) {
    return CP_EINVAL;
  }
  auth->token_check = fn;
  auth->token_check_user = user;
  return 0;
}

static bool check_token(const cp_auth *auth, const cp_str *id,
                        const char *token, size_t token_len) {
  if (auth->token_check != NULL) {
    return auth->token_check(auth->tokens, id->ptr, id->len, token, token_len,
                             auth->token_check_user);
  }
  return cp_token_store_validate(auth->tokens, id->ptr, id->len, token,
                                 token_len);
}

static cp_auth_result runtime_token_provider(cp_call *call, void *user) {
  const cp_auth *auth = user;
  cp_str authz;
  cp_str id;
  bool has_authz = cp_call_metadata(call, CP_MD_AUTHORIZATION, &authz);
  bool has_id = cp_call_metadata(call, CP_MD_RUNTIME_ID, &id);
  if (!has_id) {
    /* An authorization header alone may belong to another provider. */
    return CP_AUTH_ABSENT;
  }
  if (!has_authz || authz.len <= BEARER_PREFIX_LEN ||
      strncasecmp(authz.ptr, "Bearer ", BEARER_PREFIX_LEN) != 0) {
    return CP_AUTH_DENIED;
  }
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  if (!copy_str(id, runtime_id, sizeof runtime_id)) {
    return CP_AUTH_DENIED;
  }
  if (!check_token(auth, &id, authz.ptr + BEARER_PREFIX_LEN,
                   authz.len - BEARER_PREFIX_LEN)) {
    return CP_AUTH_DENIED;
  }
  return cp_call_set_identity(call, "runtime-token", runtime_id) == 0
             ? CP_AUTH_OK
             : CP_AUTH_DENIED;
}

int cp_auth_add_runtime_tokens(cp_auth *auth, cp_token_store *store) {
  if (auth == NULL || store == NULL) {
    return CP_EINVAL;
  }
  if (auth->tokens != NULL) {
    return CP_EEXIST;
  }
  auth->tokens = store;
  return cp_auth_add_validator(auth, "runtime-token", runtime_token_provider,
                               auth);
}

static cp_auth_result api_key_provider(cp_call *call, void *user) {
  cp_auth *auth = user;
  cp_str presented;
  if (!cp_call_metadata(call, CP_MD_API_KEY, &presented)) {
    return CP_AUTH_ABSENT;
  }
  char padded[API_KEY_MAX] = {0};
  if (presented.len == 0 || presented.len > API_KEY_MAX) {
    return CP_AUTH_DENIED;
  }
  memcpy(padded, presented.ptr, presented.len);
  /* Every key is compared whole, so the time says nothing about which key
   * (if any) matched or where a wrong key differs. */
  const api_key *match = NULL;
  for (size_t i = 0; i < auth->key_count; i++) {
    bool same = cpi_ct_equal(padded, auth->keys[i].key, API_KEY_MAX);
    if (same & (presented.len == auth->keys[i].len)) {
      match = &auth->keys[i];
    }
  }
  memset(padded, 0, sizeof padded);
  if (match == NULL) {
    return CP_AUTH_DENIED;
  }
  return cp_call_set_identity(call, "api-key", match->identity) == 0
             ? CP_AUTH_OK
             : CP_AUTH_DENIED;
}

int cp_auth_add_api_key(cp_auth *auth, const char *key, const char *identity) {
  if (auth == NULL || key == NULL || identity == NULL || identity[0] == '\0') {
    return CP_EINVAL;
  }
  size_t len = strlen(key);
  if (len < API_KEY_MIN || len > API_KEY_MAX) {
    return CP_EINVAL;
  }
  api_key *keys = realloc(auth->keys, (auth->key_count + 1) * sizeof *keys);
  if (keys == NULL) {
    return CP_ENOMEM;
  }
  auth->keys = keys;
  api_key *k = &keys[auth->key_count];
  memset(k, 0, sizeof *k);
  memcpy(k->key, key, len);
  k->len = len;
  k->identity = strdup(identity);
  if (k->identity == NULL) {
    return CP_ENOMEM;
  }
  /* The provider is added with the first key; later keys join its list. */
  if (auth->key_count++ == 0) {
    return cp_auth_add_validator(auth, "api-key", api_key_provider, auth);
  }
  return 0;
}

static cp_auth_result mtls_provider(cp_call *call, void *user) {
  (void)user;
  cp_peer_cert cert;
  if (!cp_call_peer_cert(call, &cert)) {
    return CP_AUTH_ABSENT;
  }
  const char *identity = cert.common_name;
  if ((identity == NULL || identity[0] == '\0') && cert.san_count > 0) {
    identity = cert.sans[0];
  }
  if (identity == NULL || identity[0] == '\0') {
    return CP_AUTH_DENIED; /* a certificate that names nobody */
  }
  if (cp_call_set_identity(call, "mtls", identity) != 0) {
    return CP_AUTH_DENIED;
  }
  if (cert.common_name != NULL) {
    cp_call_add_claim(call, "cn", cert.common_name);
  }
  if (cert.san_count > 0) {
    cp_call_add_claim(call, "san", cert.sans[0]);
  }
  return CP_AUTH_OK;
}

int cp_auth_add_mtls(cp_auth *auth) {
  return cp_auth_add_validator(auth, "mtls", mtls_provider, NULL);
}

static bool rule_valid(cp_auth_rule r) {
  return r == CP_AUTH_REQUIRED || r == CP_AUTH_OPEN || r == CP_AUTH_OPTIONAL;
}

int cp_auth_set_rule(cp_auth *auth, const char *path, cp_auth_rule r) {
  if (auth == NULL || path == NULL || path[0] != '/' || !rule_valid(r)) {
    return CP_EINVAL;
  }
  size_t len = strlen(path);
  for (size_t i = 0; i < auth->rule_count; i++) {
    if (strcmp(auth->rules[i].path, path) == 0) {
      auth->rules[i].rule = r;
      return 0;
    }
  }
  rule *rules = realloc(auth->rules, (auth->rule_count + 1) * sizeof *rules);
  if (rules == NULL) {
    return CP_ENOMEM;
  }
  auth->rules = rules;
  char *copy = strdup(path);
  if (copy == NULL) {
    return CP_ENOMEM;
  }
  rules[auth->rule_count].path = copy;
  rules[auth->rule_count].len = len;
  rules[auth->rule_count].prefix = path[len - 1] == '/';
  rules[auth->rule_count].rule = r;
  auth->rule_count++;
  return 0;
}

void cp_auth_set_default(cp_auth *auth, cp_auth_rule r) {
  if (auth != NULL && rule_valid(r)) {
    auth->default_rule = r;
  }
}

int cp_auth_open_host_methods(cp_auth *auth) {
  /* Handshake is optional, not open: an API key or client certificate
   * presented there becomes the principal of the identity it issues. */
  static const struct {
    const char *path;
    cp_auth_rule rule;
  } host_rules[] = {
      {"/connectplugin.v1.HandshakeService/Handshake", CP_AUTH_OPTIONAL},
      {"/connectplugin.health.v1.HealthService/", CP_AUTH_OPEN},
      {"/grpc.health.v1.Health/", CP_AUTH_OPEN},
  };
  for (size_t i = 0; i < sizeof host_rules / sizeof host_rules[0]; i++) {
    int rc = cp_auth_set_rule(auth, host_rules[i].path, host_rules[i].rule);
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}

static cp_auth_rule rule_for(const cp_auth *auth, const char *path) {
  cp_auth_rule by_prefix = auth->default_rule;
  size_t best = 0;
  for (size_t i = 0; i < auth->rule_count; i++) {
    const rule *r = &auth->rules[i];
    if (!r->prefix) {
      if (strcmp(r->path, path) == 0) {
        return r->rule;
      }
    } else if (r->len > best && strncmp(r->path, path, r->len) == 0) {
      by_prefix = r->rule;
      best = r->len;
    }
  }
  return by_prefix;
}

/* The interceptor, in the authentication phase. */
static cp_status_code authenticate(cp_call *call, void *user) {
  const cp_auth *auth = user;
  cp_auth_rule kind = rule_for(auth, cp_call_path(call));
  if (kind == CP_AUTH_OPEN) {
    return CP_STATUS_OK;
  }
  bool denied = false;
  for (size_t i = 0; i < auth->provider_count; i++) {
    const provider *p = &auth->providers[i];
    cp_auth_result r = p->fn(call, p->user);
    if (r == CP_AUTH_OK) {
      return CP_STATUS_OK;
    }
    /* Where credentials are optional, a runtime token that no longer
     * validates (a plugin handshaking again after its identity expired or
     * the host restarted) counts as none: a runtime identity is never a
     * principal, so nothing is granted on it either way. */
    denied |= r == CP_AUTH_DENIED &&
              !(kind == CP_AUTH_OPTIONAL && p->fn == runtime_token_provider);
  }
  if (kind == CP_AUTH_OPTIONAL && !denied) {
    return CP_STATUS_OK; /* no credentials: anonymous */
  }
  const char *why =
      denied ? "authentication failed" : "authentication required";
  /* Identifiers only: the method and the peer, never a credential. */
  cp_log(CP_LOG_DEBUG, why, "method", cp_call_path(call), "peer",
         cp_call_peer(call), CP_LOG_END);
  return cp_call_error(call, CP_STATUS_UNAUTHENTICATED, "%s", why);
}

int cp_auth_register(cp_auth *auth, cp_server *server) {
  if (auth == NULL || server == NULL) {
    return CP_EINVAL;
  }
  return cp_server_add_interceptor(server, CP_PHASE_AUTHENTICATION,
                                   authenticate, auth);
}
