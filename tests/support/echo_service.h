/* The EchoService used by transport tests (C, callable from C++). */
#ifndef CPLUGIN_TESTS_ECHO_SERVICE_H
#define CPLUGIN_TESTS_ECHO_SERVICE_H

#include "cplugin/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counters the handlers keep, read with echo_stats_get from any thread. */
typedef enum echo_stat {
  ECHO_CALLS,
  COUNT_CALLS,
  STREAMS_DONE,    /* done callbacks seen */
  MESSAGES_QUEUED, /* cp_stream_send returned 0 */
  SEND_EAGAIN,     /* cp_stream_send returned CP_EAGAIN */
  ECHO_STAT_COUNT
} echo_stat;

typedef struct echo_stats echo_stats;

echo_stats *echo_stats_create(void);
void echo_stats_destroy(echo_stats *stats);
int echo_stats_get(echo_stats *stats, echo_stat which);

/* Registers EchoService on `server`; `stats` must outlive the server. */
int echo_service_register(cp_server *server, echo_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TESTS_ECHO_SERVICE_H */
