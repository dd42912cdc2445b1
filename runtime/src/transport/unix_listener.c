/* cp_unix_listener: accepts Unix-socket connections on a thread of its own
 * and hands each to gRPC by descriptor, so that calls carry the descriptor
 * (peer "fd:N") from which the caller's user can be read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include "transport/unix_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"

enum {
  PATH_MAX_LEN = sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
  /* Out of descriptors: retry after this long instead of spinning on a
   * connection that stays queued. */
  ACCEPT_RETRY_MS = 100
};

struct cp_unix_listener {
  int fd;
  int wake[2]; /* the thread reads 's' (start) or 'q' (quit) */
  grpc_server *server;
  grpc_server_credentials *creds;
  pthread_t thread;
  char path[PATH_MAX_LEN + 1]; /* "" for an abstract socket */
  dev_t dev;                   /* the file bound, removed only if unchanged */
  ino_t ino;
  cp_unix_listener *next;
};

static bool has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool cpi_unix_listener_handles(const char *address) {
  return address != NULL && (has_prefix(address, "unix:") ||
                             has_prefix(address, "unix-abstract:"));
}

static int hex(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
    return (c | 0x20) - 'a' + 10;
  }
  return -1;
}

/* gRPC percent-decodes a listen address before reading it: "%2F" is "/",
 * anything else stays as it is. Returns the length, or -1 if too long. */
static int percent_decode(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (; *in != '\0'; in++) {
    char c = *in;
    if (c == '%' && hex(in[1]) >= 0 && hex(in[2]) >= 0) {
      c = (char)(hex(in[1]) * 16 + hex(in[2]));
      in += 2;
    }
    if (n + 1 >= cap) {
      return -1;
    }
    out[n++] = c;
  }
  out[n] = '\0';
  return (int)n;
}

/* The socket address of "unix:path" or "unix-abstract:name". */
static int parse_address(const char *address, struct sockaddr_un *sa,
                         socklen_t *len, bool *abstract) {
  *abstract = has_prefix(address, "unix-abstract:");
  const char *name = strchr(address, ':') + 1;
  char text[PATH_MAX_LEN + 1];
  int n = percent_decode(name, text, sizeof text);
  if (n < 0 || memchr(text, '\0', (size_t)n) != NULL) {
    return CP_EINVAL; /* too long, or a decoded NUL would cut the path */
  }
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path + (*abstract ? 1 : 0), text, (size_t)n);
  *len =
      *abstract
          ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)
          : (socklen_t)sizeof *sa;
  return 0;
}

/* As gRPC does before binding: a socket file left by an earlier run would
 * make bind fail; other files are left alone (bind then fails). */
static void unlink_stale_socket(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
    unlink(path);
  }
}

static int bind_and_listen(cp_unix_listener *l, const char *address) {
  struct sockaddr_un sa;
  socklen_t len = 0;
  bool abstract = false;
  if (parse_address(address, &sa, &len, &abstract) != 0) {
    return CP_EBIND; /* as gRPC's listener answers a path that is too long */
  }
  /* Non-blocking: a connection reset between poll and accept must not
   * block the thread that is asked to stop. */
  l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd < 0) {
    return CP_EBIND;
  }
  if (!abstract) {
    memcpy(l->path, sa.sun_path, sizeof l->path);
    unlink_stale_socket(l->path);
  }
  if (bind(l->fd, (struct sockaddr *)&sa, len) != 0) {
    l->path[0] = '\0'; /* not ours to remove */
    return CP_EBIND;
  }
  struct stat st;
  if (!abstract && stat(l->path, &st) == 0) {
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  return listen(l->fd, SOMAXCONN) == 0 ? 0 : CP_EBIND;
}

/* Waits for up to `ms` (-1: forever) for a byte on the wake pipe; returns it,
 * or 0 when none came in time. */
static char wait_wake(const cp_unix_listener *l, int ms) {
  struct pollfd p = {l->wake[0], POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, ms);
  } while (n < 0 && errno == EINTR && ms < 0);
  char c = 0;
  if (n > 0 && read(l->wake[0], &c, 1) != 1) {
    c = 'q'; /* the pipe broke: stop rather than spin */
  }
  return c;
}

/* Returns 0, or accept's errno. */
static int accept_one(cp_unix_listener *l) {
  int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  /* gRPC owns fd from here and closes it with the connection; its calls
   * report the peer "fd:<fd>". */
  grpc_server_add_channel_from_fd(l->server, fd, l->creds);
  return 0;
}

static void *accept_main(void *arg) {
  cp_unix_listener *l = arg;
  if (wait_wake(l, -1) != 's') {
    return NULL;
  }
  struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (p[1].revents != 0) {
      break; /* 'q', or the pipe closed */
    }
    if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      /* Never for a listening socket in use; do not spin on it. */
      cp_log(CP_LOG_ERROR, "unix socket listener failed: not accepting",
             CP_LOG_END);
      break;
    }
    int err = accept_one(l);
    if ((err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) &&
        wait_wake(l, ACCEPT_RETRY_MS) != 0) {
      break;
    }
  }
  return NULL;
}

static void listener_free(cp_unix_listener *l) {
  if (l->fd >= 0) {
    close(l->fd);
  }
  struct stat st;
  if (l->path[0] != '\0' && stat(l->path, &st) == 0 && st.st_dev == l->dev &&
      st.st_ino == l->ino) {
    unlink(l->path); /* as gRPC removes its own socket files */
  }
  if (l->wake[0] >= 0) {
    close(l->wake[0]);
    close(l->wake[1]);
  }
  if (l->creds != NULL) {
    grpc_server_credentials_release(l->creds);
  }
  free(l);
}

int cpi_unix_listener_open(const char *address, grpc_server *server,
                           cp_unix_listener **list) {
  if (!cpi_unix_listener_handles(address) || server == NULL || list == NULL) {
    return CP_EINVAL;
  }
  cp_unix_listener *l = calloc(1, sizeof *l);
  if (l == NULL) {
    return CP_ENOMEM;
  }
  l->fd = -1;
  l->wake[0] = l->wake[1] = -1;
  l->server = server;
  int rc = bind_and_listen(l, address);
  if (rc == 0) {
    l->creds = grpc_insecure_server_credentials_create();
    rc = l->creds != NULL && pipe2(l->wake, O_CLOEXEC) == 0 &&
                 pthread_create(&l->thread, NULL, accept_main, l) == 0
             ? 0
             : CP_ENOMEM;
  }
  if (rc != 0) {
    listener_free(l);
    return rc;
  }
  l->next = *list;
  *list = l;
  return 0;
}

static void wake(cp_unix_listener *l, char c) {
  while (write(l->wake[1], &c, 1) < 0 && errno == EINTR) {
  }
}

void cpi_unix_listeners_start(cp_unix_listener *list) {
  for (cp_unix_listener *l = list; l != NULL; l = l->next) {
    wake(l, 's');
  }
}

void cpi_unix_listeners_close(cp_unix_listener **list) {
  cp_unix_listener *l = *list;
  *list = NULL;
  while (l != NULL) {
    cp_unix_listener *next = l->next;
    wake(l, 'q');
    pthread_join(l->thread, NULL);
    listener_free(l);
    l = next;
  }
}
