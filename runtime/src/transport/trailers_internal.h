/* Filling a caller's cp_trailers as a call ends (internal). */
#ifndef CPLUGIN_TRANSPORT_TRAILERS_INTERNAL_H
#define CPLUGIN_TRANSPORT_TRAILERS_INTERNAL_H

#include <grpc/grpc.h>

#include "cplugin/client.h"

/* Empties `t` (keeps its capacity). */
void cpi_trailers_clear(cp_trailers *t);

/* Replaces the contents of `t` with copies of `md`. Out of memory leaves
 * `t` empty: a partial set could hide the entry the caller looks for. */
void cpi_trailers_fill(cp_trailers *t, const grpc_metadata_array *md);

#endif /* CPLUGIN_TRANSPORT_TRAILERS_INTERNAL_H */
