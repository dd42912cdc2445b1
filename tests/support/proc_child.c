/* A child for process_test (tests/unit/process_test.cc): the first argument
 * picks what it does.
 *
 *   ready [ADDRESS]      "hello stdout" on stdout, "hello stderr" on stderr,
 *                        then the handshake line (unix ADDRESS), then waits
 *   ready-exit [N]       the handshake line, then exit N (default 0)
 *   first-ready FILE     creates FILE and acts as "ready"; when FILE
 *                        exists already, exits 4 without the handshake
 *   env                  "ENV <entry>" for each environment entry, exit 0
 *   fds                  "FD <n> <target>" for each open descriptor, exit 0
 *   sigstate             the SigBlk and SigIgn lines of /proc/self/status
 *   pgid                 "PGID <pgid> PID <pid>", the handshake line, waits
 *   garbage              junk lines (bad UTF-8, control bytes), handshake
 *   flood BYTES          BYTES of 'x' without a newline, a newline, the
 *                        handshake line, waits
 *   never                waits, never ready
 *   ignore-term          ignores SIGTERM, handshake line, waits
 *   exit N               exits with code N at once
 *   say LINE             LINE on stdout, then waits
 *   intermediate PATH    starts "PATH ready" with cpi_proc_spawn, prints
 *                        "GRANDCHILD <pid>", the handshake line, waits
 *
 * Exit status 2 for bad arguments. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch/process.h"

extern char **environ;

static const char *handshake = "cplugin|1|unix|/tmp/proc-child.sock";

static void wait_forever(void) {
  for (;;) {
    pause();
  }
}

static int list_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) {
    return 1;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) {
      continue;
    }
    char link[300];
    char target[256] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    printf("FD %s %s\n", e->d_name, target);
  }
  closedir(d);
  return 0;
}

static int signal_state(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) {
    return 1;
  }
  char line[256];
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0) {
      fputs(line, stdout);
    }
  }
  fclose(f);
  return 0;
}

static int flood(long bytes) {
  char block[8192];
  memset(block, 'x', sizeof block);
  while (bytes > 0) {
    size_t n = bytes < (long)sizeof block ? (size_t)bytes : sizeof block;
    fwrite(block, 1, n, stdout);
    bytes -= (long)n;
  }
  printf("\n%s\n", handshake);
  fflush(stdout);
  wait_forever();
  return 0;
}

static int intermediate(const char *self) {
  const char *argv[] = {self, "ready", NULL};
  proc_options o;
  cpi_proc_options_init(&o);
  o.name = "grandchild";
  o.path = self;
  o.argv = argv;
  proc *p = NULL;
  char err[256];
  if (cpi_proc_spawn(&o, &p, err, sizeof err) != 0 ||
      cpi_proc_wait_ready(p, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "intermediate: %s\n", err);
    return 1;
  }
  printf("GRANDCHILD %d\n%s\n", (int)cpi_proc_pid(p), handshake);
  wait_forever();
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";
  const char *arg = argc > 2 ? argv[2] : NULL;
  if (strcmp(mode, "ready") == 0) {
    printf("hello stdout\n");
    fprintf(stderr, "hello stderr\n");
    if (arg != NULL) {
      printf("cplugin|1|unix|%s\n", arg);
    } else {
      printf("%s\n", handshake);
    }
    wait_forever();
  } else if (strcmp(mode, "ready-exit") == 0) {
    printf("%s\n", handshake);
    return arg != NULL ? atoi(arg) : 0;
  } else if (strcmp(mode, "first-ready") == 0 && arg != NULL) {
    int fd = open(arg, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      return 4;
    }
    close(fd);
    printf("%s\n", handshake);
    wait_forever();
  } else if (strcmp(mode, "env") == 0) {
    for (char **e = environ; *e != NULL; e++) {
      printf("ENV %s\n", *e);
    }
    return 0;
  } else if (strcmp(mode, "fds") == 0) {
    return list_fds();
  } else if (strcmp(mode, "sigstate") == 0) {
    return signal_state();
  } else if (strcmp(mode, "pgid") == 0) {
    printf("PGID %d PID %d\n%s\n", (int)getpgrp(), (int)getpid(), handshake);
    wait_forever();
  } else if (strcmp(mode, "garbage") == 0) {
    printf("some garbage before the handshake\n");
    printf("bad utf8 \xff\xfe here, control \x01 byte, cut \xe2\x82\n");
    printf("valid utf8 \xe2\x82\xac euro\n");
    printf("%s\n", handshake);
    wait_forever();
  } else if (strcmp(mode, "flood") == 0 && arg != NULL) {
    return flood(atol(arg));
  } else if (strcmp(mode, "never") == 0) {
    wait_forever();
  } else if (strcmp(mode, "ignore-term") == 0) {
    signal(SIGTERM, SIG_IGN);
    printf("%s\n", handshake);
    wait_forever();
  } else if (strcmp(mode, "exit") == 0 && arg != NULL) {
    return atoi(arg);
  } else if (strcmp(mode, "say") == 0 && arg != NULL) {
    printf("%s\n", arg);
    wait_forever();
  } else if (strcmp(mode, "intermediate") == 0 && arg != NULL) {
    return intermediate(arg);
  }
  fprintf(stderr, "proc_child: unknown mode\n");
  return 2;
}
