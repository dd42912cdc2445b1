/* TLS options and the gRPC ssl credentials built from them. PEM is read into
 * private buffers, handed to gRPC (which copies it) and wiped: key material
 * does not linger in freed memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "crypto/crypto.h"
#include "transport/tls_internal.h"

void cp_tls_server_options_init(cp_tls_server_options *opts) {
  if (opts != NULL) {
    memset(opts, 0, sizeof *opts);
  }
}

void cp_tls_client_options_init(cp_tls_client_options *opts) {
  if (opts != NULL) {
    memset(opts, 0, sizeof *opts);
  }
}

/* What a PEM input must contain to be worth handing to gRPC, so that a
 * swapped or garbage file fails here with CP_EINVAL rather than later. */
typedef enum pem_kind { PEM_CERT, PEM_KEY } pem_kind;

static bool pem_given(const cp_tls_pem *pem) {
  return pem->path != NULL || pem->pem != NULL;
}

static void free_pem(char *text) {
  if (text != NULL) {
    cpi_secure_zero(text, strlen(text));
    free(text);
  }
}

/* Grows *buf to at least `need` bytes without realloc, so the old contents
 * (possibly a key) can be wiped. */
static int grow_buffer(char **buf, size_t *cap, size_t len, size_t need) {
  if (need <= *cap) {
    return 0;
  }
  size_t new_cap = *cap * 2 > need ? *cap * 2 : need;
  char *p = malloc(new_cap);
  if (p == NULL) {
    return CP_ENOMEM;
  }
  memcpy(p, *buf, len);
  cpi_secure_zero(*buf, *cap);
  free(*buf);
  *buf = p;
  *cap = new_cap;
  return 0;
}

/* Reads a whole file of at most CP_TLS_PEM_MAX_BYTES into a NUL-terminated
 * buffer. Any failure to read, and a NUL inside the file (it would cut the
 * PEM short for gRPC), is CP_EINVAL. */
static int read_file(const char *path, char **out) {
  FILE *f = fopen(path, "rbe");
  if (f == NULL) {
    return CP_EINVAL;
  }
  size_t cap = 4096;
  size_t len = 0;
  char *buf = malloc(cap);
  int rc = buf == NULL ? CP_ENOMEM : 0;
  while (rc == 0) {
    if (len == cap - 1) {
      if (len > CP_TLS_PEM_MAX_BYTES) {
        rc = CP_EINVAL;
        break;
      }
      rc = grow_buffer(&buf, &cap, len, cap * 2);
      if (rc != 0) {
        break;
      }
    }
    size_t n = fread(buf + len, 1, cap - 1 - len, f);
    len += n;
    if (n == 0) {
      rc = ferror(f) ? CP_EINVAL : 0;
      break;
    }
  }
  fclose(f);
  if (rc == 0) {
    buf[len] = '\0';
    if (len > CP_TLS_PEM_MAX_BYTES || strlen(buf) != len) {
      rc = CP_EINVAL;
    }
  }
  if (rc != 0) {
    if (buf != NULL) {
      cpi_secure_zero(buf, cap);
      free(buf);
    }
    return rc;
  }
  *out = buf;
  return 0;
}

static bool looks_like(const char *text, pem_kind kind) {
  if (kind == PEM_CERT) {
    return strstr(text, "-----BEGIN CERTIFICATE-----") != NULL;
  }
  const char *begin = strstr(text, "-----BEGIN ");
  return begin != NULL && strstr(begin, "PRIVATE KEY-----") != NULL;
}

/* Loads `pem` into *out (free with free_pem). Not given: CP_EINVAL when
 * `required`, else 0 with *out NULL. */
static int load_pem(const cp_tls_pem *pem, pem_kind kind, bool required,
                    char **out) {
  *out = NULL;
  if (!pem_given(pem)) {
    return required ? CP_EINVAL : 0;
  }
  if (pem->path != NULL && pem->pem != NULL) {
    return CP_EINVAL;
  }
  char *text = NULL;
  if (pem->path != NULL) {
    if (pem->path[0] == '\0') {
      return CP_EINVAL;
    }
    int rc = read_file(pem->path, &text);
    if (rc != 0) {
      return rc;
    }
  } else {
    size_t len = strnlen(pem->pem, CP_TLS_PEM_MAX_BYTES + 1);
    if (len > CP_TLS_PEM_MAX_BYTES) {
      return CP_EINVAL;
    }
    text = malloc(len + 1);
    if (text == NULL) {
      return CP_ENOMEM;
    }
    memcpy(text, pem->pem, len + 1);
  }
  if (!looks_like(text, kind)) {
    free_pem(text);
    return CP_EINVAL;
  }
  *out = text;
  return 0;
}

int cpi_tls_server_credentials(const cp_tls_server_options *tls,
                               grpc_server_credentials **out) {
  *out = NULL;
  if (tls == NULL) {
    return CP_EINVAL;
  }
  char *cert = NULL;
  char *key = NULL;
  char *ca = NULL;
  int rc = load_pem(&tls->cert_chain, PEM_CERT, true, &cert);
  if (rc == 0) {
    rc = load_pem(&tls->private_key, PEM_KEY, true, &key);
  }
  if (rc == 0) {
    rc = load_pem(&tls->client_ca, PEM_CERT,
                  tls->require_client_cert || tls->request_client_cert, &ca);
  }
  if (rc == 0) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    grpc_ssl_client_certificate_request_type request =
        GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    if (tls->require_client_cert) {
      request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    } else if (tls->request_client_cert) {
      request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    *out = grpc_ssl_server_credentials_create_ex(ca, &pair, 1, request, NULL);
    if (*out == NULL) {
      rc = CP_ENOMEM;
    }
  }
  free_pem(cert);
  free_pem(key);
  free_pem(ca);
  return rc;
}

int cpi_tls_channel_credentials(const cp_tls_client_options *tls,
                                grpc_channel_credentials **out) {
  *out = NULL;
  if (tls == NULL ||
      pem_given(&tls->cert_chain) != pem_given(&tls->private_key) ||
      (tls->server_name != NULL && tls->server_name[0] == '\0')) {
    return CP_EINVAL;
  }
  char *root = NULL;
  char *cert = NULL;
  char *key = NULL;
  int rc = load_pem(&tls->root_ca, PEM_CERT, false, &root);
  if (rc == 0) {
    rc = load_pem(&tls->cert_chain, PEM_CERT, false, &cert);
  }
  if (rc == 0) {
    rc = load_pem(&tls->private_key, PEM_KEY, false, &key);
  }
  if (rc == 0) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    *out = grpc_ssl_credentials_create(root, cert != NULL ? &pair : NULL, NULL,
                                       NULL);
    if (*out == NULL) {
      rc = CP_ENOMEM;
    }
  }
  free_pem(root);
  free_pem(cert);
  free_pem(key);
  return rc;
}
