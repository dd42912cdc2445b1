/* The argument vector and environment a child is started with (internal),
 * built in the parent before the fork: after fork, in a process with other
 * threads, the child may not allocate. */
#ifndef CPLUGIN_LAUNCH_CHILD_ARGS_H
#define CPLUGIN_LAUNCH_CHILD_ARGS_H

#include <stddef.h>

#include "launch/process.h"

typedef struct proc_child_args {
  char *path;
  char **argv; /* NULL-terminated */
  char **envp; /* NULL-terminated "NAME=VALUE" */
} proc_child_args;

/* Copies opts->path and opts->argv (or { path }), and builds the environment
 * from opts->env_allow (read from the host's environment now) and
 * opts->env_set. Returns 0, CP_EINVAL (a malformed or repeated variable, with
 * the reason in err) or CP_ENOMEM. On an error *out holds nothing to free. */
int cpi_proc_child_args_build(const proc_options *opts, proc_child_args *out,
                              char *err, size_t errlen);

/* Frees what cpi_proc_child_args_build made. */
void cpi_proc_child_args_free(proc_child_args *a);

#endif /* CPLUGIN_LAUNCH_CHILD_ARGS_H */
