/* A throwaway etcd (etcd_server.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "etcd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

#define START_TIMEOUT_MS 30000

/* Whether etcd on `port` answers GET /health with "health":"true". */
static int healthy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = 0;
  static const char req[] =
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
    char buf[1024];
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf - 1 &&
           (n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
      have += (size_t)n;
    }
    buf[have] = '\0';
    ok = strstr(buf, "\"health\":\"true\"") != NULL;
  }
  close(fd);
  return ok;
}

static pid_t spawn(const test_etcd *e) {
  char client_url[64], peer_url[64], cluster[96], data[300], log[300];
  snprintf(client_url, sizeof client_url, "http://127.0.0.1:%d",
           e->client_port);
  snprintf(peer_url, sizeof peer_url, "http://127.0.0.1:%d", e->peer_port);
  snprintf(cluster, sizeof cluster, "cplugin-test=%s", peer_url);
  snprintf(data, sizeof data, "%s/data", e->dir);
  snprintf(log, sizeof log, "%s/etcd.log", e->dir);
  /* Only async-signal-safe calls between fork and exec (gRPC has threads). */
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("etcd", "etcd", "--name", "cplugin-test", "--data-dir", data,
           "--listen-client-urls", client_url, "--advertise-client-urls",
           client_url, "--listen-peer-urls", peer_url,
           "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
           cluster, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* One attempt on e's ports: 0 once healthy, -1 (and no process) if not. */
static int start_once(test_etcd *e) {
  pid_t pid = spawn(e);
  if (pid < 0 || test_wait_server_ready(pid, e->client_port, healthy,
                                        START_TIMEOUT_MS) != 0) {
    return -1;
  }
  e->pid = pid;
  snprintf(e->target, sizeof e->target, "127.0.0.1:%d", e->client_port);
  return 0;
}

int test_etcd_start(test_etcd *e, const char *dir) {
  e->pid = -1;
  if (dir != e->dir &&
      snprintf(e->dir, sizeof e->dir, "%s", dir) >= (int)sizeof e->dir) {
    return -1;
  }
  if (e->client_port > 0) {
    return start_once(e);
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    e->client_port = test_free_loopback_port();
    e->peer_port = test_free_loopback_port();
    if (e->client_port > 0 && e->peer_port > 0 &&
        e->client_port != e->peer_port && start_once(e) == 0) {
      return 0;
    }
  }
  e->client_port = 0;
  return -1;
}

void test_etcd_stop(test_etcd *e, int sig) {
  if (e->pid > 0) {
    kill(e->pid, sig);
    waitpid(e->pid, NULL, 0);
    e->pid = -1;
  }
}

int test_etcd_start_fresh(test_etcd *e, const char *name) {
  memset(e, 0, sizeof *e);
  e->pid = -1;
  char dir[sizeof e->dir];
  if (snprintf(dir, sizeof dir, "/tmp/%s-XXXXXX", name) >= (int)sizeof dir ||
      mkdtemp(dir) == NULL) {
    return -1;
  }
  if (test_etcd_start(e, dir) != 0) {
    test_etcd_remove(e);
    return -1;
  }
  return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void test_etcd_remove(test_etcd *e) {
  test_etcd_stop(e, SIGTERM);
  if (e->dir[0] == '\0') {
    return;
  }
  /* Depth first, without following links: files before their folder. */
  if (nftw(e->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    fprintf(stderr, "test_etcd_remove: cannot remove %s\n", e->dir);
  }
  e->dir[0] = '\0';
}
