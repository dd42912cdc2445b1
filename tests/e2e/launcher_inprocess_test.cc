// In-process plugins (cp_in_process_plugin, cplugin/launcher.h): a logger
// compiled into this test, named by a manifest beside the URL shortener's
// real storage-plugin process, which requires it for startup and logs
// through the host's router. The in-process logger joins with a
// launcher-issued identity over socketpairs, registers "inproc:logger",
// opens no listening socket, is reached by routed calls and by dispense,
// and leaves no registration nor identity behind when stopped.
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"
#include "process.h"
#include "storage/v1/storage.cplugin.h"
}
#include "wait.h"

#ifndef STORAGE_PLUGIN_PATH
#define STORAGE_PLUGIN_PATH "examples/urlshortener/storage-plugin"
#endif

namespace {

std::string Storage() {
  char *p =
      realpath(test_program_path("CPLUGIN_STORAGE_PLUGIN", STORAGE_PLUGIN_PATH),
               nullptr);
  std::string s = p != nullptr ? p : STORAGE_PLUGIN_PATH;
  free(p);
  return s;
}

// Sockets of this process in the listening state.
int CountListeners() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return -1;
  }
  int self = dirfd(d);
  while (struct dirent *e = readdir(d)) {
    char *end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) {
      continue;
    }
    int on = 0;
    socklen_t len = sizeof on;
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &on,
                   &len) == 0 &&
        on != 0) {
      n++;
    }
  }
  closedir(d);
  return n;
}

// The in-process logger: counts its calls and the routed ones among them.
struct Logger {
  std::atomic<int> calls{0};
  std::atomic<int> routed{0};
  std::atomic<int> started{0};
  std::atomic<cp_plugin_runtime *> rt{nullptr};
};

cp_status_code OnLog(cp_call *call, const Capability__Logger__V1__LogRequest *,
                     Capability__Logger__V1__LogResponse *, void *user) {
  auto *l = static_cast<Logger *>(user);
  cp_str v;
  if (cp_call_metadata(call, CP_MD_CALLER_ID, &v)) {
    l->routed++;
  }
  l->calls++;
  return CP_STATUS_OK;
}

int RegisterLogger(cp_server *server, void *user) {
  cp_capability__logger__v1__logger__handlers h;
  memset(&h, 0, sizeof h);
  h.on_log = OnLog;
  return cp_capability__logger__v1__logger__register(server, &h, user);
}

void LoggerStarted(cp_plugin_runtime *rt, void *user) {
  auto *l = static_cast<Logger *>(user);
  l->rt = rt;
  l->started++;
}

const char kLoggerEntry[] =
    "{\"name\": \"logger\", \"in_process\": \"logger\", \"provides\": "
    "[{\"type\": \"logger\", \"version\": \"1.0.0\", \"path\": "
    "\"/capability.logger.v1.Logger/\"}]}";

std::string StorageEntry() {
  return "{\"name\": \"storage\", \"path\": \"" + Storage() +
         "\", \"provides\": [{\"type\": \"storage\", \"version\": "
         "\"1.0.0\"}], \"requires\": [{\"type\": \"logger\", "
         "\"required_for_startup\": true, \"watch_for_changes\": true}]}";
}

class InProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cplugin-inproc-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    o.registry.base_url_allow |= CP_BASE_URL_UNIX | CP_BASE_URL_INPROC;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);
    def_.name = "logger";
    def_.register_services = RegisterLogger;
    def_.on_started = LoggerStarted;
    def_.self_version = "1.0.0";
    def_.user = &logger_;
  }

  void TearDown() override {
    cp_launcher_destroy(launcher_);
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
    unlink(manifest_.c_str());
    rmdir(dir_.c_str());
  }

  int Create(const std::vector<std::string> &entries) {
    std::string json = "{\"version\": 1, \"plugins\": [";
    for (size_t i = 0; i < entries.size(); i++) {
      json += (i > 0 ? ", " : "") + entries[i];
    }
    json += "]}";
    manifest_ = dir_ + "/manifest.json";
    std::ofstream(manifest_) << json;
    cp_launcher_options lo;
    cp_launcher_options_init(&lo);
    lo.manifest_path = manifest_.c_str();
    lo.host_url = host_url_.c_str();
    lo.identity_timeout_ms = test_wait_ms();
    lo.in_process = &def_;
    lo.in_process_count = 1;
    err_[0] = '\0';
    return cp_launcher_create(&launcher_, host_, &lo, err_, sizeof err_);
  }

  cp_plugin_status Status(const char *name) {
    cp_plugin_status st;
    EXPECT_EQ(0, cp_launcher_plugin_status(launcher_, name, &st));
    return st;
  }

  // A Store on the dispensed storage client: storage logs it through the
  // host's router (asynchronously).
  cp_status Store(const char *code) {
    cp_status st;
    cp_status_clear(&st);
    cp_client *storage = nullptr;
    EXPECT_EQ(0, cp_launcher_dispense(launcher_, "storage", &storage));
    if (storage == nullptr) {
      return st;
    }
    Storage__V1__StoreRequest req = STORAGE__V1__STORE_REQUEST__INIT;
    req.code = const_cast<char *>(code);
    req.url = const_cast<char *>("https://example.com/");
    Storage__V1__StoreResponse *resp = nullptr;
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = test_wait_ms();
    if (cp_storage__v1__storage__store__call(storage, &req, &resp, &co, &st) ==
        0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  bool Registered(const char *type, cp_registry_endpoint *ep) {
    return cp_registry_resolve(cp_host_registry(host_), type, nullptr, ep) == 0;
  }

  cp_host *host_ = nullptr;
  cp_launcher *launcher_ = nullptr;
  cp_in_process_plugin def_{};
  Logger logger_;
  std::string dir_, manifest_, host_url_;
  char err_[1024];
};

TEST_F(InProcessTest, RunsBesideAProcessPluginWithoutAListener) {
  ASSERT_EQ(0, Create({StorageEntry(), kLoggerEntry})) << err_;
  int listeners = CountListeners();
  ASSERT_GE(listeners, 1);  // the host's own
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  // Storage requires logger for startup: it started only because the
  // in-process logger was RUNNING before it (dependency order).
  EXPECT_EQ(listeners, CountListeners());
  cp_plugin_status lg = Status("logger");
  EXPECT_EQ(CP_PLUGIN_RUNNING, lg.state) << lg.reason;
  EXPECT_EQ(0, lg.pid);
  EXPECT_STREQ("inproc:logger", lg.endpoint);
  EXPECT_EQ(CP_PLUGIN_HEALTH_HEALTHY, lg.health);
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("storage").state);
  EXPECT_EQ(1, logger_.started.load());
  EXPECT_NE(nullptr, logger_.rt.load());

  // Registered by its runtime with the launcher's identity.
  cp_registry_endpoint ep;
  ASSERT_TRUE(Registered("logger", &ep));
  EXPECT_STREQ("inproc:logger", ep.base_url);
  EXPECT_STREQ(lg.runtime_id, ep.provider_id);
  char principal[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(0, cp_token_store_principal(cp_host_tokens(host_), lg.runtime_id,
                                        principal));
  EXPECT_STREQ("launch:logger", principal);

  // storage -> host router -> connector -> the in-process logger.
  cp_status st = Store("abc");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  ASSERT_TRUE(cp_test::WaitFor(
      "storage's log call to reach the in-process logger",
      [&] { return logger_.routed.load() > 0; },
      [&] { return std::to_string(logger_.routed.load()); }));

  // Dispense: straight to the logger's server, not through the router.
  cp_client *direct = nullptr;
  ASSERT_EQ(0, cp_launcher_dispense(launcher_, "logger", &direct));
  int routed = logger_.routed.load();
  int calls = logger_.calls.load();
  Capability__Logger__V1__LogRequest req =
      CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
  req.level = const_cast<char *>("info");
  req.message = const_cast<char *>("direct");
  Capability__Logger__V1__LogResponse *resp = nullptr;
  cp_call_options co;
  cp_call_options_init(&co);
  co.timeout_ms = test_wait_ms();
  ASSERT_EQ(0, cp_capability__logger__v1__logger__log__call(direct, &req, &resp,
                                                            &co, &st))
      << st.message;
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  EXPECT_EQ(calls + 1, logger_.calls.load());
  EXPECT_EQ(routed, logger_.routed.load());
  EXPECT_EQ(listeners, CountListeners());

  // Stop: no registration, the identity revoked.
  std::string id = lg.runtime_id;
  cp_launcher_stop(launcher_);
  EXPECT_FALSE(Registered("logger", &ep));
  EXPECT_FALSE(Registered("storage", &ep));
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   id.c_str(), principal));
  cp_plugin_status after = Status("logger");
  EXPECT_EQ(CP_PLUGIN_STOPPED, after.state);
  EXPECT_STREQ("", after.runtime_id);
}

TEST_F(InProcessTest, RemovedItIsGoneAndCannotBeReplaced) {
  ASSERT_EQ(0, Create({kLoggerEntry})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  std::string id = Status("logger").runtime_id;
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(CP_EINVAL, cp_launcher_replace(launcher_, "logger", nullptr, err_,
                                           sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "cannot be replaced")) << err_;
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("logger").state);

  ASSERT_EQ(0, cp_launcher_remove(launcher_, "logger", err_, sizeof err_))
      << err_;
  cp_registry_endpoint ep;
  EXPECT_FALSE(Registered("logger", &ep));
  char principal[CP_PRINCIPAL_MAX + 1];
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   id.c_str(), principal));
  EXPECT_EQ(CP_PLUGIN_STOPPED, Status("logger").state);
  cp_client *c = nullptr;
  EXPECT_EQ(CP_ESTATE, cp_launcher_dispense(launcher_, "logger", &c));
  // Stopping the launcher keeps what remove said.
  cp_launcher_stop(launcher_);
  cp_plugin_status st = Status("logger");
  EXPECT_EQ(CP_PLUGIN_STOPPED, st.state);
  EXPECT_STREQ("removed", st.reason);
}

TEST_F(InProcessTest, UnknownInProcessPluginIsRefusedByCreate) {
  const std::string entry =
      "{\"name\": \"audit\", \"in_process\": \"audit-v2\", \"provides\": "
      "[{\"type\": \"audit\", \"version\": \"1.0.0\"}]}";
  EXPECT_EQ(CP_EINVAL, Create({kLoggerEntry, entry}));
  EXPECT_EQ(nullptr, launcher_);
  EXPECT_NE(nullptr, strstr(err_, "audit-v2")) << err_;
}

TEST_F(InProcessTest, HostWithoutTheInprocFlagRefusesItsRegistration) {
  // A second host that does not allow "inproc:" base URLs.
  cp_host_shutdown(host_, 0);
  cp_host_destroy(host_);
  host_ = nullptr;
  cp_host_options o;
  cp_host_options_init(&o);
  o.tokens.sweep_interval_ms = 0;
  o.metrics_address = nullptr;
  o.rate_limits = false;
  ASSERT_EQ(0, cp_host_create(&host_, &o));
  int port = 0;
  ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
  host_url_ = "127.0.0.1:" + std::to_string(port);
  ASSERT_EQ(0, Create({kLoggerEntry})) << err_;
  EXPECT_NE(0, cp_launcher_start(launcher_, err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "in-process")) << err_;
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("logger").state);
  EXPECT_EQ(0u, cp_token_store_count(cp_host_tokens(host_)));
  cp_launcher_stop(launcher_);
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("logger").state);
}

}  // namespace
