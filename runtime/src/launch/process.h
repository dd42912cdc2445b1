/* Starting a plugin executable and supervising its life as an OS process
 * (internal). No gRPC: the launcher builds on this to start, restart and
 * stop plugins; this layer knows processes, pipes and one handshake line.
 *
 * What the child gets, and nothing else:
 *   - argv as given (argv[0] defaults to path); path is used as given (no
 *     PATH search; a relative path is relative to the host's cwd).
 *   - An environment made only of the host's variables named in env_allow
 *     (those that are set) and the NAME=VALUE pairs of env_set (which win
 *     over an allowed variable of the same name).
 *   - stdin on /dev/null, stdout and stderr on pipes read by the host; no
 *     other file descriptor (everything at or above 3 is closed at exec).
 *   - Its own process group (the child's pid is its group id), so signals
 *     reach whatever the plugin starts in its group.
 *   - PR_SET_PDEATHSIG(SIGKILL): the child dies when the host dies, even by
 *     SIGKILL. The fork happens on the process's own I/O thread, which lives
 *     until the child is reaped, because the kernel sends the signal when the
 *     forking *thread* ends, not the process.
 *   - Default signal dispositions and an empty signal mask.
 *
 * Output. A per-process I/O thread reads both pipes and logs each line
 * through cp_log at CP_LOG_INFO, message "plugin output", with the fields
 * plugin=<name>, stream=stdout|stderr, line=<text>. A line longer than
 * PROC_LINE_MAX_BYTES is logged in pieces of at most that many bytes
 * (nothing is dropped); every piece but the last carries partial=true. The
 * text is made loggable first: a byte that is not part of well-formed UTF-8
 * becomes U+FFFD, control bytes other than tab become '?', and a '\r' before
 * the newline is dropped. Memory per process is fixed (one line buffer per
 * stream) however much the child writes, and the pipes are always read, so a
 * flood never blocks the child.
 *
 * Readiness: the handshake line. A plugin announces that it serves by
 * writing one line on stdout:
 *
 *     cplugin|1|<network>|<address>\n
 *
 * "cplugin" and "1" (the version of this format) are literal; <network> is
 * "unix" or "tcp"; <address> is an absolute socket path of at most 107 bytes
 * for unix, or "host:port" (port 1..65535) for tcp, e.g.
 * "cplugin|1|unix|/run/cplugin/kv.sock" or "cplugin|1|tcp|127.0.0.1:43121".
 * The line has exactly four fields, no spaces or control bytes, and at most
 * PROC_ADDRESS_MAX bytes of address. Lines before it are ordinary output and
 * logged; the handshake line itself is consumed, not logged; any later
 * "cplugin|" line is ordinary output. A stdout line that starts with
 * "cplugin|" before readiness but is not a valid handshake line fails the
 * start. stderr is never read for the handshake.
 *
 * A start fails, and the process group is killed (SIGKILL) and the child
 * reaped, when no handshake line arrives within ready_timeout_ms of
 * cpi_proc_spawn, when the handshake line is malformed, or when the child exits
 * before sending it. The I/O thread enforces this whether or not anyone is
 * in cpi_proc_wait_ready.
 *
 * Exit. When the child exits (by itself, a signal, a crash) the I/O thread
 * kills (SIGKILL) whatever is left in its process group, reaps it, logs the
 * output still in the pipes and calls on_exit once. No zombie is left: every
 * child that cpi_proc_spawn started is reaped by its I/O thread.
 *
 * The host must leave its children to this module: SIGCHLD not set to
 * SIG_IGN (nor SA_NOCLDWAIT) and no waitpid(-1) elsewhere, or exit statuses
 * are lost (on_exit then gets -1 and 0) and a pid could be reused while it
 * is still signalled.
 *
 * Thread safety: cpi_proc_wait_ready, cpi_proc_stop, cpi_proc_kill and cpi_proc_pid may be
 * called from any thread, concurrently, also from on_exit (cpi_proc_stop and
 * cpi_proc_kill then do nothing: the child is gone). cpi_proc_destroy is called once,
 * when no other call on the same proc is running, and never from on_exit. */
#ifndef CPLUGIN_LAUNCH_PROCESS_H
#define CPLUGIN_LAUNCH_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

enum {
  /* Longest piece of an output line in one log record. With at most three
   * bytes per input byte after sanitising and JSON escaping, a piece and its
   * fields fit in one cp_log record (4 KiB, log.h). */
  PROC_LINE_MAX_BYTES = 1024,
  /* Longest address in a handshake line. */
  PROC_ADDRESS_MAX = 255,
  /* Longest plugin name (used in log fields and error messages). */
  PROC_NAME_MAX = 64,
  PROC_READY_TIMEOUT_DEFAULT_MS = 10000
};

typedef struct proc proc;

typedef enum proc_network {
  PROC_NETWORK_UNIX = 1,
  PROC_NETWORK_TCP = 2
} proc_network;

/* Where a ready plugin serves, from its handshake line. */
typedef struct proc_endpoint {
  proc_network network;
  char address[PROC_ADDRESS_MAX + 1];
} proc_endpoint;

/* Called once per started child, on its I/O thread, after the child was
 * reaped and its remaining output logged: exit_code is its exit status
 * (term_signal 0) when it exited, or -1 with the signal that ended it. The callback may call cpi_proc_pid, cpi_proc_kill,
 * cpi_proc_stop and cpi_proc_wait_ready, not cpi_proc_destroy. */
typedef void (*proc_exit_fn)(proc *p, int exit_code, int term_signal,
                             void *user);

typedef struct proc_options {
  /* Required: 1..PROC_NAME_MAX bytes matching [A-Za-z][A-Za-z0-9_.-]*. */
  const char *name;
  /* Required: the executable. */
  const char *path;
  /* NULL-terminated; NULL (or an empty vector) means { path, NULL }. */
  const char *const *argv;
  /* NULL-terminated names of host variables passed through; may be NULL. */
  const char *const *env_allow;
  /* NULL-terminated "NAME=VALUE" strings; may be NULL. A name may appear
   * only once; NAME is non-empty. */
  const char *const *env_set;
  /* > 0; from cpi_proc_spawn to the handshake line. */
  int ready_timeout_ms;
  proc_exit_fn on_exit; /* may be NULL */
  void *user;           /* passed to on_exit */
} proc_options;

/* Fills the defaults: ready_timeout_ms PROC_READY_TIMEOUT_DEFAULT_MS,
 * everything else NULL. */
void cpi_proc_options_init(proc_options *o);

/* Starts the child and returns once it has exec'd (or failed to). Everything
 * in opts is copied. Returns 0 and sets *out (free it with cpi_proc_destroy), or:
 *   CP_EINVAL    bad options;
 *   CP_ENOTFOUND the executable does not exist (ENOENT, ENOTDIR);
 *   CP_EDENIED   it may not be executed (EACCES, EPERM);
 *   CP_ENOMEM    out of memory;
 *   CP_ESYS      any other failure (a pipe, fork, exec, the child's setup).
 * On an error nothing is left running, on_exit never runs, and a message
 * such as "plugin kv: /x/y: No such file or directory" is written to err
 * (errlen bytes, NUL-terminated; err may be NULL). */
int cpi_proc_spawn(const proc_options *opts, proc **out, char *err,
                   size_t errlen);

/* Waits until the child has sent its handshake line or the start failed.
 * Returns 0 and fills *endpoint (may be NULL), or, with a message in err:
 *   CP_ETIMEDOUT no handshake line within ready_timeout_ms;
 *   CP_EDECODE   a malformed handshake line;
 *   CP_ECLOSED   the child exited before sending it;
 *   CP_ECANCELLED cpi_proc_stop or cpi_proc_destroy came first.
 * On an error the child has been reaped before this returns. Once the line
 * arrived this keeps returning 0, also after the child exited. */
int cpi_proc_wait_ready(proc *p, proc_endpoint *endpoint, char *err,
                        size_t errlen);

/* SIGTERM to the process group, up to grace_ms (>= 0) for the child to exit,
 * then SIGKILL (logged as a warning). Returns 0 once the child was reaped and
 * on_exit has returned (from on_exit itself: at once), also when the child
 * had already exited; CP_EINVAL for a NULL p or a negative grace_ms. */
int cpi_proc_stop(proc *p, int grace_ms);

/* Sends sig to the process group. Returns 0, CP_EINVAL for a bad signal, or
 * CP_ECLOSED when the child has been reaped. */
int cpi_proc_kill(proc *p, int sig);

/* The child's pid, which is also its process group id. Once on_exit has run
 * the number may belong to another process. */
pid_t cpi_proc_pid(const proc *p);

/* Kills the child (SIGKILL to its group) if it still runs - call cpi_proc_stop
 * first for a graceful stop -, waits for on_exit to return, joins the I/O
 * thread and frees p. NULL is allowed. */
void cpi_proc_destroy(proc *p);

/* Tests only: when set, new processes detect their child's exit by polling
 * waitid instead of a pidfd, the fallback for kernels without pidfd_open. */
void cpi_proc_testing_disable_pidfd(int disable);

#endif /* CPLUGIN_LAUNCH_PROCESS_H */
