/* Shared ownership of a cp_client inside the runtime (internal; free of gRPC
 * headers, so the router may use it).
 *
 * A client starts with one reference, its owner's, which cp_client_destroy
 * drops after closing the client. Whoever keeps using the channel past the
 * owner (a forwarded call, the router choosing a target) holds its own
 * reference; the last release frees the channel. A released client may
 * still have forwards in flight: they end normally. */
#ifndef CPLUGIN_TRANSPORT_CLIENT_REF_H
#define CPLUGIN_TRANSPORT_CLIENT_REF_H

#include "cplugin/client.h"

/* Adds a reference. Thread-safe. */
void cpi_client_retain(cp_client *client);

/* Drops a reference; the last one frees the client without closing it
 * first (streams and asynchronous calls need cp_client_destroy). NULL is
 * ignored. Thread-safe. */
void cpi_client_release(cp_client *client);

#endif /* CPLUGIN_TRANSPORT_CLIENT_REF_H */
