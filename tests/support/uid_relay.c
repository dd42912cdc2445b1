/* test_uid_relay: a forked child, running as another user, that relays
 * connections to a Unix socket. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setgroups */
#endif
#include "uid_relay.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

enum { MAX_PAIRS = 16, CHILD_FD_LIMIT = 4096 };

typedef struct pair {
  int a; /* accepted from a client of the relay */
  int b; /* connected to the target as the relay's user */
} pair;

static int unix_address(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa->sun_path) {
    return -1;
  }
  memcpy(sa->sun_path, path, strlen(path));
  return 0;
}

/* Writes all of buf; false if the other side is gone (no SIGPIPE). */
static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return 0;
    }
    buf += w;
    n -= w;
  }
  return 1;
}

/* Copies what `from` has to `to`; false when either side closed. */
static int copy_once(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof buf);
  if (n < 0 && errno == EINTR) {
    return 1;
  }
  return n > 0 && write_all(to, buf, n);
}

static void pair_close(pair *p) {
  close(p->a);
  close(p->b);
  p->a = p->b = -1;
}

static void accept_pair(int listen_fd, const struct sockaddr_un *target,
                        pair *pairs) {
  int a = accept(listen_fd, NULL, NULL);
  if (a < 0) {
    return;
  }
  for (int i = 0; i < MAX_PAIRS; i++) {
    if (pairs[i].a < 0) {
      int b = socket(AF_UNIX, SOCK_STREAM, 0);
      if (b >= 0 &&
          connect(b, (const struct sockaddr *)target, sizeof *target) == 0) {
        pairs[i].a = a;
        pairs[i].b = b;
        return;
      }
      if (b >= 0) {
        close(b);
      }
      break;
    }
  }
  close(a); /* the client sees the connection fail */
}

/* The child: async-signal-safe calls only (the parent has other threads). */
static void relay_main(int listen_fd, const struct sockaddr_un *target,
                       uid_t uid, gid_t gid, int status_fd) {
  for (int fd = 3; fd < CHILD_FD_LIMIT; fd++) {
    if (fd != listen_fd && fd != status_fd) {
      close(fd); /* the parent's connections must close when it closes them */
    }
  }
  int err = 0;
  if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
    err = errno != 0 ? errno : EPERM;
  }
  (void)!write(status_fd, &err, sizeof err);
  close(status_fd);
  if (err != 0) {
    _exit(1);
  }
  pair pairs[MAX_PAIRS];
  for (int i = 0; i < MAX_PAIRS; i++) {
    pairs[i].a = pairs[i].b = -1;
  }
  for (;;) {
    struct pollfd p[1 + 2 * MAX_PAIRS];
    p[0].fd = listen_fd;
    p[0].events = POLLIN;
    for (int i = 0; i < MAX_PAIRS; i++) {
      p[1 + 2 * i].fd = pairs[i].a;
      p[2 + 2 * i].fd = pairs[i].b;
      p[1 + 2 * i].events = p[2 + 2 * i].events = POLLIN;
    }
    if (poll(p, 1 + 2 * MAX_PAIRS, -1) < 0) {
      continue;
    }
    if (p[0].revents != 0) {
      accept_pair(listen_fd, target, pairs);
    }
    for (int i = 0; i < MAX_PAIRS; i++) {
      if (pairs[i].a < 0) {
        continue;
      }
      int ok = 1;
      if (p[1 + 2 * i].revents != 0) {
        ok = copy_once(pairs[i].a, pairs[i].b);
      }
      if (ok && p[2 + 2 * i].revents != 0) {
        ok = copy_once(pairs[i].b, pairs[i].a);
      }
      if (!ok) {
        pair_close(&pairs[i]);
      }
    }
  }
}

static int fail(char *why, size_t cap, const char *what, int err) {
  snprintf(why, cap, "%s: %s", what, strerror(err));
  return -1;
}

int test_uid_relay_start(test_uid_relay *r, const char *target_path, uid_t uid,
                         gid_t gid, char *why, size_t why_cap) {
  memset(r, 0, sizeof *r);
  struct sockaddr_un target;
  struct sockaddr_un own;
  if (unix_address(target_path, &target) != 0 ||
      test_socket_path("relay.sock", r->path, sizeof r->path) != 0 ||
      unix_address(r->path, &own) != 0) {
    return fail(why, why_cap, "socket path", EINVAL);
  }
  int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 ||
      bind(listen_fd, (struct sockaddr *)&own, sizeof own) != 0 ||
      listen(listen_fd, 16) != 0) {
    int err = errno;
    if (listen_fd >= 0) {
      close(listen_fd);
    }
    test_socket_path_remove(r->path);
    return fail(why, why_cap, "relay socket", err);
  }
  int status[2];
  if (pipe(status) != 0) {
    int err = errno;
    close(listen_fd);
    test_socket_path_remove(r->path);
    return fail(why, why_cap, "pipe", err);
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(status[0]);
    relay_main(listen_fd, &target, uid, gid, status[1]);
    _exit(0);
  }
  int err = pid < 0 ? errno : 0;
  close(status[1]);
  close(listen_fd);
  if (pid > 0) {
    r->pid = pid;
    /* Blocks until the child has changed its user (or failed to). */
    if (read(status[0], &err, sizeof err) != (ssize_t)sizeof err) {
      err = EIO;
    }
  }
  close(status[0]);
  if (err != 0) {
    test_uid_relay_stop(r);
    return fail(why, why_cap, pid < 0 ? "fork" : "setuid in the relay", err);
  }
  return 0;
}

void test_uid_relay_stop(test_uid_relay *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
  }
  if (r->path[0] != '\0') {
    test_socket_path_remove(r->path);
    r->path[0] = '\0';
  }
}

int test_socket_share(const char *path) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) {
    return -1;
  }
  *slash = '\0';
  return chmod(dir, 0711) == 0 && chmod(path, 0666) == 0 ? 0 : -1;
}
