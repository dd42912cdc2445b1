/* A blocking hiredis connection for leases (redis_link.h). */
#include "ratelimit/redis_link.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cplugin/errors.h"
#include "ratelimit/redis_gcra_script.h"

#define SHA_LEN 40
#define UNIX_PREFIX "unix:"
#define HOST_MAX 256

struct cpi_redis_link {
  redisContext *ctx;
  char sha[SHA_LEN + 1];
};

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. */
static bool split_host_port(const char *address, char host[HOST_MAX],
                            int *port) {
  const char *colon = strrchr(address, ':');
  if (colon == NULL || colon == address) {
    return false;
  }
  const char *h = address;
  size_t hlen = (size_t)(colon - address);
  if (h[0] == '[') {
    if (hlen < 3 || h[hlen - 1] != ']') {
      return false;
    }
    h++;
    hlen -= 2;
  }
  if (hlen >= HOST_MAX) {
    return false;
  }
  char *end = NULL;
  long p = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || p < 1 || p > 65535) {
    return false;
  }
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (int)p;
  return true;
}

bool cpi_redis_address_valid(const char *address) {
  if (address == NULL) {
    return false;
  }
  if (strncmp(address, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
    return address[strlen(UNIX_PREFIX)] != '\0';
  }
  char host[HOST_MAX];
  int port = 0;
  return split_host_port(address, host, &port);
}

static struct timeval to_timeval(int64_t ms) {
  struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
                       .tv_usec = (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

static void set_err(char *err, size_t errlen, const char *what,
                    const char *detail) {
  if (errlen > 0) {
    snprintf(err, errlen, "%s%s%s", what, detail[0] != '\0' ? ": " : "",
             detail);
  }
}

/* The context's own error as a library code. */
static int link_errno(const redisContext *c) {
  return c->err == REDIS_ERR_IO && strstr(c->errstr, "timed out") != NULL
             ? CP_ETIMEDOUT
             : CP_ESYS;
}

/* Runs one command; returns its reply (NULL after a connection error). */
static redisReply *command(redisContext *c, int argc, const char **argv,
                           const size_t *lens) {
  return (redisReply *)redisCommandArgv(c, argc, argv, lens);
}

static int load_script(cpi_redis_link *l, char *err, size_t errlen) {
  const char *argv[] = {"SCRIPT", "LOAD", cpi_redis_gcra_script};
  size_t lens[] = {6, 4, strlen(cpi_redis_gcra_script)};
  redisReply *r = command(l->ctx, 3, argv, lens);
  if (r == NULL) {
    set_err(err, errlen, "SCRIPT LOAD", l->ctx->errstr);
    return link_errno(l->ctx);
  }
  int rc = 0;
  if (r->type != REDIS_REPLY_STRING || r->len != SHA_LEN) {
    set_err(err, errlen, "SCRIPT LOAD refused",
            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    rc = CP_ERPC;
  } else {
    memcpy(l->sha, r->str, SHA_LEN);
    l->sha[SHA_LEN] = '\0';
  }
  freeReplyObject(r);
  return rc;
}

static int authenticate(cpi_redis_link *l, const char *username,
                        const char *password, char *err, size_t errlen) {
  const char *argv[3] = {"AUTH"};
  size_t lens[3] = {4};
  int argc = 1;
  if (username != NULL) {
    argv[argc] = username;
    lens[argc++] = strlen(username);
  }
  argv[argc] = password;
  lens[argc++] = strlen(password);
  redisReply *r = command(l->ctx, argc, argv, lens);
  if (r == NULL) {
    set_err(err, errlen, "AUTH", l->ctx->errstr);
    return link_errno(l->ctx);
  }
  int rc = 0;
  if (r->type == REDIS_REPLY_ERROR) {
    set_err(err, errlen, "AUTH refused", r->str);
    rc = CP_EDENIED;
  }
  freeReplyObject(r);
  return rc;
}

int cpi_redis_link_open(cpi_redis_link **out, const char *address,
                        const char *username, const char *password,
                        int64_t timeout_ms, char *err, size_t errlen) {
  *out = NULL;
  struct timeval tv = to_timeval(timeout_ms);
  redisContext *c = NULL;
  if (strncmp(address, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
    c = redisConnectUnixWithTimeout(address + strlen(UNIX_PREFIX), tv);
  } else {
    char host[HOST_MAX];
    int port = 0;
    if (!split_host_port(address, host, &port)) {
      set_err(err, errlen, "bad address", address);
      return CP_EINVAL;
    }
    c = redisConnectWithTimeout(host, port, tv);
  }
  if (c == NULL) {
    set_err(err, errlen, "connect", "out of memory");
    return CP_ENOMEM;
  }
  if (c->err != 0) {
    set_err(err, errlen, "connect", c->errstr);
    int rc = link_errno(c);
    redisFree(c);
    return rc;
  }
  cpi_redis_link *l = calloc(1, sizeof *l);
  if (l == NULL) {
    redisFree(c);
    return CP_ENOMEM;
  }
  l->ctx = c;
  int rc = redisSetTimeout(c, tv) == REDIS_OK ? 0 : CP_ESYS;
  if (rc != 0) {
    set_err(err, errlen, "set timeout", c->errstr);
  }
  if (rc == 0 && password != NULL) {
    rc = authenticate(l, username, password, err, errlen);
  }
  if (rc == 0) {
    rc = load_script(l, err, errlen);
  }
  if (rc != 0) {
    cpi_redis_link_close(l);
    return rc;
  }
  *out = l;
  return 0;
}

void cpi_redis_link_close(cpi_redis_link *l) {
  if (l != NULL) {
    redisFree(l->ctx);
    free(l);
  }
}

/* Formats one EVALSHA of `req` (numbers into `num`, 4 x 24 bytes). */
static int append_lease(cpi_redis_link *l, const cpi_lease_request *req,
                        char num[4][24]) {
  snprintf(num[0], 24, "%lld", (long long)req->interval_us);
  snprintf(num[1], 24, "%lu", (unsigned long)req->burst);
  snprintf(num[2], 24, "%lu", (unsigned long)req->wanted);
  snprintf(num[3], 24, "%lld", (long long)req->debt);
  const char *argv[] = {"EVALSHA", l->sha, "1",    req->key,
                        num[0],    num[1], num[2], num[3]};
  size_t lens[] = {7,
                   SHA_LEN,
                   1,
                   req->key_len,
                   strlen(num[0]),
                   strlen(num[1]),
                   strlen(num[2]),
                   strlen(num[3])};
  return redisAppendCommandArgv(l->ctx, 8, argv, lens);
}

static bool is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Reads `r` into `out`; a reply of any other shape is a refusal. */
static void read_lease(const redisReply *r, cpi_lease_reply *out) {
  out->ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
  for (size_t i = 0; out->ok && i < 3; i++) {
    out->ok = r->element[i]->type == REDIS_REPLY_INTEGER &&
              r->element[i]->integer >= 0;
  }
  out->granted = out->ok ? r->element[0]->integer : 0;
  out->retry_after_us = out->ok ? r->element[1]->integer : 0;
  out->foreign = out->ok && r->element[2]->integer != 0;
}

/* One pipeline over reqs[i] for each i with todo[i]; clears todo[i] for
 * every answer but NOSCRIPT. Sets *noscript when one came. */
static int pipeline(cpi_redis_link *l, const cpi_lease_request *reqs, size_t n,
                    bool *todo, cpi_lease_reply *replies, bool *noscript,
                    char *err, size_t errlen) {
  char num[4][24];
  for (size_t i = 0; i < n; i++) {
    if (todo[i] && append_lease(l, &reqs[i], num) != REDIS_OK) {
      set_err(err, errlen, "EVALSHA", l->ctx->errstr);
      return link_errno(l->ctx);
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (!todo[i]) {
      continue;
    }
    void *reply = NULL;
    if (redisGetReply(l->ctx, &reply) != REDIS_OK || reply == NULL) {
      set_err(err, errlen, "EVALSHA", l->ctx->errstr);
      return link_errno(l->ctx);
    }
    redisReply *r = reply;
    if (is_noscript(r)) {
      *noscript = true;
    } else {
      read_lease(r, &replies[i]);
      todo[i] = false;
    }
    freeReplyObject(r);
  }
  return 0;
}

int cpi_redis_link_lease(cpi_redis_link *l, const cpi_lease_request *reqs,
                         size_t n, cpi_lease_reply *replies, char *err,
                         size_t errlen) {
  bool *todo = malloc(n * sizeof *todo);
  if (todo == NULL) {
    set_err(err, errlen, "lease", "out of memory");
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    todo[i] = true;
    replies[i] = (cpi_lease_reply){0};
  }
  bool noscript = false;
  int rc = pipeline(l, reqs, n, todo, replies, &noscript, err, errlen);
  if (rc == 0 && noscript) {
    rc = load_script(l, err, errlen);
    noscript = false;
    if (rc == 0) {
      rc = pipeline(l, reqs, n, todo, replies, &noscript, err, errlen);
    }
  }
  free(todo);
  return rc;
}
