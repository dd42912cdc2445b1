/* An EchoService that fails on request, for the retry, circuit-breaker and
 * discovery tests: the next N calls (Echo or Count) end with a chosen status
 * before doing anything, optionally with a retry-after-ms trailer; later
 * calls succeed (Echo echoes the text, Count sends `count` messages). */
#ifndef CPLUGIN_TESTS_FLAKY_SERVICE_H
#define CPLUGIN_TESTS_FLAKY_SERVICE_H

#include <stdint.h>

#include "cplugin/server.h"
#include "cplugin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct flaky_service flaky_service;

flaky_service *flaky_service_create(void);
/* After the server using it was destroyed. */
void flaky_service_destroy(flaky_service *f);

/* The next `n` calls fail with `code`; retry_after_ms >= 0 adds the
 * trailer retry-after-ms with that value, < 0 adds none. Any thread. */
void flaky_service_fail_next(flaky_service *f, int n, cp_status_code code,
                             int64_t retry_after_ms);

/* Count ends with `code` after sending its messages (default OK), for
 * streams that fail after delivering data. */
void flaky_service_end_streams_with(flaky_service *f, cp_status_code code);

/* Handler runs so far (failed ones included). */
int flaky_service_calls(flaky_service *f);

/* Registers EchoService on `server`; `f` must outlive the server. */
int flaky_service_register(cp_server *server, flaky_service *f);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_FLAKY_SERVICE_H */
