/* cpluginctl — the subcommands. Each takes argv from its own name on and
 * returns the process exit status (CTL_EXIT_*, cli.h). SIGINT and SIGTERM
 * are blocked in every thread before any of them runs (main.c), so each one
 * waits for them with sigwait where it wants to. */
#ifndef CPLUGINCTL_COMMANDS_H
#define CPLUGINCTL_COMMANDS_H

int ctl_cmd_serve(int argc, char **argv);
int ctl_cmd_handshake(int argc, char **argv);
int ctl_cmd_provider(int argc, char **argv);
int ctl_cmd_middle(int argc, char **argv);
int ctl_cmd_load(int argc, char **argv);
/* status, plugins, registry, watch (admin_cli.h): argv[0] is the command. */
int ctl_cmd_admin(int argc, char **argv);

/* Prints the usage error (`err`, then the subcommand's usage) on stderr and
 * returns CTL_EXIT_USAGE; or, for parse result CTL_PARSE_HELP, the usage on
 * stdout and CTL_EXIT_OK. */
int ctl_usage_exit(const char *subcommand, int parse_result, const char *err);

#endif /* CPLUGINCTL_COMMANDS_H */
