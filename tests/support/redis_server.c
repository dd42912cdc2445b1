/* A throwaway redis-server (redis_server.h). */
#include "redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

#define MAX_EXTRA 16
#define START_TIMEOUT_MS 10000

static int answers(int port) {
  redisContext *c = redisConnect("127.0.0.1", port);
  int ok = 0;
  if (c != NULL && c->err == 0) {
    redisReply *reply = redisCommand(c, "PING");
    ok = reply != NULL && (reply->type == REDIS_REPLY_STATUS ||
                           reply->type == REDIS_REPLY_ERROR);
    freeReplyObject(reply);
  }
  redisFree(c);
  return ok;
}

static pid_t spawn(int port, const char *const *extra) {
  char port_arg[16];
  snprintf(port_arg, sizeof port_arg, "%d", port);
  const char *argv[10 + MAX_EXTRA] = {
      "redis-server", "--port", port_arg,       "--bind", "127.0.0.1",
      "--save",       "",       "--appendonly", "no"};
  size_t n = 9;
  for (size_t i = 0; extra != NULL && extra[i] != NULL && i < MAX_EXTRA; i++) {
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* One attempt on `port`: 0 when it answers, -1 (and no process) if not. */
static int start_on(test_redis *r, int port, const char *const *extra) {
  pid_t pid = spawn(port, extra);
  if (pid < 0 ||
      test_wait_server_ready(pid, port, answers, START_TIMEOUT_MS) != 0) {
    return -1;
  }
  r->pid = pid;
  r->port = port;
  return 0;
}

int test_redis_start(test_redis *r, int port, const char *const *extra) {
  r->pid = -1;
  if (port > 0) {
    return start_on(r, port, extra);
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    int p = test_free_loopback_port();
    if (p > 0 && start_on(r, p, extra) == 0) {
      return 0;
    }
  }
  return -1;
}

void test_redis_stop(test_redis *r, int sig) {
  if (r->pid > 0) {
    kill(r->pid, sig);
    waitpid(r->pid, NULL, 0);
    r->pid = -1;
  }
}
