/* The burst-tls preset's certificate; see tls_setup.h. */
#include "tls_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The tail of openssl's output, for an error message. */
static void read_log(const char *path, char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return;
  }
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  fclose(f);
  for (char *c = out; *c != '\0'; c++) {
    if (*c == '\n') {
      *c = ' ';
    }
  }
}

int ctl_tls_make(ctl_tls_files *f, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  char dir[] = "/tmp/cpluginctl-tls-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    snprintf(err, err_len, "cannot make a directory for the certificate: %s",
             strerror(errno));
    return -1;
  }
  snprintf(f->dir, sizeof f->dir, "%s", dir);
  snprintf(f->cert, sizeof f->cert, "%s/cert.pem", dir);
  snprintf(f->key, sizeof f->key, "%s/key.pem", dir);
  char log[96];
  snprintf(log, sizeof log, "%s/openssl.log", dir);
  /* req -x509 marks the certificate CA:TRUE, so it is its own root. */
  char *const argv[] = {"openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-days",
                        "1",
                        "-subj",
                        "/CN=127.0.0.1",
                        "-addext",
                        "subjectAltName=IP:127.0.0.1",
                        "-keyout",
                        f->key,
                        "-out",
                        f->cert,
                        NULL};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "openssl", &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (rc == 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char said[512];
    read_log(log, said, sizeof said);
    snprintf(err, err_len, "openssl could not make the certificate (%s): %s",
             rc != 0 ? strerror(rc) : "exit status", said);
    ctl_tls_remove(f);
    return -1;
  }
  unlink(log);
  return 0;
}

void ctl_tls_remove(ctl_tls_files *f) {
  if (f->dir[0] == '\0') {
    return;
  }
  char log[96];
  snprintf(log, sizeof log, "%s/openssl.log", f->dir);
  unlink(f->cert);
  unlink(f->key);
  unlink(log);
  rmdir(f->dir);
  f->dir[0] = '\0';
}
