/* cp_server_add_connection: a connected socket served as one connection of
 * the server, and the peer name of its calls.
 *
 * gRPC names a connection handed to it by descriptor "fd:N", as it names
 * those the Unix-socket listener accepts (unix_listener.h). To tell them
 * apart, the server records each handed-over descriptor with its socket's
 * inode: while a call is live its descriptor is its connection, so a call
 * whose "fd:N" still has the recorded inode came through here, and one
 * whose N was closed and reused by another connection has another inode. */
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "transport/connection_fd.h"
#include "transport/server_internal.h"

struct cp_server_conn {
  int fd;
  dev_t dev;
  ino_t ino;
  unsigned long long serial;
};

/* Numbers connections across the servers of the process, so that no two
 * connections share a peer key. */
static atomic_ullong next_serial = 1;

static bool same_socket(int fd, dev_t dev, ino_t ino) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Drops the entries whose descriptor gRPC has closed (or that now name
 * another socket), and any earlier entry for `fd`, which was closed since
 * the descriptor is free again. Called with conn_mu held. */
static void prune_locked(cp_server *s, int fd) {
  size_t kept = 0;
  for (size_t i = 0; i < s->conn_count; i++) {
    struct cp_server_conn *c = &s->conns[i];
    if (c->fd != fd && same_socket(c->fd, c->dev, c->ino)) {
      s->conns[kept++] = *c;
    }
  }
  s->conn_count = kept;
}

static int record(cp_server *s, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return CP_EINVAL;
  }
  int rc = 0;
  pthread_mutex_lock(&s->conn_mu);
  prune_locked(s, fd);
  if (s->conn_count == s->conn_cap) {
    size_t cap = s->conn_cap == 0 ? 4 : s->conn_cap * 2;
    struct cp_server_conn *p = realloc(s->conns, cap * sizeof *p);
    if (p == NULL) {
      rc = CP_ENOMEM;
    } else {
      s->conns = p;
      s->conn_cap = cap;
    }
  }
  if (rc == 0) {
    s->conns[s->conn_count++] = (struct cp_server_conn){
        fd, st.st_dev, st.st_ino, atomic_fetch_add(&next_serial, 1)};
    atomic_store(&s->has_conns, true);
  }
  pthread_mutex_unlock(&s->conn_mu);
  return rc;
}

int cp_server_add_connection(cp_server *server, int fd) {
  if (server == NULL) {
    if (fd >= 0) {
      close(fd);
    }
    return CP_EINVAL;
  }
  int rc = cpi_connection_fd_prepare(fd);
  if (rc != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return rc;
  }
  /* Under mu: cp_server_shutdown sets STOPPING under it before gRPC's
   * shutdown begins, and gRPC must get no connection after that. */
  pthread_mutex_lock(&server->mu);
  if (server->state != CP_SERVER_RUNNING) {
    rc = CP_ESTATE;
  } else {
    /* Recorded before gRPC has it: its first call may arrive at once. */
    rc = record(server, fd);
  }
  if (rc == 0) {
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    /* gRPC owns fd from here, also if it fails to set the connection up
     * (it then closes it and logs why). */
    grpc_server_add_channel_from_fd(server->grpc, fd, creds);
    grpc_server_credentials_release(creds);
  }
  pthread_mutex_unlock(&server->mu);
  if (rc != 0) {
    close(fd);
  }
  return rc;
}

/* "fd:" and a decimal descriptor number, nothing else. */
static bool parse_fd(const char *peer, int *fd) {
  if (strncmp(peer, "fd:", 3) != 0 || peer[3] == '\0') {
    return false;
  }
  long v = 0;
  for (const char *p = peer + 3; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || v > (INT_MAX - 9) / 10) {
      return false;
    }
    v = v * 10 + (*p - '0');
  }
  *fd = (int)v;
  return true;
}

const char *cpi_server_connection_peer(cp_server *server, const char *peer,
                                       cp_arena *arena) {
  int fd = -1;
  if (!atomic_load(&server->has_conns) || !parse_fd(peer, &fd)) {
    return peer;
  }
  unsigned long long serial = 0;
  pthread_mutex_lock(&server->conn_mu);
  for (size_t i = 0; i < server->conn_count; i++) {
    const struct cp_server_conn *c = &server->conns[i];
    if (c->fd == fd && same_socket(fd, c->dev, c->ino)) {
      serial = c->serial;
      break;
    }
  }
  pthread_mutex_unlock(&server->conn_mu);
  if (serial == 0) {
    return peer;
  }
  char name[32];
  int n = snprintf(name, sizeof name, "inproc:%llu", serial);
  char *copy = cpi_arena_strndup(arena, name, (size_t)n);
  /* Out of memory: "fd:N" still names the connection, only less clearly. */
  return copy != NULL ? copy : peer;
}

void cpi_server_connections_free(cp_server *server) {
  free(server->conns);
  server->conns = NULL;
  server->conn_count = server->conn_cap = 0;
}
