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

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
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

// Peers of the host's calls, by method path.
struct HostCalls {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> calls;  // path, peer

  static cp_status_code Record(cp_call *call, void *user) {
    auto *h = static_cast<HostCalls *>(user);
    std::lock_guard<std::mutex> lock(h->mu);
    h->calls.emplace_back(cp_call_path(call), cp_call_peer(call));
    return CP_STATUS_OK;
  }

  // The distinct peers of the calls whose path ends with `method`, in
  // order (a routed call's path carries its route before the method).
  std::vector<std::string> Peers(const std::string &method) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    for (const auto &c : calls) {
      if (c.first.size() >= method.size() &&
          c.first.compare(c.first.size() - method.size(), method.size(),
                          method) == 0 &&
          std::find(out.begin(), out.end(), c.second) == out.end()) {
        out.push_back(c.second);
      }
    }
    return out;
  }
};

class InProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cplugin-inproc-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
    MakeHost(true, -1);
    // Two versions of the logger compiled in; the manifest runs "logger".
    for (int i = 0; i < 2; i++) {
      defs_[i].name = i == 0 ? "logger" : "logger-v2";
      defs_[i].register_services = RegisterLogger;
      defs_[i].on_started = LoggerStarted;
      defs_[i].self_version = i == 0 ? "1.0.0" : "1.1.0";
      defs_[i].user = &loggers_[i];
    }
  }

  // (Re)creates the host: `inproc` allows in-process base URLs; idle_ms
  // >= 0 sets the server's idle limit; its calls are recorded.
  void MakeHost(bool inproc, int64_t idle_ms) {
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
      host_ = nullptr;
    }
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    if (inproc) {
      o.registry.base_url_allow |= CP_BASE_URL_UNIX | CP_BASE_URL_INPROC;
    }
    if (idle_ms >= 0) {
      o.server.max_connection_idle_ms = idle_ms;
    }
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    ASSERT_EQ(0, cp_server_add_interceptor(cp_host_server(host_),
                                           CP_PHASE_APPLICATION,
                                           HostCalls::Record, &host_calls_));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);
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
    lo.in_process = defs_;
    lo.in_process_count = 2;
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
    return storage != nullptr ? StoreOn(storage, code) : st;
  }

  static cp_status StoreOn(cp_client *storage, const char *code) {
    Storage__V1__StoreRequest req = STORAGE__V1__STORE_REQUEST__INIT;
    req.code = const_cast<char *>(code);
    req.url = const_cast<char *>("https://example.com/");
    Storage__V1__StoreResponse *resp = nullptr;
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = test_wait_ms();
    cp_status st;
    if (cp_storage__v1__storage__store__call(storage, &req, &resp, &co, &st) ==
        0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  static cp_status Log(cp_client *logger, const char *message) {
    Capability__Logger__V1__LogRequest req =
        CAPABILITY__LOGGER__V1__LOG_REQUEST__INIT;
    req.level = const_cast<char *>("info");
    req.message = const_cast<char *>(message);
    Capability__Logger__V1__LogResponse *resp = nullptr;
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = test_wait_ms();
    cp_status st;
    if (cp_capability__logger__v1__logger__log__call(logger, &req, &resp, &co,
                                                     &st) == 0) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  bool Registered(const char *type, cp_registry_endpoint *ep) {
    return cp_registry_resolve(cp_host_registry(host_), type, nullptr, ep) == 0;
  }

  cp_host *host_ = nullptr;
  cp_launcher *launcher_ = nullptr;
  cp_in_process_plugin defs_[2]{};
  Logger loggers_[2];
  Logger &logger_ = loggers_[0];
  HostCalls host_calls_;
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
  cp_launcher_shutdown(launcher_);
  EXPECT_FALSE(Registered("logger", &ep));
  EXPECT_FALSE(Registered("storage", &ep));
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   id.c_str(), principal));
  cp_plugin_status after = Status("logger");
  EXPECT_EQ(CP_PLUGIN_STOPPED, after.state);
  EXPECT_STREQ("", after.runtime_id);
}

TEST_F(InProcessTest, RemovedItIsGoneUntilReplaceStartsItAgain) {
  ASSERT_EQ(0, Create({kLoggerEntry})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  std::string id = Status("logger").runtime_id;
  ASSERT_FALSE(id.empty());

  ASSERT_EQ(0, cp_launcher_remove(launcher_, "logger", err_, sizeof err_))
      << err_;
  cp_registry_endpoint ep;
  EXPECT_FALSE(Registered("logger", &ep));
  char principal[CP_PRINCIPAL_MAX + 1];
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   id.c_str(), principal));
  EXPECT_EQ(CP_PLUGIN_STOPPED, Status("logger").state);
  EXPECT_STREQ("removed", Status("logger").reason);
  cp_client *c = nullptr;
  EXPECT_EQ(CP_ESTATE, cp_launcher_dispense(launcher_, "logger", &c));

  // Replace starts it again: a new instance, identity and address.
  ASSERT_EQ(
      0, cp_launcher_replace(launcher_, "logger", nullptr, err_, sizeof err_))
      << err_;
  cp_plugin_status st = Status("logger");
  EXPECT_EQ(CP_PLUGIN_RUNNING, st.state) << st.reason;
  EXPECT_STREQ("inproc:logger/1", st.endpoint);
  EXPECT_NE(id, st.runtime_id);
  ASSERT_TRUE(Registered("logger", &ep));
  EXPECT_STREQ("inproc:logger/1", ep.base_url);
  EXPECT_EQ(2, logger_.started.load());
  ASSERT_EQ(0, cp_launcher_dispense(launcher_, "logger", &c));
  EXPECT_EQ(CP_STATUS_OK, Log(c, "again").code);

  // Stopping the launcher stops it like any.
  cp_launcher_shutdown(launcher_);
  EXPECT_EQ(CP_PLUGIN_STOPPED, Status("logger").state);
  EXPECT_FALSE(Registered("logger", &ep));
}

// Blue-green to another compiled-in version while storage keeps logging
// through the router: every call answered, the new version gets the calls
// once it is current, the old identity is revoked.
TEST_F(InProcessTest, ReplacedBlueGreenByAnotherCompiledInVersion) {
  ASSERT_EQ(0, Create({StorageEntry(), kLoggerEntry})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  std::string old_id = Status("logger").runtime_id;
  ASSERT_EQ(CP_STATUS_OK, Store("before").code);
  ASSERT_TRUE(cp_test::WaitFor("a routed log call to logger v1",
                               [&] { return loggers_[0].routed.load() > 0; }));

  // An unknown version is refused and changes nothing.
  EXPECT_EQ(CP_ENOTFOUND, cp_launcher_replace(launcher_, "logger", "logger-v9",
                                              err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "logger-v9")) << err_;
  EXPECT_EQ(old_id, Status("logger").runtime_id);

  // (The refused attempt used generation 1.) Storage logs through the
  // router all along.
  std::atomic<bool> done{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::thread load([&] {
    while (!done.load()) {
      cp_status st = Store("during");
      if (st.code == CP_STATUS_OK) {
        ok++;
      } else if (failed++ == 0) {
        first_failure = st.message;
      }
    }
  });
  ASSERT_TRUE(cp_test::WaitFor("calls under way", [&] { return ok > 3; }));
  ASSERT_EQ(0, cp_launcher_replace(launcher_, "logger", "logger-v2", err_,
                                   sizeof err_))
      << err_;
  int ok_at_switch = ok.load();
  ASSERT_TRUE(cp_test::WaitFor("calls after the switch",
                               [&] { return ok > ok_at_switch + 3; }));
  done = true;
  load.join();
  EXPECT_EQ(0, failed.load()) << first_failure;

  cp_plugin_status st = Status("logger");
  EXPECT_EQ(CP_PLUGIN_RUNNING, st.state) << st.reason;
  EXPECT_STREQ("inproc:logger/2", st.endpoint);
  EXPECT_EQ(1, loggers_[1].started.load());
  char principal[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(0, cp_token_store_principal(cp_host_tokens(host_), st.runtime_id,
                                        principal));
  EXPECT_STREQ("launch:logger/2", principal);
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   old_id.c_str(), principal));
  cp_registry_endpoint ep;
  ASSERT_TRUE(Registered("logger", &ep));
  EXPECT_STREQ("inproc:logger/2", ep.base_url);
  EXPECT_STREQ(st.runtime_id, ep.provider_id);

  // Storage's log calls now reach v2 only (they are asynchronous: wait).
  int v1 = loggers_[0].routed.load();
  ASSERT_EQ(CP_STATUS_OK, Store("after").code);
  ASSERT_TRUE(cp_test::WaitFor("a routed log call to logger v2",
                               [&] { return loggers_[1].routed.load() > 0; }));
  int v2 = loggers_[1].routed.load();
  ASSERT_EQ(CP_STATUS_OK, Store("after2").code);
  ASSERT_TRUE(cp_test::WaitFor("the next one to v2 too",
                               [&] { return loggers_[1].routed.load() > v2; }));
  EXPECT_EQ(v1, loggers_[0].routed.load());
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("storage").state);

  // NULL: a fresh instance of what it runs now (v2).
  ASSERT_EQ(
      0, cp_launcher_replace(launcher_, "logger", nullptr, err_, sizeof err_))
      << err_;
  EXPECT_EQ(2, loggers_[1].started.load());
  EXPECT_STREQ("inproc:logger/3", Status("logger").endpoint);
}

// The host closes idle connections (here after 100 ms); the in-process
// runtime's links to it dial again instead of failing for good: its
// heartbeats keep arriving over new connections, it stays HEALTHY, and its
// routed calls work over a new connection too.
TEST_F(InProcessTest, ItsLinksToTheHostSurviveTheHostsIdleLimit) {
  MakeHost(true, 100);
  ASSERT_EQ(0, Create({StorageEntry(), kLoggerEntry})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  cp_plugin_runtime *rt = logger_.rt.load();
  ASSERT_NE(nullptr, rt);
  cp_client *storage = nullptr;
  ASSERT_EQ(0, cp_plugin_runtime_route(rt, "storage", &storage));
  const std::string store = "/storage.v1.Storage/Store";
  ASSERT_EQ(CP_STATUS_OK, StoreOn(storage, "one").code);
  std::vector<std::string> routed = host_calls_.Peers(store);
  ASSERT_EQ(1u, routed.size());
  // Two heartbeats over connections dialled after that call: each of those
  // stayed idle past the limit, as the routed link did meanwhile.
  const std::string report = "/connectplugin.v1.PluginLifecycle/ReportHealth";
  size_t before = host_calls_.Peers(report).size();
  ASSERT_TRUE(cp_test::WaitFor(
      "heartbeats over two new connections",
      [&] { return host_calls_.Peers(report).size() >= before + 2; },
      [&] { return std::to_string(host_calls_.Peers(report).size()); }));
  EXPECT_EQ(CP_PLUGIN_HEALTH_HEALTHY, Status("logger").health);
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("logger").state);
  cp_status st = StoreOn(storage, "two");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  routed = host_calls_.Peers(store);
  ASSERT_EQ(2u, routed.size());
  EXPECT_NE(routed[0], routed[1]);
  EXPECT_EQ(0u, routed[1].rfind("inproc:", 0)) << routed[1];
}

// Added at run time to a launcher whose manifest lists no in-process
// plugin: it serves, and the router reaches it (storage, added after it,
// logs through it).
TEST_F(InProcessTest, AddedAtRunTimeItIsRoutable) {
  ASSERT_EQ(0, Create({})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  ASSERT_EQ(0, cp_launcher_add(launcher_, kLoggerEntry, err_, sizeof err_))
      << err_;
  cp_plugin_status lg = Status("logger");
  EXPECT_EQ(CP_PLUGIN_RUNNING, lg.state) << lg.reason;
  EXPECT_STREQ("inproc:logger", lg.endpoint);
  ASSERT_EQ(
      0, cp_launcher_add(launcher_, StorageEntry().c_str(), err_, sizeof err_))
      << err_;
  ASSERT_EQ(CP_STATUS_OK, Store("added").code);
  ASSERT_TRUE(cp_test::WaitFor("storage's log call to reach the added logger",
                               [&] { return logger_.routed.load() > 0; }));
}

// "inproc:<name>" is the launcher's to give: a plugin that joins on its
// own and claims it (to have the router send its calls into the logger)
// is refused, while the launcher's logger keeps its registration.
TEST_F(InProcessTest, NoOtherRuntimeMayClaimAnInprocAddress) {
  ASSERT_EQ(0, Create({kLoggerEntry})) << err_;
  ASSERT_EQ(0, cp_launcher_start(launcher_, err_, sizeof err_)) << err_;
  for (const char *claim : {"inproc:logger", "inproc:logger/1", "inproc:x"}) {
    cp_service_decl provides[] = {{"rogue", "1.0.0", "/"}};
    cp_plugin_runtime_options o;
    cp_plugin_runtime_options_init(&o);
    o.host_url = host_url_.c_str();
    o.self_id = "rogue";
    o.base_url = claim;
    o.provides = provides;
    o.provides_count = 1;
    cp_plugin_runtime *rt = nullptr;
    cp_status st;
    EXPECT_NE(0, cp_plugin_runtime_start(&rt, &o, &st)) << claim;
    EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << claim << st.message;
    EXPECT_NE(nullptr, strstr(st.message, "inproc:")) << st.message;
    cp_plugin_runtime_destroy(rt);
  }
  cp_registry_endpoint ep;
  EXPECT_FALSE(Registered("rogue", &ep));
  ASSERT_TRUE(Registered("logger", &ep));
  EXPECT_STREQ("inproc:logger", ep.base_url);
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
  MakeHost(false, -1);
  ASSERT_EQ(0, Create({kLoggerEntry})) << err_;
  EXPECT_NE(0, cp_launcher_start(launcher_, err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "in-process")) << err_;
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("logger").state);
  EXPECT_EQ(0u, cp_token_store_count(cp_host_tokens(host_)));
  cp_launcher_shutdown(launcher_);
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("logger").state);
}

}  // namespace
