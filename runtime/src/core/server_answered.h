/* Whether a call's status came from a server that answered (internal). A
 * liveness probe and a failover check ask the same question: is anything
 * serving there? UNAVAILABLE (nothing took the call) and DEADLINE_EXCEEDED
 * (nothing answered in time) say no; CANCELLED was decided on this side and
 * says nothing; any other status, errors included (UNIMPLEMENTED from a
 * server without a health service), was sent by a live server. */
#ifndef CPLUGIN_CORE_SERVER_ANSWERED_H
#define CPLUGIN_CORE_SERVER_ANSWERED_H

#include <stdbool.h>

#include "cplugin/status.h"

/* Nothing answered: the target is gone or unreachable. */
static inline bool cp_status_server_silent(cp_status_code code) {
  return code == CP_STATUS_UNAVAILABLE || code == CP_STATUS_DEADLINE_EXCEEDED;
}

/* A server sent this status. */
static inline bool cp_status_server_answered(cp_status_code code) {
  return !cp_status_server_silent(code) && code != CP_STATUS_CANCELLED;
}

#endif /* CPLUGIN_CORE_SERVER_ANSWERED_H */
