/* Child processes for end-to-end tests. */
#define _GNU_SOURCE
#include "process.h"
#include "wait.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_process_start(test_process *p, char *const argv[], int timeout_ms) {
  memset(p, 0, sizeof *p);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  p->pid = pid;
  p->stdout_fd = fds[0];
  char line[512];
  size_t used = 0;
  long long until = now_ms() + timeout_ms;
  while (used < sizeof line - 1) {
    int left = (int)(until - now_ms());
    struct pollfd pfd = {fds[0], POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, left) <= 0) {
      break;
    }
    ssize_t n = read(fds[0], line + used, 1);
    if (n <= 0) {
      break;
    }
    if (line[used] == '\n') {
      line[used] = '\0';
      if (strncmp(line, "LISTENING ", 10) == 0) {
        snprintf(p->address, sizeof p->address, "%s", line + 10);
        return 0;
      }
      used = 0;
      continue;
    }
    used++;
  }
  test_process_stop(p, SIGKILL, 5000);
  return -1;
}

struct exit_wait {
  pid_t pid;
  int status;
};

static int child_exited(void *arg) {
  struct exit_wait *w = arg;
  return waitpid(w->pid, &w->status, WNOHANG) == w->pid;
}

int test_process_stop(test_process *p, int sig, int timeout_ms) {
  if (p->pid <= 0) {
    return -1;
  }
  kill(p->pid, sig);
  struct exit_wait w = {p->pid, 0};
  int result = -1;
  if (test_wait_until(child_exited, &w, timeout_ms)) {
    result = w.status;
  } else {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &w.status, 0);
  }
  p->pid = 0;
  if (p->stdout_fd > 0) {
    close(p->stdout_fd);
    p->stdout_fd = 0;
  }
  return result;
}

const char *test_program_path(const char *env, const char *fallback) {
  const char *v = getenv(env);
  return v != NULL && v[0] != '\0' ? v : fallback;
}

int test_socket_path(const char *name, char *out, size_t cap) {
  char dir[] = "/tmp/cplugin-test-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    return -1;
  }
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap || n > 107) {
    rmdir(dir);
    return -1;
  }
  return 0;
}

void test_socket_path_remove(const char *path) {
  unlink(path);
  char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash != NULL) {
    *slash = '\0';
    rmdir(dir);
  }
}

int test_free_loopback_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

typedef struct starting {
  pid_t pid;
  int port;
  int (*ready)(int port);
  int exited;
} starting;

/* Done waiting: the server is ready, or its process exited. */
static int ready_or_exited(void *arg) {
  starting *s = arg;
  int st = 0;
  s->exited = waitpid(s->pid, &st, WNOHANG) == s->pid;
  return s->exited || s->ready(s->port);
}

int test_wait_server_ready(pid_t pid, int port, int (*ready)(int port),
                           int timeout_ms) {
  starting s = {pid, port, ready, 0};
  if (test_wait_until(ready_or_exited, &s, timeout_ms) && !s.exited) {
    return 0;
  }
  if (!s.exited) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return -1;
}
