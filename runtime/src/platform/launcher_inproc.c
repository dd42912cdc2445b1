/* In-process plugins: a plugin compiled into the host, started by the
 * launcher without a process. Its services run on a server of its own
 * that has no listener; everyone reaches it over socketpairs
 * (cp_connection_pair): the router through the connector installed here,
 * dispense through the launcher. Its runtime joins the host over
 * socketpairs to the host's server too, so registration, health and
 * routed calls pass the host's real authentication, registry and router.
 * The host trusts its own code: the launcher issues the identity directly,
 * without the Model A exchange a process gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "cplugin/router.h"
#include "platform/launcher_internal.h"

#define INPROC_PREFIX "inproc:"
/* The runtime's connections to the host: socketpairs to its server, made
 * again when the host closes one (its idle or age limit), for as long as
 * the host lives (it outlives the launcher and so the runtime). */
static int dial_host(int *fd, void *user) {
  cp_launcher *l = user;
  return cp_server_socketpair(cp_host_server(l->host), fd);
}

static int connect_host(cp_client **out, void *user) {
  return cp_client_create_dialing(out, dial_host, user, NULL);
}

/* The plugin's server, published in in->server (l->mu: the connectors
 * read it) only once it runs. */
static int make_server(linstance *in, char *err, size_t errlen) {
  const lplugin *p = in->p;
  cp_server_options so;
  cp_server_options_init(&so);
  so.allow_no_listener = true;
  /* The host's threads read its connections: a thread of its own waiting
   * on the network would cost every call of the host a hand-off. */
  so.non_polling = true;
  /* Its clients cannot reconnect: no limit may close their connections. */
  so.max_connection_idle_ms = 0;
  so.max_connection_age_ms = 0;
  cp_server *server = NULL;
  int rc = cp_server_create(&server, &so);
  if (rc != 0) {
    snprintf(err, errlen, "plugin %s: cannot create its server: %s", p->m->name,
             cp_strerror(rc));
    return rc;
  }
  rc = in->def->register_services(server, in->def->user);
  if (rc != 0) {
    snprintf(err, errlen, "plugin %s: register_services failed: %s", p->m->name,
             cp_strerror(rc));
    rc = rc < 0 ? rc : CP_EINVAL;
  } else {
    rc = cp_server_start(server);
    if (rc != 0) {
      snprintf(err, errlen, "plugin %s: cannot start its server: %s",
               p->m->name, cp_strerror(rc));
    }
  }
  if (rc != 0) {
    cp_server_destroy(server);
    return rc;
  }
  pthread_mutex_lock(&p->l->mu);
  in->server = server;
  pthread_mutex_unlock(&p->l->mu);
  return 0;
}

/* "inproc:<name>" for the first instance; a replacement, which serves
 * beside it for a while, is "inproc:<name>/<generation>": the router keeps
 * a connection per address, and the two are different servers. */
static void address_of(const linstance *in, char *out, size_t cap) {
  if (in->generation == 0) {
    snprintf(out, cap, "%s%s", INPROC_PREFIX, in->p->m->name);
  } else {
    snprintf(out, cap, "%s%s/%u", INPROC_PREFIX, in->p->m->name,
             in->generation);
  }
}

/* The runtime with the launcher's identity; provides and requires are the
 * manifest entry's (a provided service without "path" routes every method
 * of the plugin's server: "/"). */
static int start_runtime(linstance *in, const char *id, const char *token,
                         char *err, size_t errlen) {
  cp_launcher *l = in->p->l;
  const manifest_plugin *m = in->p->m;
  cp_service_decl provides[MANIFEST_MAX_SERVICES];
  for (size_t i = 0; i < m->provides_count; i++) {
    provides[i] = m->provides[i];
    if (provides[i].path == NULL) {
      provides[i].path = "/";
    }
  }
  char base_url[LAUNCHER_TARGET_MAX];
  address_of(in, base_url, sizeof base_url);
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.self_id = m->name;
  o.self_version =
      in->def->self_version != NULL ? in->def->self_version : "0.0.0";
  o.base_url = base_url;
  o.provides = provides;
  o.provides_count = m->provides_count;
  o.requires = m->requires;
  o.requires_count = m->requires_count;
  o.host_connect = connect_host;
  o.host_connect_user = l;
  o.runtime_id = id;
  o.runtime_token = token;
  o.runtime_token_ttl_ms = cp_token_store_ttl_ms(l->tokens);
  cp_status st;
  int rc = cp_plugin_runtime_start(&in->rt, &o, &st);
  if (rc != 0) {
    in->rt = NULL;
    snprintf(err, errlen, "plugin %s: its runtime did not join: %s: %s",
             m->name, cp_status_code_name(st.code), st.message);
  }
  return rc;
}

/* Undoes a start: runtime, server, identity. */
static void tear_down(linstance *in, const char *id) {
  cp_launcher *l = in->p->l;
  cp_plugin_runtime_destroy(in->rt);
  in->rt = NULL;
  if (in->server != NULL) {
    (void)cp_server_shutdown(in->server, l->stop_grace_ms);
  }
  if (id[0] != '\0') {
    (void)cp_token_store_revoke(l->tokens, id);
  }
}

int cpi_linproc_start(linstance *in, char *err, size_t errlen) {
  lplugin *p = in->p;
  cp_launcher *l = p->l;
  pthread_mutex_lock(&l->mu);
  in->launched = true;
  pthread_mutex_unlock(&l->mu);
  cpi_lplugin_show(in, CP_PLUGIN_STARTING, "starting in process");
  char id[CP_RUNTIME_ID_MAX + 1] = "";
  char token[CP_TOKEN_LEN + 1];
  int rc = make_server(in, err, errlen);
  if (rc == 0) {
    rc = cp_token_store_issue_for(l->tokens, p->m->name, in->principal, id,
                                  sizeof id, token);
    if (rc != 0) {
      id[0] = '\0';
      snprintf(err, errlen, "plugin %s: cannot issue an identity: %s",
               p->m->name, cp_strerror(rc));
    }
  }
  if (rc == 0) {
    rc = start_runtime(in, id, token, err, errlen);
  }
  memset(token, 0, sizeof token);
  if (rc == 0) {
    /* As for a process: registered and HEALTHY (DEGRADED is not enough);
     * there is no process to watch. */
    lpoll wait;
    cpi_lpoll_init(&wait, l, NULL, l->identity_timeout_ms);
    char why[LAUNCHER_REASON_MAX + 1] = "";
    rc = cpi_lwait_ready(&wait, p, id, why, sizeof why);
    if (rc != 0) {
      snprintf(err, errlen, "plugin %s: %s", p->m->name, why);
    }
  }
  if (rc != 0) {
    tear_down(in, id);
    return rc;
  }
  pthread_mutex_lock(&l->mu);
  snprintf(in->runtime_id, sizeof in->runtime_id, "%s", id);
  address_of(in, in->target, sizeof in->target);
  pthread_mutex_unlock(&l->mu);
  cpi_lplugin_show(in, CP_PLUGIN_RUNNING, "running");
  cp_log(CP_LOG_INFO, "plugin running", "plugin", p->m->name, "runtime_id", id,
         "endpoint", in->target, "pid", "0", CP_LOG_END);
  if (in->def->on_started != NULL) {
    in->def->on_started(in->rt, in->def->user);
  }
  return 0;
}

void cpi_linproc_stop(linstance *in) {
  cp_launcher *l = in->p->l;
  char id[CP_RUNTIME_ID_MAX + 1];
  pthread_mutex_lock(&l->mu);
  bool launched = in->launched;
  snprintf(id, sizeof id, "%s", in->runtime_id);
  in->runtime_id[0] = '\0';
  pthread_mutex_unlock(&l->mu);
  /* Never started, failed (its start tore it down) or stopped already:
   * nothing runs, and its state (FAILED, "removed") stays. */
  if (!launched || id[0] == '\0') {
    return;
  }
  /* No new calls are routed to it; those under way get the grace. */
  (void)cp_registry_drain_runtime(l->reg, id);
  tear_down(in, id);
  cpi_lplugin_show(in, CP_PLUGIN_STOPPED, "stopped");
}

void cpi_linproc_free(linstance *in) {
  cp_plugin_runtime_destroy(in->rt);
  in->rt = NULL;
  pthread_mutex_lock(&in->p->l->mu);
  cp_server *server = in->server;
  in->server = NULL;
  pthread_mutex_unlock(&in->p->l->mu);
  /* Shut down already, unless a failed create never started the plugins. */
  cp_server_destroy(server);
}

int cpi_linproc_connect_locked(linstance *in, cp_client **out) {
  /* From the moment its server runs (its runtime registers the services
   * before the launcher sees it HEALTHY); once the server shut down,
   * CP_ESTATE. */
  if (in == NULL || in->server == NULL) {
    return CP_ENOTFOUND;
  }
  return cp_connection_pair(in->server, out, NULL);
}

/* The instance an "inproc:" address names (address_of; l->mu held): the
 * plugin's current instance or the replacement starting beside it. */
static linstance *instance_at_locked(cp_launcher *l, const char *address) {
  const char *name = address + strlen(INPROC_PREFIX);
  const char *slash = strchr(name, '/');
  size_t name_len = slash != NULL ? (size_t)(slash - name) : strlen(name);
  unsigned long generation = 0;
  if (slash != NULL) {
    char *end = NULL;
    generation = strtoul(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || generation == 0) {
      return NULL;
    }
  }
  for (size_t i = 0; i < l->count; i++) {
    lplugin *p = &l->plugins[i];
    if (p->def == NULL || strlen(p->m->name) != name_len ||
        strncmp(p->m->name, name, name_len) != 0) {
      continue;
    }
    linstance *both[2] = {p->cur, p->next};
    for (size_t k = 0; k < 2; k++) {
      if (both[k] != NULL && both[k]->generation == generation) {
        return both[k];
      }
    }
  }
  return NULL;
}

/* The router's connector: "inproc:<name>[/<generation>]", while that
 * instance of the launcher's plugin <name> serves. */
static int connect_plugin(const char *address, cp_client **out, void *user) {
  cp_launcher *l = user;
  pthread_mutex_lock(&l->mu);
  int rc = cpi_linproc_connect_locked(instance_at_locked(l, address), out);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int cpi_linproc_install_connector(cp_launcher *l, bool needed) {
  for (size_t i = 0; i < l->count && !needed; i++) {
    needed = l->plugins[i].def != NULL;
  }
  cp_router *r = cp_host_router(l->host);
  if (!needed || l->connector_installed || r == NULL) {
    return 0;
  }
  int rc = cp_router_set_connector(r, connect_plugin, l);
  l->connector_installed = rc == 0;
  return rc;
}

void cpi_linproc_remove_connector(cp_launcher *l) {
  if (l->connector_installed) {
    (void)cp_router_set_connector(cp_host_router(l->host), NULL, NULL);
    l->connector_installed = false;
  }
}
