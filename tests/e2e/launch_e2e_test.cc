// End to end: a real plugin binary (examples/urlshortener's logger-plugin,
// written for self-registration, with no code for being launched) started
// by cpi_proc_spawn with only the launcher's environment. It must serve where
// CPLUGIN_LISTEN says, announce that address with the handshake line,
// register it with the host named by CPLUGIN_HOST_URL, answer calls there,
// and stop cleanly on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"
#include "launch/process.h"
#include "process.h"
}
#include "wait.h"

#ifndef LOGGER_PLUGIN_PATH
#define LOGGER_PLUGIN_PATH "examples/urlshortener/logger-plugin"
#endif

namespace {

enum { kStopGraceMs = 10000 };

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

// The host's log: the plugin's stderr reaches it as "plugin output" lines.
std::mutex g_log_mu;
std::vector<std::string> g_log;

void CaptureLog(const char *line, size_t len, void *) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log.emplace_back(line, len);
}

class LaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      std::lock_guard<std::mutex> lock(g_log_mu);
      g_log.clear();
    }
    cp_log_set_sink(CaptureLog, nullptr);
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    // Launched plugins serve on private Unix sockets; a host that launches
    // them accepts those as base_url (not the default).
    o.registry.base_url_allow |= CP_BASE_URL_UNIX;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    cp_log_set_sink(nullptr, nullptr);
    cp_client_destroy(client_);
    cpi_proc_destroy(proc_);
    if (!socket_path_.empty()) {
      test_socket_path_remove(socket_path_.c_str());
    }
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
  }

  // Starts the plugin with nothing but the launcher's variables, and a
  // HOST_URL that leads nowhere: CPLUGIN_HOST_URL must win over it.
  int Spawn(const std::string &listen) {
    std::vector<std::string> env = {
        std::string(CP_LAUNCH_LISTEN_ENV) + "=" + listen,
        std::string(CP_LAUNCH_HOST_URL_ENV) + "=" + host_url_,
        std::string(CP_HOST_URL_ENV) + "=127.0.0.1:1"};
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

  // Waits until the host's registry names `base_url` for "logger".
  void ExpectRegisteredAt(const std::string &base_url) {
    cp_registry_endpoint ep;
    std::string seen = "nothing";
    ASSERT_TRUE(cp_test::WaitFor(
        "logger registered with the host",
        [&] {
          if (cp_registry_resolve(cp_host_registry(host_), "logger", nullptr,
                                  &ep) != 0) {
            return false;
          }
          seen = ep.base_url;
          return true;
        },
        [&] { return "base_url " + seen; }));
    EXPECT_TRUE(ep.has_base_url);
    EXPECT_EQ(base_url, ep.base_url);
  }

  // Waits for the plugin's "plugin serving" line to name `address`, where
  // it really serves (not the address its code asked for).
  void ExpectServingLineNames(const std::string &address) {
    std::string want =
        "plugin serving: self_id=logger address=" + address + " ";
    std::string seen;
    EXPECT_TRUE(cp_test::WaitFor(
        "the plugin's serving line",
        [&] {
          std::lock_guard<std::mutex> lock(g_log_mu);
          for (const auto &l : g_log) {
            if (l.find("plugin serving:") != std::string::npos) {
              seen = l;
            }
            if (l.find(want) != std::string::npos) {
              return true;
            }
          }
          return false;
        },
        [&] { return seen.empty() ? "no serving line" : seen; }));
  }

  // One Log call straight to the plugin at `target`.
  void ExpectLogCallWorks(const std::string &target) {
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
    Capability__Logger__V1__LogRequest req;
    capability__logger__v1__log_request__init(&req);
    req.level = const_cast<char *>("info");
    req.message = const_cast<char *>("launched");
    Capability__Logger__V1__LogResponse *resp = nullptr;
    cp_status st;
    cp_status_clear(&st);
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = test_wait_ms();
    EXPECT_EQ(0, cp_capability__logger__v1__logger__log__call(client_, &req,
                                                              &resp, &co, &st))
        << cp_status_code_name(st.code) << ": " << st.message;
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
  }

  // SIGTERM, and the plugin exits 0 by itself within the grace period.
  void ExpectCleanStop() {
    ASSERT_EQ(0, cpi_proc_stop(proc_, kStopGraceMs));
    EXPECT_EQ(1, exit_.calls.load());
    EXPECT_EQ(0, exit_.code.load()) << "signal " << exit_.signal.load();
  }

  cp_host *host_ = nullptr;
  std::string host_url_;
  std::string socket_path_;
  proc *proc_ = nullptr;
  cp_client *client_ = nullptr;
  ExitReport exit_;
};

TEST_F(LaunchTest, ServesOnTheUnixSocketItWasGiven) {
  char path[128];
  ASSERT_EQ(0, test_socket_path("p.sock", path, sizeof path));
  socket_path_ = path;
  ASSERT_EQ(0, Spawn("unix:" + socket_path_));
  proc_endpoint ep;
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(proc_, &ep, err, sizeof err)) << err;
  EXPECT_EQ(PROC_NETWORK_UNIX, ep.network);
  EXPECT_EQ(socket_path_, ep.address);
  ExpectRegisteredAt("unix:" + socket_path_);
  ExpectServingLineNames("unix:" + socket_path_);
  ExpectLogCallWorks("unix:" + socket_path_);
  ExpectCleanStop();
}

TEST_F(LaunchTest, AnnouncesTheTcpPortItBound) {
  ASSERT_EQ(0, Spawn("127.0.0.1:0"));
  proc_endpoint ep;
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(proc_, &ep, err, sizeof err)) << err;
  EXPECT_EQ(PROC_NETWORK_TCP, ep.network);
  std::string address = ep.address;
  ASSERT_EQ(0u, address.rfind("127.0.0.1:", 0)) << address;
  int port = std::stoi(address.substr(strlen("127.0.0.1:")));
  EXPECT_GT(port, 0);
  ExpectRegisteredAt(address);
  ExpectServingLineNames(address);
  ExpectLogCallWorks(address);
  ExpectCleanStop();
}

// A launcher's value the plugin may not serve on (not loopback): the
// plugin cannot listen, exits, and the start fails without a line.
TEST_F(LaunchTest, RefusesANonLoopbackListenAddress) {
  ASSERT_EQ(0, Spawn("0.0.0.0:0"));
  char err[256] = "";
  EXPECT_EQ(CP_ECLOSED, cpi_proc_wait_ready(proc_, nullptr, err, sizeof err))
      << err;
  ASSERT_TRUE(cp_test::WaitFor(
      "exit reported", [&] { return exit_.calls.load() == 1; },
      [&] { return std::to_string(exit_.calls.load()); }));
  EXPECT_EQ(1, exit_.code.load());
}

}  // namespace
