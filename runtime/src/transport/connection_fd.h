/* Checks on a connected socket handed to gRPC by descriptor (internal). No
 * gRPC types. */
#ifndef CPLUGIN_TRANSPORT_CONNECTION_FD_H
#define CPLUGIN_TRANSPORT_CONNECTION_FD_H

/* Returns 0 when `fd` is a connected AF_UNIX stream socket, after making it
 * non-blocking and close-on-exec, else CP_EINVAL (fd untouched). gRPC
 * aborts the process on a descriptor it cannot use (it asserts on fcntl),
 * and a listening or unconnected socket would only fail later, so the
 * checks come first. Does not close `fd`. Any thread. */
int cpi_connection_fd_prepare(int fd);

#endif /* CPLUGIN_TRANSPORT_CONNECTION_FD_H */
