/* The common life of the URL-shortener plugins: serve on a free loopback
 * port, self-register with the host named by HOST_URL, print the address,
 * run until SIGINT or SIGTERM, then unregister and stop. */
#ifndef CPLUGIN_EXAMPLES_URLSHORTENER_PLUGIN_MAIN_H
#define CPLUGIN_EXAMPLES_URLSHORTENER_PLUGIN_MAIN_H

#include "cplugin/cplugin.h"

typedef struct plugin_spec {
  const char *self_id;
  /* Registers the plugin's handlers on `server`; `user` is spec->user. */
  int (*register_handlers)(cp_server *server, void *user);
  const cp_service_decl *provides;
  size_t provides_count;
  const cp_service_dep *requires;
  size_t requires_count;
  /* Called once the plugin is registered: keep `rt` to route calls. */
  void (*on_started)(cp_plugin_runtime *rt, void *user);
  void *user;
} plugin_spec;

/* Runs the plugin; returns the process exit status. */
int plugin_main(const plugin_spec *spec);

#endif /* CPLUGIN_EXAMPLES_URLSHORTENER_PLUGIN_MAIN_H */
