/* cpluginctl — the TLS set-up of a load run (the burst-tls preset): a
 * self-signed P-256 certificate for 127.0.0.1, made by the openssl CLI
 * (Debian's openssl, installed by tools/install-deps.sh) in a private
 * temporary directory, used by the started host as its certificate and by
 * the simulated plugins as their only root.
 *
 * Thread safety: one thread, before the run's threads start (it forks). */
#ifndef CPLUGINCTL_TLS_SETUP_H
#define CPLUGINCTL_TLS_SETUP_H

#include <stddef.h>

typedef struct ctl_tls_files {
  char dir[64];  /* "" until made */
  char cert[96]; /* dir/cert.pem: the host's chain and the clients' root */
  char key[96];  /* dir/key.pem */
} ctl_tls_files;

/* Makes the directory and both files. Returns 0, or -1 with a reason (and
 * openssl's own message) in `err`; nothing is left behind then. */
int ctl_tls_make(ctl_tls_files *f, char *err, size_t err_len);

/* Removes what ctl_tls_make made. Safe on a zeroed or failed one. */
void ctl_tls_remove(ctl_tls_files *f);

#endif /* CPLUGINCTL_TLS_SETUP_H */
