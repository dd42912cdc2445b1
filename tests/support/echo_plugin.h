// A plugin for the plugin-runtime tests: EchoService on its own loopback
// server, joined to a host through cp_plugin_runtime. Each test adjusts the
// runtime's options (callbacks, heartbeat, backoff) before the start.
#ifndef CPLUGIN_TESTS_SUPPORT_ECHO_PLUGIN_H
#define CPLUGIN_TESTS_SUPPORT_ECHO_PLUGIN_H

#include <functional>
#include <string>

#include "cplugin/cplugin.h"

extern "C" {
#include "echo_service.h"
}

namespace cp_test {

struct EchoPlugin {
  echo_stats *stats = nullptr;
  cp_server *server = nullptr;
  cp_plugin_runtime *rt = nullptr;

  // Serves EchoService on a fresh port and starts a runtime that provides
  // it as `type` `version` under `self_id`, requiring `deps`; `tune` may
  // change the options first. Returns what cp_plugin_runtime_start
  // returned, or -1 when the server did not start.
  int Start(
      const std::string &host, const char *self_id, const char *type,
      const char *version, const cp_service_dep *deps, size_t dep_count,
      const std::function<void(cp_plugin_runtime_options &)> &tune = nullptr) {
    stats = echo_stats_create();
    int port = 0;
    if (cp_server_create(&server, nullptr) != 0 ||
        echo_service_register(server, stats) != 0 ||
        cp_server_listen(server, "127.0.0.1:0", &port) != 0 ||
        cp_server_start(server) != 0) {
      return -1;
    }
    std::string base = "http://127.0.0.1:" + std::to_string(port);
    const cp_service_decl provides[] = {
        {type, version, "/cplugintest.v1.EchoService/"}};
    cp_plugin_runtime_options o;
    cp_plugin_runtime_options_init(&o);
    o.host_url = host.c_str();
    o.self_id = self_id;
    o.base_url = base.c_str();
    o.provides = provides;
    o.provides_count = 1;
    o.requires = deps;
    o.requires_count = dep_count;
    if (tune) {
      tune(o);
    }
    cp_status st;
    return cp_plugin_runtime_start(&rt, &o, &st);
  }

  // Stops serving, as when the plugin's process dies; the runtime stays.
  void StopServer(int grace_ms = 500) {
    if (server != nullptr) {
      cp_server_shutdown(server, grace_ms);
      cp_server_destroy(server);
      server = nullptr;
    }
  }

  void Stop() {
    cp_plugin_runtime_destroy(rt);
    rt = nullptr;
    StopServer();
    echo_stats_destroy(stats);
    stats = nullptr;
  }
};

}  // namespace cp_test

#endif  // CPLUGIN_TESTS_SUPPORT_ECHO_PLUGIN_H
