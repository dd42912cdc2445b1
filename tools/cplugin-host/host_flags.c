/* cplugin-host's command line. */
#include "host_flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: %s [--listen ADDRESS] [--tls-cert FILE --tls-key FILE\n"
    "          [--tls-client-ca FILE [--tls-require-client-cert]]]\n"
    "          [--metrics ADDRESS] [--metrics-port PORT] [--no-metrics]\n"
    "          [--token-ttl-ms MS] [--no-rate-limits] [--manifest FILE]\n"
    "          [--admin-key KEY] [--redis ADDRESS] [--redis-outage "
    "local|deny]\n"
    "          [--etcd ENDPOINTS] [--etcd-prefix PREFIX] [--etcd-ca FILE]\n"
    "          [--etcd-cert FILE --etcd-key FILE]\n";

static bool parse_long(const char *s, long long min, long long max,
                       long long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

static bool parse_outage(const char *s, cp_rate_outage *out) {
  if (strcmp(s, "local") == 0) {
    *out = CP_RATE_OUTAGE_LOCAL;
  } else if (strcmp(s, "deny") == 0) {
    *out = CP_RATE_OUTAGE_DENY;
  } else {
    return false;
  }
  return true;
}

static void defaults(host_config *c) {
  memset(c, 0, sizeof *c);
  c->listen = "127.0.0.1:0";
  c->metrics_address = "127.0.0.1";
  c->rate_limits = true;
  c->admin_key = getenv("CPLUGIN_ADMIN_KEY");
  cp_rate_redis_options_init(&c->redis);
  c->redis.username = getenv("CPLUGIN_REDIS_USERNAME");
  c->redis.password = getenv("CPLUGIN_REDIS_PASSWORD");
  cp_etcd_options_init(&c->etcd);
  cp_tls_client_options_init(&c->etcd_tls);
  c->replica_secret = getenv("CPLUGIN_REPLICA_SECRET");
}

/* A flag without a value; false when `arg` is none of them. */
static bool switch_flag(host_config *c, const char *arg) {
  if (strcmp(arg, "--no-metrics") == 0) {
    c->metrics_address = NULL;
  } else if (strcmp(arg, "--no-rate-limits") == 0) {
    c->rate_limits = false;
  } else if (strcmp(arg, "--tls-require-client-cert") == 0) {
    c->tls_options.require_client_cert = true;
  } else {
    return false;
  }
  return true;
}

/* A flag with a value; returns NULL when taken, else why not. */
static const char *value_flag(host_config *c, const char *arg, const char *v) {
  long long n = 0;
  if (strcmp(arg, "--listen") == 0) {
    c->listen = v;
  } else if (strcmp(arg, "--tls-cert") == 0) {
    c->tls_options.cert_chain.path = v;
  } else if (strcmp(arg, "--tls-key") == 0) {
    c->tls_options.private_key.path = v;
  } else if (strcmp(arg, "--tls-client-ca") == 0) {
    c->tls_options.client_ca.path = v;
  } else if (strcmp(arg, "--metrics") == 0) {
    c->metrics_address = v;
  } else if (strcmp(arg, "--metrics-port") == 0) {
    if (!parse_long(v, 0, 65535, &n)) {
      return "0..65535";
    }
    c->metrics_port = (int)n;
  } else if (strcmp(arg, "--token-ttl-ms") == 0) {
    if (!parse_long(v, 1, INT64_MAX / 1000000, &n)) {
      return "a positive number of milliseconds";
    }
    c->token_ttl_ms = n;
  } else if (strcmp(arg, "--manifest") == 0) {
    c->manifest = v;
  } else if (strcmp(arg, "--admin-key") == 0) {
    c->admin_key = v;
  } else if (strcmp(arg, "--redis") == 0) {
    c->redis.address = v;
    c->use_redis = true;
  } else if (strcmp(arg, "--redis-outage") == 0) {
    if (!parse_outage(v, &c->redis.outage)) {
      return "local or deny";
    }
  } else if (strcmp(arg, "--etcd") == 0) {
    c->etcd.endpoints = v;
  } else if (strcmp(arg, "--etcd-prefix") == 0) {
    c->etcd.prefix = v;
  } else if (strcmp(arg, "--etcd-ca") == 0) {
    c->etcd_tls.root_ca.path = v;
    c->etcd.tls = &c->etcd_tls;
  } else if (strcmp(arg, "--etcd-cert") == 0) {
    c->etcd_tls.cert_chain.path = v;
    c->etcd.tls = &c->etcd_tls;
  } else if (strcmp(arg, "--etcd-key") == 0) {
    c->etcd_tls.private_key.path = v;
    c->etcd.tls = &c->etcd_tls;
  } else {
    return "unknown option";
  }
  return NULL;
}

/* What the flags cannot mean together; NULL when consistent. */
static const char *check(host_config *c) {
  cp_tls_server_options *t = &c->tls_options;
  c->tls = t->cert_chain.path != NULL || t->private_key.path != NULL ||
           t->client_ca.path != NULL || t->require_client_cert;
  if (c->tls && (t->cert_chain.path == NULL || t->private_key.path == NULL)) {
    return "TLS needs both --tls-cert and --tls-key";
  }
  if (t->require_client_cert && t->client_ca.path == NULL) {
    return "--tls-require-client-cert needs --tls-client-ca";
  }
  /* A CA without the requirement: certificates are asked for and checked
   * when presented, and the mTLS provider authenticates them. */
  t->request_client_cert = t->client_ca.path != NULL && !t->require_client_cert;
  if (c->etcd.endpoints != NULL &&
      (c->replica_secret == NULL ||
       strlen(c->replica_secret) < CP_REPLICA_SECRET_MIN)) {
    return "--etcd needs the replicas' shared secret in "
           "CPLUGIN_REPLICA_SECRET (at least 16 bytes)";
  }
  return NULL;
}

int host_flags_parse(host_config *c, const char *prog, int argc, char **argv) {
  defaults(c);
  const char *why = NULL;
  const char *bad = NULL;
  for (int i = 1; i < argc && why == NULL; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      printf(USAGE, prog);
      return 1;
    }
    if (switch_flag(c, arg)) {
      continue;
    }
    bad = arg;
    if (i + 1 >= argc) {
      why = strncmp(arg, "--", 2) == 0 ? "needs a value" : "unknown option";
    } else {
      why = value_flag(c, arg, argv[++i]);
    }
  }
  if (why == NULL) {
    bad = NULL;
    why = check(c);
  }
  if (why != NULL) {
    fprintf(stderr, "%s: %s%s%s\n", prog, bad != NULL ? bad : "",
            bad != NULL ? ": " : "", why);
    fprintf(stderr, USAGE, prog);
    return 2;
  }
  return 0;
}
