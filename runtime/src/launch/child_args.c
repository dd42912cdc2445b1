/* A child's argv and its allow-listed environment. */
#include "launch/child_args.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"

static size_t count(const char *const *v) {
  size_t n = 0;
  while (v != NULL && v[n] != NULL) {
    n++;
  }
  return n;
}

static void free_vector(char **v) {
  for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
    free(v[i]);
  }
  free(v);
}

/* Length of the name of "NAME=VALUE" (the bytes before the first '='). */
static size_t name_len(const char *entry) {
  return strcspn(entry, "=");
}

static bool same_name(const char *entry, const char *name, size_t len) {
  return name_len(entry) == len && memcmp(entry, name, len) == 0;
}

static int invalid(char *err, size_t errlen, const char *what,
                   const char *value) {
  if (err != NULL && errlen > 0) {
    snprintf(err, errlen, "%s: \"%.64s\"", what, value);
  }
  return CP_EINVAL;
}

/* Checks env_set: every entry NAME=VALUE with a non-empty NAME, no NAME
 * twice. */
static int check_env_set(const char *const *set, char *err, size_t errlen) {
  for (size_t i = 0; set != NULL && set[i] != NULL; i++) {
    size_t len = name_len(set[i]);
    if (len == 0 || set[i][len] != '=') {
      return invalid(err, errlen, "env_set entry is not NAME=VALUE", set[i]);
    }
    for (size_t j = 0; j < i; j++) {
      if (same_name(set[j], set[i], len)) {
        return invalid(err, errlen, "env_set names a variable twice", set[i]);
      }
    }
  }
  return 0;
}

static int check_env_allow(const char *const *allow, char *err, size_t errlen) {
  for (size_t i = 0; allow != NULL && allow[i] != NULL; i++) {
    if (allow[i][0] == '\0' || strchr(allow[i], '=') != NULL) {
      return invalid(err, errlen, "env_allow entry is not a variable name",
                     allow[i]);
    }
  }
  return 0;
}

/* Whether the environment being built already has variable `name`. */
static bool has_name(char **envp, size_t n, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < n; i++) {
    if (same_name(envp[i], name, len)) {
      return true;
    }
  }
  return false;
}

static char *join_variable(const char *name, const char *value) {
  size_t size = strlen(name) + strlen(value) + 2;
  char *s = malloc(size);
  if (s != NULL) {
    snprintf(s, size, "%s=%s", name, value);
  }
  return s;
}

static int build_env(const proc_options *opts, char ***out) {
  size_t cap = count(opts->env_set) + count(opts->env_allow) + 1;
  char **envp = calloc(cap, sizeof *envp);
  if (envp == NULL) {
    return CP_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; opts->env_set != NULL && opts->env_set[i] != NULL; i++) {
    envp[n] = strdup(opts->env_set[i]);
    if (envp[n++] == NULL) {
      free_vector(envp);
      return CP_ENOMEM;
    }
  }
  for (size_t i = 0; opts->env_allow != NULL && opts->env_allow[i] != NULL;
       i++) {
    const char *name = opts->env_allow[i];
    /* getenv: the host is expected not to change its environment while it
     * starts plugins (setenv is not thread-safe against any reader). */
    const char *value = getenv(name);
    if (value == NULL || has_name(envp, n, name)) {
      continue; /* unset in the host, or set explicitly (which wins) */
    }
    envp[n] = join_variable(name, value);
    if (envp[n++] == NULL) {
      free_vector(envp);
      return CP_ENOMEM;
    }
  }
  *out = envp;
  return 0;
}

static int build_argv(const proc_options *opts, char ***out) {
  size_t n = count(opts->argv);
  const char *const default_argv[] = {opts->path, NULL};
  const char *const *src = n > 0 ? opts->argv : default_argv;
  if (n == 0) {
    n = 1;
  }
  char **argv = calloc(n + 1, sizeof *argv);
  if (argv == NULL) {
    return CP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    argv[i] = strdup(src[i]);
    if (argv[i] == NULL) {
      free_vector(argv);
      return CP_ENOMEM;
    }
  }
  *out = argv;
  return 0;
}

int cpi_proc_child_args_build(const proc_options *opts, proc_child_args *out,
                              char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  int rc = check_env_set(opts->env_set, err, errlen);
  if (rc == 0) {
    rc = check_env_allow(opts->env_allow, err, errlen);
  }
  if (rc != 0) {
    return rc;
  }
  out->path = strdup(opts->path);
  if (out->path == NULL || build_argv(opts, &out->argv) != 0 ||
      build_env(opts, &out->envp) != 0) {
    cpi_proc_child_args_free(out);
    if (err != NULL && errlen > 0) {
      snprintf(err, errlen, "out of memory");
    }
    return CP_ENOMEM;
  }
  return 0;
}

void cpi_proc_child_args_free(proc_child_args *a) {
  free(a->path);
  free_vector(a->argv);
  free_vector(a->envp);
  memset(a, 0, sizeof *a);
}
