/* cp_client_create_from_connection: a client whose channel runs over one
 * already-connected socket (gRPC's direct channel: no name resolution, no
 * reconnection). */
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "transport/client_internal.h"
#include "transport/connection_fd.h"

/* The channel's name, and the :authority its calls send. */
#define INPROC_TARGET "inproc"

int cp_client_create_from_connection(cp_client **out, int fd,
                                     const cp_client_options *opts) {
  if (out != NULL) {
    *out = NULL;
  }
  cp_client_options o;
  int rc = out == NULL ? CP_EINVAL : cpi_client_check_options(opts, &o);
  if (rc == 0 && o.tls != NULL) {
    rc = CP_EINVAL; /* gRPC dials a descriptor with plaintext only */
  }
  if (rc == 0) {
    rc = cpi_connection_fd_prepare(fd);
  }
  if (rc != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return rc;
  }
  grpc_init();
  grpc_channel *channel = cpi_channel_over_connection(fd, &o);
  if (channel == NULL) {
    grpc_shutdown();
    return CP_ENOMEM;
  }
  return cpi_client_from_channel(out, &o, channel);
}

grpc_channel *cpi_channel_over_connection(int fd, const cp_client_options *o) {
  grpc_arg args[3];
  grpc_channel_args chargs = {cpi_client_message_args(o, args), args};
  args[chargs.num_args].type = GRPC_ARG_STRING;
  args[chargs.num_args].key = GRPC_ARG_DEFAULT_AUTHORITY;
  args[chargs.num_args].value.string = INPROC_TARGET;
  chargs.num_args++;
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  /* Owns fd from here in every case: on a failure to set the transport up
   * gRPC closes it and returns a channel whose calls fail. */
  grpc_channel *channel =
      grpc_channel_create_from_fd(INPROC_TARGET, fd, creds, &chargs);
  grpc_channel_credentials_release(creds);
  return channel;
}
