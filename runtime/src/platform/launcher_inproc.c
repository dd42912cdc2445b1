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
/* The runtime's connections to the host: a socketpair to its server. */
static int connect_host(cp_client **out, void *user) {
  cp_launcher *l = user;
  return cp_connection_pair(cp_host_server(l->host), out, NULL);
}

/* The plugin's server, published in in->server (l->mu: the connectors
 * read it) only once it runs. */
static int make_server(linstance *in, char *err, size_t errlen) {
  const lplugin *p = in->p;
  cp_server_options so;
  cp_server_options_init(&so);
  so.allow_no_listener = true;
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
  rc = p->def->register_services(server, p->def->user);
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
  snprintf(base_url, sizeof base_url, "%s%s", INPROC_PREFIX, m->name);
  cp_plugin_runtime_options o;
  cp_plugin_runtime_options_init(&o);
  o.self_id = m->name;
  o.self_version =
      in->p->def->self_version != NULL ? in->p->def->self_version : "0.0.0";
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
  cp_plugin_runtime_stop(in->rt);
  in->rt = NULL;
  if (in->server != NULL) {
    (void)cp_server_shutdown(in->server, l->stop_grace_ms);
  }
  if (id[0] != '\0') {
    (void)cp_token_store_revoke(l->tokens, id);
  }
}

int linproc_start(linstance *in, char *err, size_t errlen) {
  lplugin *p = in->p;
  cp_launcher *l = p->l;
  pthread_mutex_lock(&l->mu);
  in->launched = true;
  pthread_mutex_unlock(&l->mu);
  lplugin_set(p, CP_PLUGIN_STARTING, "starting in process");
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
    lpoll_init(&wait, l, NULL, l->identity_timeout_ms);
    char why[LAUNCHER_REASON_MAX + 1] = "";
    rc = lwait_healthy(&wait, id, why, sizeof why);
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
  snprintf(in->target, sizeof in->target, "%s%s", INPROC_PREFIX, p->m->name);
  pthread_mutex_unlock(&l->mu);
  lplugin_set(p, CP_PLUGIN_RUNNING, "running");
  cp_log(CP_LOG_INFO, "plugin running", "plugin", p->m->name, "runtime_id", id,
         "endpoint", in->target, "pid", "0", CP_LOG_END);
  if (p->def->on_started != NULL) {
    p->def->on_started(in->rt, p->def->user);
  }
  return 0;
}

void linproc_stop(linstance *in) {
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
  lplugin_set(in->p, CP_PLUGIN_STOPPED, "stopped");
}

void linproc_free(linstance *in) {
  cp_plugin_runtime_stop(in->rt);
  in->rt = NULL;
  pthread_mutex_lock(&in->p->l->mu);
  cp_server *server = in->server;
  in->server = NULL;
  pthread_mutex_unlock(&in->p->l->mu);
  /* Shut down already, unless a failed create never started the plugins. */
  cp_server_destroy(server);
}

int linproc_connect_locked(cp_launcher *l, lplugin *p, cp_client **out) {
  (void)l;
  linstance *in = p != NULL ? p->cur : NULL;
  /* From the moment its server runs (its runtime registers the services
   * before the launcher sees it HEALTHY); once the server shut down,
   * CP_ESTATE. */
  if (in == NULL || in->server == NULL) {
    return CP_ENOTFOUND;
  }
  return cp_connection_pair(in->server, out, NULL);
}

/* The router's connector: "inproc:<name>" is the launcher's plugin <name>
 * (the manifest entry's name), while it runs. */
static int connect_plugin(const char *address, cp_client **out, void *user) {
  cp_launcher *l = user;
  const char *name = address + strlen(INPROC_PREFIX);
  lplugin *p = NULL;
  for (size_t i = 0; i < l->count && p == NULL; i++) {
    if (l->plugins[i].def != NULL && strcmp(l->plugins[i].m->name, name) == 0) {
      p = &l->plugins[i];
    }
  }
  pthread_mutex_lock(&l->mu);
  int rc = linproc_connect_locked(l, p, out);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int linproc_install_connector(cp_launcher *l) {
  bool any = false;
  for (size_t i = 0; i < l->count; i++) {
    any = any || l->plugins[i].def != NULL;
  }
  cp_router *r = cp_host_router(l->host);
  if (!any || r == NULL) {
    return 0;
  }
  int rc = cp_router_set_connector(r, connect_plugin, l);
  l->connector_installed = rc == 0;
  return rc;
}

void linproc_remove_connector(cp_launcher *l) {
  if (l->connector_installed) {
    (void)cp_router_set_connector(cp_host_router(l->host), NULL, NULL);
    l->connector_installed = false;
  }
}
