// Model A end to end (docs/launch.md): a real plugin binary (the URL
// shortener's logger-plugin, with no code for it) launched with
// CPLUGIN_LISTEN, CPLUGIN_HOST_URL and CPLUGIN_LAUNCH_SECRET. The test plays
// the launcher against a real in-process host: it reads the plugin's info,
// hands it an identity issued by the host's token store, and sees the
// plugin join under that identity without a handshake of its own; then
// stops it with PluginControl/Shutdown. Also the parts of the contract
// that need no process: the secret and runtime-ID checks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "launch/identity.h"
#include "launch/process.h"
#include "plugin/v1/lifecycle.cplugin.h"
#include "plugin/v1/plugininfo.cplugin.h"
#include "process.h"
}
#include "wait.h"

#ifndef LOGGER_PLUGIN_PATH
#define LOGGER_PLUGIN_PATH "examples/urlshortener/logger-plugin"
#endif

namespace {

const char kSecret[] = "c2VjcmV0LWZvci10aGUtbGF1bmNoZWQtcGx1Z2lu";
const char kWrongSecret[] = "c2VjcmV0LWZvci10aGUtbGF1bmNoZWQtcGx1Z2lX";

struct ExitReport {
  std::atomic<int> calls{0};
  std::atomic<int> code{-2};
  std::atomic<int> signal{-2};
};

void OnExit(proc *, int exit_code, int term_signal, void *user) {
  auto *r = static_cast<ExitReport *>(user);
  r->code = exit_code;
  r->signal = term_signal;
  r->calls++;
}

// Call options with the launch secret (or none when secret is null) and
// extra metadata.
struct Opts {
  explicit Opts(const char *secret, const char *ttl_ms = nullptr) {
    cp_call_options_init(&o);
    o.timeout_ms = test_wait_ms();
    if (secret != nullptr) {
      md.push_back({CP_LAUNCH_SECRET_METADATA, secret});
    }
    if (ttl_ms != nullptr) {
      md.push_back({CP_LAUNCH_TOKEN_TTL_METADATA, ttl_ms});
    }
    o.metadata = md.empty() ? nullptr : md.data();
    o.metadata_count = md.size();
  }
  std::vector<cp_metadata> md;
  cp_call_options o;
};

class LaunchIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    o.registry.base_url_allow |= CP_BASE_URL_UNIX;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);
    char path[128];
    ASSERT_EQ(0, test_socket_path("id.sock", path, sizeof path));
    socket_path_ = path;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cpi_proc_destroy(proc_);
    test_socket_path_remove(socket_path_.c_str());
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
  }

  int Spawn(const std::string &secret) {
    std::vector<std::string> env = {
        std::string(CP_LAUNCH_LISTEN_ENV) + "=unix:" + socket_path_,
        std::string(CP_LAUNCH_HOST_URL_ENV) + "=" + host_url_,
        std::string(CP_LAUNCH_SECRET_ENV) + "=" + secret};
    std::vector<const char *> env_set;
    for (const auto &e : env) {
      env_set.push_back(e.c_str());
    }
    env_set.push_back(nullptr);
    proc_options po;
    cpi_proc_options_init(&po);
    po.name = "logger";
    po.path = test_program_path("CPLUGIN_LOGGER_PLUGIN", LOGGER_PLUGIN_PATH);
    po.env_set = env_set.data();
    po.ready_timeout_ms = test_wait_ms();
    po.on_exit = OnExit;
    po.user = &exit_;
    char err[256] = "";
    int rc = cpi_proc_spawn(&po, &proc_, err, sizeof err);
    EXPECT_EQ(0, rc) << err;
    return rc;
  }

  cp_status GetInfo(const char *secret,
                    Connectplugin__V1__GetPluginInfoResponse **resp) {
    Connectplugin__V1__GetPluginInfoRequest req =
        CONNECTPLUGIN__V1__GET_PLUGIN_INFO_REQUEST__INIT;
    Opts o(secret);
    cp_status st;
    cp_status_clear(&st);
    *resp = nullptr;
    cp_connectplugin__v1__plugin_identity__get_plugin_info__call(
        client_, &req, resp, &o.o, &st);
    return st;
  }

  cp_status SetIdentity(const char *secret, const char *id, const char *token,
                        const char *ttl_ms) {
    Connectplugin__V1__SetRuntimeIdentityRequest req =
        CONNECTPLUGIN__V1__SET_RUNTIME_IDENTITY_REQUEST__INIT;
    req.runtime_id = const_cast<char *>(id);
    req.runtime_token = const_cast<char *>(token);
    Opts o(secret, ttl_ms);
    cp_status st;
    cp_status_clear(&st);
    Connectplugin__V1__SetRuntimeIdentityResponse *resp = nullptr;
    cp_connectplugin__v1__plugin_identity__set_runtime_identity__call(
        client_, &req, &resp, &o.o, &st);
    if (resp != nullptr) {
      EXPECT_TRUE(resp->acknowledged);
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_status GetHealth(const char *secret, cp_plugin_health *state) {
    Connectplugin__V1__GetHealthRequest req =
        CONNECTPLUGIN__V1__GET_HEALTH_REQUEST__INIT;
    Opts o(secret);
    cp_status st;
    cp_status_clear(&st);
    Connectplugin__V1__GetHealthResponse *resp = nullptr;
    cp_connectplugin__v1__plugin_control__get_health__call(client_, &req, &resp,
                                                           &o.o, &st);
    if (resp != nullptr) {
      *state = static_cast<cp_plugin_health>(resp->state);
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_host *host_ = nullptr;
  std::string host_url_;
  std::string socket_path_;
  proc *proc_ = nullptr;
  cp_client *client_ = nullptr;
  ExitReport exit_;
};

TEST_F(LaunchIdentityTest, JoinsWithTheIdentityTheLauncherGives) {
  ASSERT_EQ(0, Spawn(kSecret));
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(proc_, nullptr, err, sizeof err)) << err;
  std::string target = "unix:" + socket_path_;
  ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));

  // Without the secret, or with a wrong one: the same refusal.
  Connectplugin__V1__GetPluginInfoResponse *info = nullptr;
  cp_status st = GetInfo(nullptr, &info);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  EXPECT_STREQ("launch secret required", st.message);
  st = GetInfo(kWrongSecret, &info);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  EXPECT_STREQ("launch secret required", st.message);

  // With it: the declaration, once the runtime published it.
  ASSERT_TRUE(cp_test::WaitFor(
      "GetPluginInfo answered",
      [&] {
        st = GetInfo(kSecret, &info);
        return st.code != CP_STATUS_UNAVAILABLE;
      },
      [&] { return std::string(st.message); }));
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  ASSERT_NE(nullptr, info);
  EXPECT_STREQ("logger", info->self_id);
  EXPECT_STREQ("1.0.0", info->self_version);
  ASSERT_EQ(1u, info->n_provides);
  EXPECT_STREQ("logger", info->provides[0]->type);
  EXPECT_STREQ("/capability.logger.v1.Logger/", info->provides[0]->path);
  EXPECT_EQ(0u, info->n_requires);
  EXPECT_EQ(0u, info->n_metadata);
  protobuf_c_message_free_unpacked(&info->base, nullptr);

  // Nothing registered yet: the plugin waits for its identity.
  cp_registry_endpoint ep;
  EXPECT_NE(
      0, cp_registry_resolve(cp_host_registry(host_), "logger", nullptr, &ep));

  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(cp_host_tokens(host_), "logger", id,
                                    sizeof id, token));
  st = SetIdentity(nullptr, id, token, nullptr);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  st = SetIdentity(kSecret, "Not An Id", token, nullptr);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << st.message;
  st = SetIdentity(kSecret, id, "short", nullptr);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << st.message;
  st = SetIdentity(kSecret, id, token, "x");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code) << st.message;
  st = SetIdentity(kSecret, id, token, "86400000");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;

  // Registered under the launcher's runtime ID, at the launched socket.
  std::string seen = "nothing";
  ASSERT_TRUE(cp_test::WaitFor(
      "logger registered under the given identity",
      [&] {
        if (cp_registry_resolve(cp_host_registry(host_), "logger", nullptr,
                                &ep) != 0) {
          return false;
        }
        seen = ep.provider_id;
        return seen == id;
      },
      [&] { return "provider " + seen; }));
  EXPECT_EQ(target, ep.base_url);
  static cp_plugin_health_report report;
  ASSERT_TRUE(cp_test::WaitFor(
      "the plugin reported HEALTHY",
      [&] {
        return cp_registry_get_health(cp_host_registry(host_), id, &report) ==
                   0 &&
               report.state == CP_PLUGIN_HEALTH_HEALTHY;
      },
      [&] { return std::to_string(report.state); }));

  // One identity per process.
  char id2[CP_RUNTIME_ID_MAX + 1];
  char token2[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(cp_host_tokens(host_), "logger", id2,
                                    sizeof id2, token2));
  st = SetIdentity(kSecret, id2, token2, nullptr);
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code) << st.message;
  EXPECT_STREQ("identity already set", st.message);

  // The library's PluginControl, behind the secret too.
  cp_plugin_health health = CP_PLUGIN_HEALTH_UNKNOWN;
  st = GetHealth(nullptr, &health);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  st = GetHealth(kSecret, &health);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(CP_PLUGIN_HEALTH_HEALTHY, health);

  Connectplugin__V1__ShutdownRequest sreq =
      CONNECTPLUGIN__V1__SHUTDOWN_REQUEST__INIT;
  sreq.grace_period_seconds = 5;
  sreq.reason = const_cast<char *>("test done");
  Connectplugin__V1__ShutdownResponse *sresp = nullptr;
  Opts none(nullptr);
  cp_connectplugin__v1__plugin_control__shutdown__call(client_, &sreq, &sresp,
                                                       &none.o, &st);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code) << st.message;
  Opts with(kSecret);
  cp_connectplugin__v1__plugin_control__shutdown__call(client_, &sreq, &sresp,
                                                       &with.o, &st);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  ASSERT_NE(nullptr, sresp);
  EXPECT_TRUE(sresp->acknowledged);
  protobuf_c_message_free_unpacked(&sresp->base, nullptr);

  // SIGTERM from itself: the plugin's own path drains and exits 0, and
  // unregisters on the way out.
  ASSERT_TRUE(cp_test::WaitFor(
      "the plugin exited", [&] { return exit_.calls.load() == 1; },
      [&] { return std::to_string(exit_.calls.load()); }));
  EXPECT_EQ(0, exit_.code.load()) << "signal " << exit_.signal.load();
  EXPECT_NE(
      0, cp_registry_resolve(cp_host_registry(host_), "logger", nullptr, &ep));
}

// A secret the plugin cannot use fails its listener: the launcher sees the
// process end without a handshake line rather than a plugin that silently
// handshakes for itself.
TEST_F(LaunchIdentityTest, RefusesAnInvalidSecret) {
  ASSERT_EQ(0, Spawn("too-short"));
  char err[256] = "";
  EXPECT_EQ(CP_ECLOSED, cpi_proc_wait_ready(proc_, nullptr, err, sizeof err))
      << err;
  ASSERT_TRUE(cp_test::WaitFor(
      "exit reported", [&] { return exit_.calls.load() == 1; },
      [&] { return std::to_string(exit_.calls.load()); }));
  EXPECT_EQ(1, exit_.code.load());
}

TEST(LaunchSecret, AcceptsOnlyBase64urlOf16To128Characters) {
  EXPECT_EQ(0, cpi_launch_secret_check(kSecret));
  EXPECT_EQ(0, cpi_launch_secret_check("AAAAAAAAAAAAAAA="));
  EXPECT_EQ(0, cpi_launch_secret_check(std::string(128, 'a').c_str()));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check(nullptr));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check(""));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check(std::string(15, 'a').c_str()));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check(std::string(129, 'a').c_str()));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check("AAAAAAAAAAAAAAA+"));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check("AAAAAAA AAAAAAAA"));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check("AAAAAAAAAAAAA==="));
  EXPECT_EQ(CP_EINVAL, cpi_launch_secret_check("AAAAAA=AAAAAAAAA"));
}

TEST(LaunchRuntimeId, MatchesWhatTheTokenStoreIssues) {
  cp_token_store *store = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&store, nullptr));
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0,
            cp_token_store_issue(store, "My.Plugin_1", id, sizeof id, token));
  EXPECT_TRUE(cpi_launch_runtime_id_valid(id)) << id;
  cp_token_store_destroy(store);
  EXPECT_TRUE(cpi_launch_runtime_id_valid("kv-0123456789abcdef"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid(nullptr));
  EXPECT_FALSE(cpi_launch_runtime_id_valid(""));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("kv-0123456789ABCDEF"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("KV-0123456789abcdef"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("kv-0123456789abcde"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("-0123456789abcdef"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("1kv-0123456789abcdef"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid("kv_0123456789abcdef"));
  EXPECT_FALSE(cpi_launch_runtime_id_valid(
      (std::string(CP_SELF_ID_MAX + 1, 'a') + "-0123456789abcdef").c_str()));
}

}  // namespace
