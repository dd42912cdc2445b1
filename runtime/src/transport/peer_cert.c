/* cp_call_peer_cert: the verified client certificate of a mutual-TLS call,
 * read from gRPC's auth context.
 *
 * Why "authenticated + ssl" is enough: cplugin's TLS listeners either do not
 * ask for a client certificate or require one and verify it against the
 * client CA (tls.c never uses gRPC's request-but-don't-verify modes), and
 * gRPC marks the peer authenticated only when the certificate it received
 * carries a name. So an authenticated ssl context means a verified
 * certificate; plaintext and TLS without a client certificate are not
 * authenticated. */
#include <grpc/grpc_security.h>
#include <string.h>

#include "transport/server_internal.h"

static bool property_is(const grpc_auth_property *p, const char *value) {
  size_t len = strlen(value);
  return p->value_length == len && memcmp(p->value, value, len) == 0;
}

static bool is_ssl(const grpc_auth_context *ctx) {
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(
      ctx, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
  return p != NULL && property_is(p, GRPC_SSL_TRANSPORT_SECURITY_TYPE);
}

/* Copies a property value into per-call memory. NULL when the value holds a
 * NUL (a certificate name "plugin-a\0.evil" must not become "plugin-a") or
 * when memory runs out: the caller then reports no certificate at all. */
static const char *copy_value(cp_call *call, const grpc_auth_property *p) {
  if (p->value == NULL || memchr(p->value, '\0', p->value_length) != NULL) {
    return NULL;
  }
  return cpi_arena_strndup(&call->arena, p->value, p->value_length);
}

static bool fill(cp_call *call, const grpc_auth_context *ctx,
                 cp_peer_cert *out) {
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(
      ctx, GRPC_X509_CN_PROPERTY_NAME);
  const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
  if (p != NULL) {
    out->common_name = copy_value(call, p);
    if (out->common_name == NULL) {
      return false;
    }
  }
  /* Names past CP_PEER_CERT_MAX_SANS are left out: the result is then
   * incomplete, never wrong. */
  it = grpc_auth_context_find_properties_by_name(ctx,
                                                 GRPC_X509_SAN_PROPERTY_NAME);
  while (out->san_count < CP_PEER_CERT_MAX_SANS &&
         (p = grpc_auth_property_iterator_next(&it)) != NULL) {
    const char *san = copy_value(call, p);
    if (san == NULL) {
      return false;
    }
    out->sans[out->san_count++] = san;
  }
  return true;
}

bool cp_call_peer_cert(cp_call *call, cp_peer_cert *out) {
  if (out == NULL) {
    return false;
  }
  memset(out, 0, sizeof *out);
  if (call == NULL || call->gcall == NULL) {
    return false;
  }
  grpc_auth_context *ctx = grpc_call_auth_context(call->gcall);
  if (ctx == NULL) {
    return false;
  }
  bool ok = grpc_auth_context_peer_is_authenticated(ctx) && is_ssl(ctx) &&
            fill(call, ctx, out);
  grpc_auth_context_release(ctx);
  if (!ok) {
    memset(out, 0, sizeof *out);
  }
  return ok;
}
