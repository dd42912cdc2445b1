/* Client stream internals (internal). */
#ifndef CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H
#define CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H

#include "cplugin/client.h"

/* The next stream in the client's list of open streams (client->mu held). */
cp_client_stream *cp_client_stream_next_open(cp_client_stream *stream);

#endif /* CPLUGIN_TRANSPORT_CLIENT_STREAM_INTERNAL_H */
