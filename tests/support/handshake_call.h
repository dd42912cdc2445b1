/* One raw Handshake call, as a plugin sends it (tests): core protocol
 * version, app version 1, the default magic cookie, `self_id` (may be
 * NULL) and the given request metadata. */
#ifndef CPLUGIN_TESTS_HANDSHAKE_CALL_H
#define CPLUGIN_TESTS_HANDSHAKE_CALL_H

#include <stddef.h>

#include "cplugin/cplugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the call's status. On success the issued runtime ID is copied
 * into `runtime_id` (if not NULL; truncated to `cap`). */
cp_status test_handshake(cp_client *client, const char *self_id,
                         const cp_metadata *md, size_t md_count,
                         char *runtime_id, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_HANDSHAKE_CALL_H */
