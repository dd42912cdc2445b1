/* Capability calls: which calls are (both forms of cplugin/broker.h), the
 * grant check - as the host's first authentication provider, and again
 * before the forward - and the forward to the capability's server. */
#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "core/validate.h"
#include "cplugin/errors.h"
#include "cplugin/router.h"

/* A capability call, parsed. */
typedef struct cap_call {
  char type[GRANT_TYPE_MAX + 1];
  char grant_id[GRANT_ID_CHARS + 1];
  const char *method_path; /* "/pkg.Service/Method", in the call */
} cap_call;

enum { NOT_CAPABILITY = 0, CAPABILITY = 1, MALFORMED = -1 };

/* Copies the segment s[0..'/') into out (cap bytes with the NUL); returns
 * the character after the '/', or NULL when it is empty, too long or
 * unterminated. */
static const char *segment(const char *s, char *out, size_t cap) {
  const char *slash = strchr(s, '/');
  size_t n = slash != NULL ? (size_t)(slash - s) : 0;
  if (slash == NULL || n == 0 || n >= cap) {
    return NULL;
  }
  memcpy(out, s, n);
  out[n] = '\0';
  return slash + 1;
}

static bool metadata_copy(const cp_call *call, const char *key, char *out,
                          size_t cap) {
  cp_str v;
  if (!cp_call_metadata(call, key, &v) || v.len == 0 || v.len >= cap) {
    return false;
  }
  memcpy(out, v.ptr, v.len);
  out[v.len] = '\0';
  return true;
}

static int parse(const cp_call *call, cap_call *out) {
  const char *path = cp_call_path(call);
  static const char prefix[] = CP_CAPABILITY_PATH_PREFIX;
  if (strncmp(path, prefix, sizeof prefix - 1) == 0) {
    const char *rest =
        segment(path + sizeof prefix - 1, out->type, sizeof out->type);
    rest = rest != NULL ? segment(rest, out->grant_id, sizeof out->grant_id)
                        : NULL;
    /* The method's own path is the '/' before the rest. */
    if (rest == NULL || strchr(rest, '/') == NULL || rest[0] == '/') {
      return MALFORMED;
    }
    out->method_path = rest - 1;
    return CAPABILITY;
  }
  cp_str v;
  if (!cp_call_metadata(call, CP_MD_CAPABILITY_GRANT, &v)) {
    return NOT_CAPABILITY;
  }
  /* A grant never authenticates a call to the host's own services (or a
   * plugin's control services): it stands for one capability only. */
  if (cpi_path_reserved(path) ||
      !metadata_copy(call, CP_MD_CAPABILITY_GRANT, out->grant_id,
                     sizeof out->grant_id) ||
      !metadata_copy(call, CP_MD_CAPABILITY_TYPE, out->type,
                     sizeof out->type)) {
    return MALFORMED;
  }
  out->method_path = path;
  return CAPABILITY;
}

/* The grant the call presents: its bearer token and runtime ID. */
static bool check(cp_broker *b, const cp_call *call, const cap_call *cc,
                  grant_info *g) {
  static const char bearer[] = "Bearer ";
  cp_str auth;
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  if (!cp_call_metadata(call, CP_MD_AUTHORIZATION, &auth) ||
      auth.len < sizeof bearer - 1 ||
      memcmp(auth.ptr, bearer, sizeof bearer - 1) != 0 ||
      !metadata_copy(call, CP_MD_RUNTIME_ID, runtime_id, sizeof runtime_id)) {
    return false;
  }
  return cpi_grant_verify(b->grants, cpi_broker_now_ns(b), cc->grant_id,
                          auth.ptr + sizeof bearer - 1,
                          auth.len - (sizeof bearer - 1), runtime_id, cc->type,
                          g, NULL);
}

static cp_auth_result authenticate(cp_call *call, void *user) {
  cp_broker *b = user;
  cap_call cc;
  int kind = parse(call, &cc);
  if (kind == NOT_CAPABILITY) {
    return CP_AUTH_ABSENT;
  }
  grant_info g;
  if (kind == MALFORMED || !check(b, call, &cc, &g)) {
    cpi_broker_refused(b, BROKER_REFUSED_UNAUTHENTICATED);
    return CP_AUTH_DENIED;
  }
  return cp_call_set_identity(call, "capability-grant", g.runtime_id) == 0
             ? CP_AUTH_OK
             : CP_AUTH_DENIED;
}

int cp_broker_add_auth(cp_broker *b, cp_auth *auth) {
  if (b == NULL || auth == NULL) {
    return CP_EINVAL;
  }
  return cp_auth_add_validator(auth, "capability-grant", authenticate, b);
}

cp_status_code cp_broker_dispatch(cp_broker *b, cp_call *call, bool *handled) {
  cap_call cc;
  int kind = parse(call, &cc);
  *handled = kind != NOT_CAPABILITY;
  if (kind == NOT_CAPABILITY) {
    return CP_STATUS_OK;
  }
  /* Checked again: the grant may have gone since authentication, and a
   * server without the host's authentication must not skip it. */
  grant_info g;
  const broker_cap *c = kind == CAPABILITY ? cpi_broker_find(b, cc.type) : NULL;
  if (c == NULL || !check(b, call, &cc, &g)) {
    /* Counted once: here unless the grant check in authentication refused
     * it already (another provider then let the call in, e.g. a runtime
     * token presented as the grant's). */
    const char *provider = NULL;
    const char *who = cp_call_identity(call, &provider);
    if (who == NULL || strcmp(provider, "capability-grant") == 0) {
      cpi_broker_refused(b, BROKER_REFUSED_UNAUTHENTICATED);
    }
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED,
                         "authentication failed");
  }
  if (c->server == NULL) {
    /* A plugin provides it: the router finds and checks the provider. */
    if (b->router == NULL) {
      return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                           "capability %s has no route", cc.type);
    }
    return cp_router_forward(b->router, call, cc.type, NULL, cc.method_path,
                             g.runtime_id);
  }
  cp_metadata md[] = {{CP_MD_CALLER_ID, g.runtime_id}};
  int rc = c->client != NULL
               ? cp_call_forward(call, c->client, cc.method_path, md, 1)
               : CP_ECLOSED;
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "capability %s cannot be reached: %s", cc.type,
                         cp_strerror(rc));
  }
  return CP_STATUS_OK; /* the forward answers */
}
