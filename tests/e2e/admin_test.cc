// End to end: the admin service (cplugin/admin.h) on a real cp_host whose
// cp_launcher runs the URL shortener's three plugins. Status, the plugin
// changes, ListRegistry and Watch over gRPC; who may call (an admin key
// yes; no key, a wrong key, another principal and a runtime token no).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/admin/v1/admin.cplugin.h"
#include "cplugin/cplugin.h"
#include "process.h"
}
#include "wait.h"

#ifndef LOGGER_PLUGIN_PATH
#define LOGGER_PLUGIN_PATH "examples/urlshortener/logger-plugin"
#define STORAGE_PLUGIN_PATH "examples/urlshortener/storage-plugin"
#define API_PLUGIN_PATH "examples/urlshortener/api-plugin"
#endif

namespace {

const char kAdminKey[] = "admin-key-0123456789abcdef";
const char kOtherKey[] = "other-key-0123456789abcdef";

std::string Absolute(const char *env, const char *fallback) {
  char *p = realpath(test_program_path(env, fallback), nullptr);
  std::string s = p != nullptr ? p : fallback;
  free(p);
  return s;
}

std::string Entry(const std::string &name, const std::string &path,
                  const std::string &requires) {
  std::string e = "{\"name\": \"" + name + "\", \"path\": \"" + path + "\"";
  e += ", \"provides\": [{\"type\": \"" + name + "\", \"version\": \"1.0.0\"}]";
  if (!requires.empty()) {
    e += ", \"requires\": [{\"type\": \"" + requires +
         "\", \"required_for_startup\": true, \"watch_for_changes\": true}]";
  }
  return e + "}";
}

std::string Logger() {
  return Absolute("CPLUGIN_LOGGER_PLUGIN", LOGGER_PLUGIN_PATH);
}

using StatusResp = Cplugin__Admin__V1__StatusResponse;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cplugin-admin-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    o.registry.base_url_allow |= CP_BASE_URL_UNIX;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    cp_auth *auth = cp_host_auth(host_);
    ASSERT_EQ(0, cp_auth_add_api_key(auth, kAdminKey, "ops"));
    ASSERT_EQ(0, cp_auth_add_api_key(auth, kOtherKey, "someone"));
    const char *admins[] = {"api-key:ops"};
    cp_admin_options ao;
    cp_admin_options_init(&ao);
    ao.registry = cp_host_registry(host_);
    ao.principals = admins;
    ao.principal_count = 1;
    ASSERT_EQ(0, cp_admin_create(&admin_, &ao));
    ASSERT_EQ(0, cp_admin_register(admin_, cp_host_server(host_)));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);

    manifest_ = dir_ + "/manifest.json";
    std::ofstream(manifest_)
        << "{\"version\": 1, \"plugins\": [" << Entry("logger", Logger(), "")
        << ", "
        << Entry("storage",
                 Absolute("CPLUGIN_STORAGE_PLUGIN", STORAGE_PLUGIN_PATH),
                 "logger")
        << ", "
        << Entry("api", Absolute("CPLUGIN_API_PLUGIN", API_PLUGIN_PATH),
                 "storage")
        << "]}";
    cp_launcher_options lo;
    cp_launcher_options_init(&lo);
    lo.manifest_path = manifest_.c_str();
    lo.host_url = host_url_.c_str();
    lo.identity_timeout_ms = test_wait_ms();
    char err[2048] = "";
    ASSERT_EQ(0, cp_launcher_create(&launcher_, host_, &lo, err, sizeof err))
        << err;
    ASSERT_EQ(0, cp_launcher_start(launcher_, err, sizeof err)) << err;
    cp_admin_set_launcher(admin_, launcher_);
    ASSERT_EQ(0, cp_client_create(&client_, host_url_.c_str(), nullptr));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_admin_set_launcher(admin_, nullptr);
    cp_launcher_destroy(launcher_);
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
    cp_admin_destroy(admin_);
    unlink(manifest_.c_str());
    rmdir(dir_.c_str());
  }

  // Call options with `key` (nullptr: no credentials) in x-api-key.
  cp_call_options Opts(const char *key = kAdminKey) {
    md_ = {CP_MD_API_KEY, key};
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = test_wait_ms();
    o.metadata = key != nullptr ? &md_ : nullptr;
    o.metadata_count = key != nullptr ? 1 : 0;
    return o;
  }

  // Admin/Status on `c`; the response (owned by the caller) or nullptr
  // with *st set.
  StatusResp *Status(cp_client *c, const cp_call_options &o, cp_status *st) {
    Cplugin__Admin__V1__StatusRequest req =
        CPLUGIN__ADMIN__V1__STATUS_REQUEST__INIT;
    StatusResp *resp = nullptr;
    cp_status_clear(st);
    cp_cplugin__admin__v1__admin__status__call(c, &req, &resp, &o, st);
    return resp;
  }

  struct Plugin {
    int state;
    int pid;
    unsigned restarts;
    std::string runtime_id, reason;
    int health;
  };

  // Status with the admin key, by plugin name.
  std::map<std::string, Plugin> Plugins() {
    cp_status st;
    cp_call_options o = Opts();
    StatusResp *resp = Status(client_, o, &st);
    std::map<std::string, Plugin> out;
    EXPECT_NE(nullptr, resp) << st.message;
    if (resp == nullptr) {
      return out;
    }
    for (size_t i = 0; i < resp->n_plugins; i++) {
      const auto *p = resp->plugins[i];
      out[p->name] = {p->state,      p->pid,    p->restarts,
                      p->runtime_id, p->reason, p->health};
    }
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    return out;
  }

  cp_status Remove(const char *name) {
    Cplugin__Admin__V1__RemovePluginRequest req =
        CPLUGIN__ADMIN__V1__REMOVE_PLUGIN_REQUEST__INIT;
    req.name = const_cast<char *>(name);
    Cplugin__Admin__V1__RemovePluginResponse *resp = nullptr;
    cp_status st;
    cp_status_clear(&st);
    cp_call_options o = Opts();
    if (cp_cplugin__admin__v1__admin__remove_plugin__call(client_, &req, &resp,
                                                          &o, &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status Replace(const char *name, const char *path) {
    Cplugin__Admin__V1__ReplacePluginRequest req =
        CPLUGIN__ADMIN__V1__REPLACE_PLUGIN_REQUEST__INIT;
    req.name = const_cast<char *>(name);
    req.path = const_cast<char *>(path);
    Cplugin__Admin__V1__ReplacePluginResponse *resp = nullptr;
    cp_status st;
    cp_status_clear(&st);
    cp_call_options o = Opts();
    if (cp_cplugin__admin__v1__admin__replace_plugin__call(client_, &req, &resp,
                                                           &o, &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status Restart(const char *name) {
    Cplugin__Admin__V1__RestartPluginRequest req =
        CPLUGIN__ADMIN__V1__RESTART_PLUGIN_REQUEST__INIT;
    req.name = const_cast<char *>(name);
    Cplugin__Admin__V1__RestartPluginResponse *resp = nullptr;
    cp_status st;
    cp_status_clear(&st);
    cp_call_options o = Opts();
    if (cp_cplugin__admin__v1__admin__restart_plugin__call(client_, &req, &resp,
                                                           &o, &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  std::string dir_, manifest_, host_url_;
  cp_host *host_ = nullptr;
  cp_admin *admin_ = nullptr;
  cp_launcher *launcher_ = nullptr;
  cp_client *client_ = nullptr;
  cp_metadata md_ = {nullptr, nullptr};
};

const int kRunning = CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_RUNNING;
const int kStopped = CPLUGIN__ADMIN__V1__PLUGIN_STATE__PLUGIN_STATE_STOPPED;

TEST_F(AdminTest, StatusShowsTheHostAndThreeRunningPlugins) {
  cp_status st;
  cp_call_options o = Opts();
  StatusResp *resp = Status(client_, o, &st);
  ASSERT_NE(nullptr, resp) << st.message;
  ASSERT_NE(nullptr, resp->host);
  EXPECT_STREQ(cp_version(), resp->host->version);
  ASSERT_EQ(3u, resp->n_plugins);
  const char *order[] = {"logger", "storage", "api"};  // manifest order
  for (size_t i = 0; i < 3; i++) {
    const auto *p = resp->plugins[i];
    EXPECT_STREQ(order[i], p->name);
    EXPECT_EQ(kRunning, p->state) << p->name << ": " << p->reason;
    EXPECT_EQ(CPLUGIN__ADMIN__V1__HEALTH__HEALTH_HEALTHY, p->health);
    cp_plugin_status ls;
    ASSERT_EQ(0, cp_launcher_plugin_status(launcher_, order[i], &ls));
    EXPECT_EQ(ls.pid, p->pid);
    EXPECT_GT(p->pid, 0);
    EXPECT_STREQ(ls.runtime_id, p->runtime_id);
    EXPECT_STREQ(ls.endpoint, p->endpoint);
    EXPECT_EQ(0u, p->restarts);
  }
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
}

TEST_F(AdminTest, WithoutAValidKeyUnauthenticated) {
  cp_status st;
  cp_call_options none = Opts(nullptr);
  EXPECT_EQ(nullptr, Status(client_, none, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  cp_call_options wrong = Opts("wrong-key-0123456789abcdef");
  EXPECT_EQ(nullptr, Status(client_, wrong, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  // A change is refused before it reaches the launcher.
  Cplugin__Admin__V1__RemovePluginRequest req =
      CPLUGIN__ADMIN__V1__REMOVE_PLUGIN_REQUEST__INIT;
  req.name = const_cast<char *>("api");
  Cplugin__Admin__V1__RemovePluginResponse *resp = nullptr;
  EXPECT_EQ(CP_ERPC, cp_cplugin__admin__v1__admin__remove_plugin__call(
                         client_, &req, &resp, &none, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_EQ(kRunning, Plugins()["api"].state);
}

TEST_F(AdminTest, AnotherPrincipalIsDenied) {
  cp_status st;
  cp_call_options other = Opts(kOtherKey);
  EXPECT_EQ(nullptr, Status(client_, other, &st));
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << st.message;
}

// A runtime token never passes, even one whose handshake presented the
// admin key (its identity carries the admin principal in the token store).
TEST_F(AdminTest, RuntimeTokenIsPermissionDenied) {
  cp_plugin_client_options po;
  cp_plugin_client_options_init(&po);
  po.endpoint = host_url_.c_str();
  po.self_id = "sneaky";
  po.api_key = kAdminKey;
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &po));
  cp_status st;
  cp_status_clear(&st);
  ASSERT_EQ(0, cp_plugin_client_connect(pc, &st)) << st.message;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = test_wait_ms();
  EXPECT_EQ(nullptr, Status(cp_plugin_client_channel(pc), o, &st));
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << st.message;
  cp_plugin_client_destroy(pc);
}

TEST_F(AdminTest, RemoveThenStatusShowsStoppedAndReplaceStartsItAgain) {
  std::string before = Plugins()["api"].runtime_id;
  cp_status st = Remove("api");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  Plugin api = Plugins()["api"];
  EXPECT_EQ(kStopped, api.state);
  EXPECT_EQ("removed", api.reason);
  EXPECT_EQ(0, api.pid);
  // The launcher's errors as gRPC statuses, with its text.
  st = Remove("api");
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code) << st.message;
  EXPECT_STRNE("", st.message);
  st = Remove("nope");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code) << st.message;
  st = Remove("");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << st.message;
  // `cpluginctl plugins add`: a replace of the removed plugin.
  st = Replace("api", "");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  api = Plugins()["api"];
  EXPECT_EQ(kRunning, api.state);
  EXPECT_NE(before, api.runtime_id);
  EXPECT_GT(api.pid, 0);
}

TEST_F(AdminTest, ReplaceAndRestartChangeTheRuntimeId) {
  Plugin first = Plugins()["logger"];
  cp_status st = Replace("logger", Logger().c_str());
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  Plugin second = Plugins()["logger"];
  EXPECT_EQ(kRunning, second.state);
  EXPECT_NE(first.runtime_id, second.runtime_id);
  EXPECT_NE(first.pid, second.pid);
  st = Restart("logger");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  Plugin third = Plugins()["logger"];
  EXPECT_EQ(kRunning, third.state);
  EXPECT_NE(second.runtime_id, third.runtime_id);
  // The registry routes to the new identity only.
  cp_registry_endpoint ep;
  ASSERT_EQ(
      0, cp_registry_resolve(cp_host_registry(host_), "logger", nullptr, &ep));
  EXPECT_EQ(third.runtime_id, ep.provider_id);
  // A new process that cannot start leaves the old one serving; a missing
  // executable is the launcher's CP_ENOTFOUND, with its text.
  st = Replace("logger", "/nonexistent/logger-plugin");
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code) << st.message;
  EXPECT_NE(nullptr, strstr(st.message, "/nonexistent/logger-plugin"))
      << st.message;
  EXPECT_EQ(third.runtime_id, Plugins()["logger"].runtime_id);
}

TEST_F(AdminTest, ListRegistryShowsEveryRegistration) {
  std::map<std::string, Plugin> plugins = Plugins();
  Cplugin__Admin__V1__ListRegistryRequest req =
      CPLUGIN__ADMIN__V1__LIST_REGISTRY_REQUEST__INIT;
  Cplugin__Admin__V1__ListRegistryResponse *resp = nullptr;
  cp_status st;
  cp_call_options o = Opts();
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__list_registry__call(
                   client_, &req, &resp, &o, &st))
      << st.message;
  ASSERT_EQ(3u, resp->n_registrations);
  // Sorted by type.
  const char *types[] = {"api", "logger", "storage"};
  for (size_t i = 0; i < 3; i++) {
    const auto *r = resp->registrations[i];
    EXPECT_STREQ(types[i], r->service_type);
    EXPECT_EQ(plugins[types[i]].runtime_id, r->provider_id);
    EXPECT_STREQ("1.0.0", r->version);
    EXPECT_EQ(0, strncmp(r->base_url, "unix:/", 6)) << r->base_url;
    EXPECT_EQ(0, strncmp(r->registration_id, "reg-", 4));
    EXPECT_TRUE(r->routable);
    EXPECT_EQ(CPLUGIN__ADMIN__V1__HEALTH__HEALTH_HEALTHY, r->health);
  }
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  req.service_type = const_cast<char *>("storage");
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__list_registry__call(
                   client_, &req, &resp, &o, &st));
  ASSERT_EQ(1u, resp->n_registrations);
  EXPECT_STREQ("storage", resp->registrations[0]->service_type);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  // Without the key: refused.
  cp_call_options none = Opts(nullptr);
  EXPECT_EQ(CP_ERPC, cp_cplugin__admin__v1__admin__list_registry__call(
                         client_, &req, &resp, &none, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
}

// The registry's own watch machinery behind Admin/Watch: the current answer,
// then the plugin's removal and its return under a new identity.
TEST_F(AdminTest, WatchFollowsRemoveAndReplace) {
  Cplugin__Admin__V1__WatchRequest req =
      CPLUGIN__ADMIN__V1__WATCH_REQUEST__INIT;
  req.service_type = const_cast<char *>("api");
  cp_call_options o = Opts();
  cp_client_stream *stream = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__watch__start(client_, &req, &o,
                                                          &stream, &st));
  auto next = [&](std::string *provider) {
    Connectplugin__V1__WatchServiceEvent *ev = nullptr;
    int rc = cp_cplugin__admin__v1__admin__watch__next(stream, &ev, &st);
    if (rc != 0) {
      return -1;
    }
    int state = ev->state;
    *provider = ev->endpoint != nullptr ? ev->endpoint->provider_id : "";
    protobuf_c_message_free_unpacked(&ev->base, nullptr);
    return state;
  };
  std::string provider;
  std::string first = Plugins()["api"].runtime_id;
  ASSERT_EQ(CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE,
            next(&provider))
      << st.message;
  EXPECT_EQ(first, provider);
  ASSERT_EQ(CP_STATUS_OK, Remove("api").code);
  // Events coalesce: read until the watch says the service is gone.
  int state;
  while ((state = next(&provider)) ==
         CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_DEGRADED) {
  }
  EXPECT_EQ(CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE, state)
      << st.message;
  ASSERT_EQ(CP_STATUS_OK, Replace("api", "").code);
  std::string second = Plugins()["api"].runtime_id;
  ASSERT_TRUE(cp_test::WaitFor("the watch reports the new api", [&] {
    return next(&provider) ==
               CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE &&
           provider == second;
  }));
  cp_client_stream_destroy(stream);

  // Without the key the stream ends at once.
  cp_call_options none = Opts(nullptr);
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__watch__start(client_, &req, &none,
                                                          &stream, &st));
  EXPECT_EQ(-1, next(&provider));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  cp_client_stream_destroy(stream);
}

// This fixture's host checks no rate limits: nothing to list.
TEST_F(AdminTest, ListRateLimitsWithoutAPolicyIsAFailedPrecondition) {
  Cplugin__Admin__V1__ListRateLimitsRequest req =
      CPLUGIN__ADMIN__V1__LIST_RATE_LIMITS_REQUEST__INIT;
  Cplugin__Admin__V1__ListRateLimitsResponse *resp = nullptr;
  cp_status st;
  cp_call_options o = Opts();
  EXPECT_EQ(CP_ERPC, cp_cplugin__admin__v1__admin__list_rate_limits__call(
                         client_, &req, &resp, &o, &st));
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code) << st.message;
}

TEST_F(AdminTest, WithoutLauncherNoManagedPlugins) {
  cp_admin_set_launcher(admin_, nullptr);
  std::map<std::string, Plugin> plugins = Plugins();
  EXPECT_TRUE(plugins.empty());
  cp_status st = Restart("api");
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code);
  EXPECT_STREQ("no managed plugins", st.message);
  cp_admin_set_launcher(admin_, launcher_);
  EXPECT_EQ(3u, Plugins().size());
}

// A host with its default limits and two of the operator's: ListRateLimits
// shows them in order with the calls each rejected; only an admin may ask.
TEST(AdminRateLimits, ListsTheHostsEffectiveRules) {
  cp_host_options o;
  cp_host_options_init(&o);
  o.tokens.sweep_interval_ms = 0;
  o.metrics_address = nullptr;
  cp_host *host = nullptr;
  ASSERT_EQ(0, cp_host_create(&host, &o));
  ASSERT_EQ(0, cp_auth_add_api_key(cp_host_auth(host), kAdminKey, "ops"));
  cp_rate_policy *rate = cp_host_rate_policy(host);
  ASSERT_NE(nullptr, rate);
  ASSERT_EQ(0, cp_rate_policy_set(rate, "/cplugin.admin.v1.Admin/Status",
                                  cp_rate_limit{1, 1}));
  ASSERT_EQ(0, cp_rate_policy_exempt(rate, "/kv.v1.KVService/"));
  const char *admins[] = {"api-key:ops"};
  cp_admin_options ao;
  cp_admin_options_init(&ao);
  ao.rate = rate;
  ao.principals = admins;
  ao.principal_count = 1;
  cp_admin *admin = nullptr;
  ASSERT_EQ(0, cp_admin_create(&admin, &ao));
  ASSERT_EQ(0, cp_admin_register(admin, cp_host_server(host)));
  int port = 0;
  ASSERT_EQ(0, cp_host_start(host, &port, nullptr));
  cp_client *client = nullptr;
  ASSERT_EQ(
      0, cp_client_create(
             &client, ("127.0.0.1:" + std::to_string(port)).c_str(), nullptr));
  cp_metadata md = {CP_MD_API_KEY, kAdminKey};
  cp_call_options co;
  cp_call_options_init(&co);
  co.timeout_ms = test_wait_ms();
  co.metadata = &md;
  co.metadata_count = 1;
  // Burst 1: the second Status is denied, and counted under its rule.
  cp_status st;
  for (int i = 0; i < 2; i++) {
    Cplugin__Admin__V1__StatusRequest sreq =
        CPLUGIN__ADMIN__V1__STATUS_REQUEST__INIT;
    Cplugin__Admin__V1__StatusResponse *sresp = nullptr;
    cp_cplugin__admin__v1__admin__status__call(client, &sreq, &sresp, &co, &st);
    if (sresp != nullptr) {
      protobuf_c_message_free_unpacked(&sresp->base, nullptr);
    }
  }
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code) << st.message;

  Cplugin__Admin__V1__ListRateLimitsRequest req =
      CPLUGIN__ADMIN__V1__LIST_RATE_LIMITS_REQUEST__INIT;
  Cplugin__Admin__V1__ListRateLimitsResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__list_rate_limits__call(
                   client, &req, &resp, &co, &st))
      << st.message;
  EXPECT_TRUE(resp->enabled);
  EXPECT_STREQ("this process", resp->store);
  // The host's six, the operator's two, then the default.
  ASSERT_EQ(9u, resp->n_rules);
  EXPECT_STREQ("/connectplugin.v1.HandshakeService/Handshake",
               resp->rules[0]->path);
  EXPECT_EQ(10u, resp->rules[0]->rate_per_second);
  EXPECT_EQ(20u, resp->rules[0]->burst);
  const auto *status_rule = resp->rules[6];
  EXPECT_STREQ("/cplugin.admin.v1.Admin/Status", status_rule->path);
  EXPECT_EQ(1u, status_rule->burst);
  EXPECT_EQ(1u, status_rule->denials);
  EXPECT_STREQ("/kv.v1.KVService/", resp->rules[7]->path);
  EXPECT_TRUE(resp->rules[7]->prefix);
  EXPECT_TRUE(resp->rules[7]->exempt);
  EXPECT_STREQ("*", resp->rules[8]->path);
  EXPECT_EQ(1000u, resp->rules[8]->rate_per_second);
  EXPECT_EQ(2000u, resp->rules[8]->burst);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);

  cp_rate_policy_set_enabled(rate, false);
  ASSERT_EQ(0, cp_cplugin__admin__v1__admin__list_rate_limits__call(
                   client, &req, &resp, &co, &st));
  EXPECT_FALSE(resp->enabled);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  // Without the key: refused.
  cp_call_options none;
  cp_call_options_init(&none);
  none.timeout_ms = test_wait_ms();
  EXPECT_EQ(CP_ERPC, cp_cplugin__admin__v1__admin__list_rate_limits__call(
                         client, &req, &resp, &none, &st));
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);

  cp_client_destroy(client);
  cp_host_shutdown(host, 0);
  cp_host_destroy(host);
  cp_admin_destroy(admin);
}

}  // namespace
