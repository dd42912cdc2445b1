/* The base_url policy applied to plugins' registrations (internal, pure). */
#ifndef CPLUGIN_REGISTRY_BASE_URL_H
#define CPLUGIN_REGISTRY_BASE_URL_H

#include <stddef.h>

typedef enum reg_base_url_verdict {
  REG_URL_OK,
  REG_URL_INVALID, /* malformed: INVALID_ARGUMENT */
  REG_URL_DENIED   /* well formed, outside the policy: PERMISSION_DENIED */
} reg_base_url_verdict;

/* Checks a plugin's base_url against the CP_BASE_URL_* flags in `allow`
 * (cplugin/registry.h); `peer` is the registering call's gRPC peer string
 * ("ipv4:10.0.0.7:5000", NULL when unknown). Writes the reason to `why`
 * unless OK. */
reg_base_url_verdict cpi_reg_check_base_url(unsigned allow, const char *url,
                                            const char *peer, char *why,
                                            size_t cap);

#endif /* CPLUGIN_REGISTRY_BASE_URL_H */
