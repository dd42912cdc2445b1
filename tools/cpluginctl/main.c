/* cpluginctl: the load tool and the admin client. Dispatches to a subcommand after blocking
 * SIGINT and SIGTERM in every thread (threads created later inherit the
 * mask), so that a stop request is taken with sigwait at one well-defined
 * point instead of interrupting gRPC's threads. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "cplugin/log.h"
#include "commands.h"

int ctl_usage_exit(const char *subcommand, int parse_result, const char *err) {
  if (parse_result == CTL_PARSE_HELP) {
    fputs(ctl_usage(subcommand), stdout);
    return CTL_EXIT_OK;
  }
  fprintf(stderr, "cpluginctl %s: %s\n%s", subcommand != NULL ? subcommand : "",
          err, ctl_usage(subcommand));
  return CTL_EXIT_USAGE;
}

/* A fleet run holds a connection per plugin in this process and in the host
 * it starts (children inherit the limit): allow as many descriptors as the
 * hard limit does. A failure leaves the soft limit, and connections past it
 * fail with a clear error. */
static void raise_descriptor_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  raise_descriptor_limit();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  /* Lines must reach a reading parent (LISTENING, ...) as they are printed. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Logs go to stderr, warnings and up unless CPLUGIN_LOG_LEVEL says
   * otherwise: at info the router logs every routed call. */
  cp_log_set_level(CP_LOG_WARN);
  cp_log_configure_from_env();

  if (argc < 2) {
    fputs(ctl_usage(NULL), stderr);
    return CTL_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(ctl_usage(NULL), stdout);
    return CTL_EXIT_OK;
  }
  if (strcmp(cmd, "serve") == 0) {
    return ctl_cmd_serve(argc - 1, argv + 1);
  }
  if (strcmp(cmd, "handshake") == 0) {
    return ctl_cmd_handshake(argc - 1, argv + 1);
  }
  if (strcmp(cmd, "provider") == 0) {
    return ctl_cmd_provider(argc - 1, argv + 1);
  }
  if (strcmp(cmd, "middle") == 0) {
    return ctl_cmd_middle(argc - 1, argv + 1);
  }
  if (strcmp(cmd, "load") == 0) {
    return ctl_cmd_load(argc - 1, argv + 1);
  }
  if (strcmp(cmd, "status") == 0 || strcmp(cmd, "plugins") == 0 ||
      strcmp(cmd, "registry") == 0 || strcmp(cmd, "watch") == 0 ||
      strcmp(cmd, "limits") == 0) {
    return ctl_cmd_admin(argc - 1, argv + 1);
  }
  fprintf(stderr, "cpluginctl: unknown command \"%s\"\n%s", cmd,
          ctl_usage(NULL));
  return CTL_EXIT_USAGE;
}
