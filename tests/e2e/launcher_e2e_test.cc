// End to end: a host launches the URL shortener's real plugin binaries from
// a manifest (cplugin/launcher.h) and gives each its identity (Model A);
// calls route through the launched identities; a plugin killed with
// SIGKILL comes back and watchers see it go and return; a crash loop ends
// FAILED; a host killed with SIGKILL leaves no plugin behind; bad manifests
// and lying plugins are refused with nothing left running.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "api/v1/api.cplugin.h"
#include "cplugin/cplugin.h"
#include "process.h"
}
#include "wait.h"

#ifndef LOGGER_PLUGIN_PATH
#define LOGGER_PLUGIN_PATH "examples/urlshortener/logger-plugin"
#define STORAGE_PLUGIN_PATH "examples/urlshortener/storage-plugin"
#define API_PLUGIN_PATH "examples/urlshortener/api-plugin"
#define HOST_PATH "examples/urlshortener/urlshortener-host"
#endif
#ifndef LATE_READY_PLUGIN_PATH
#define LATE_READY_PLUGIN_PATH "tests/late-ready-plugin"
#endif

namespace {

std::string Absolute(const char *env, const char *fallback) {
  char *p = realpath(test_program_path(env, fallback), nullptr);
  std::string s = p != nullptr ? p : fallback;
  free(p);
  return s;
}

std::string Logger() {
  return Absolute("CPLUGIN_LOGGER_PLUGIN", LOGGER_PLUGIN_PATH);
}
std::string Storage() {
  return Absolute("CPLUGIN_STORAGE_PLUGIN", STORAGE_PLUGIN_PATH);
}
std::string Api() {
  return Absolute("CPLUGIN_API_PLUGIN", API_PLUGIN_PATH);
}
std::string LateReady() {
  return Absolute("CPLUGIN_LATE_READY_PLUGIN", LATE_READY_PLUGIN_PATH);
}

// One manifest entry; `extra` is more JSON members (with a leading comma).
std::string Entry(const std::string &name, const std::string &path,
                  const std::string &provides, const std::string &requires,
                  const std::string &extra = "") {
  std::string e = "{\"name\": \"" + name + "\", \"path\": \"" + path + "\"";
  e += ", \"provides\": [{\"type\": \"" + provides +
       "\", \"version\": \"1.0.0\"}]";
  if (!requires.empty()) {
    e += ", \"requires\": [{\"type\": \"" + requires +
         "\", \"required_for_startup\": true, \"watch_for_changes\": true}]";
  }
  return e + extra + "}";
}

std::string LoggerEntry(const std::string &extra = "") {
  return Entry("logger", Logger(), "logger", "", extra);
}
std::string StorageEntry(const std::string &extra = "") {
  return Entry("storage", Storage(), "storage", "logger", extra);
}
std::string ApiEntry() {
  return Entry("api", Api(), "api", "storage");
}

bool Alive(pid_t pid) {
  // A zombie (not yet reaped by whoever inherited it) counts as gone.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() &&
         line[paren + 2] != 'Z';
}

// Records what a watching runtime hears about "storage".
struct Events {
  std::mutex mu;
  std::vector<bool> storage;
  void Add(bool available) {
    std::lock_guard<std::mutex> g(mu);
    storage.push_back(available);
  }
  std::vector<bool> Get() {
    std::lock_guard<std::mutex> g(mu);
    return storage;
  }
  // The last event: 1 available, 0 unavailable, -1 none yet.
  int Last() {
    std::lock_guard<std::mutex> g(mu);
    return storage.empty() ? -1 : storage.back() ? 1 : 0;
  }
};

void OnDependency(const char *type, bool available, const char *, void *user) {
  if (strcmp(type, "storage") == 0) {
    static_cast<Events *>(user)->Add(available);
  }
}

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cplugin-manifest-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
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
  }

  void TearDown() override {
    cp_plugin_runtime_destroy(watcher_);
    cp_launcher_destroy(launcher_);
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
    unlink(manifest_.c_str());
    rmdir(dir_.c_str());
  }

  std::string WriteManifest(const std::vector<std::string> &entries) {
    std::string json = "{\"version\": 1, \"plugins\": [";
    for (size_t i = 0; i < entries.size(); i++) {
      json += (i > 0 ? ", " : "") + entries[i];
    }
    json += "]}";
    manifest_ = dir_ + "/manifest.json";
    std::ofstream(manifest_) << json;
    return manifest_;
  }

  int Create(const std::vector<std::string> &entries) {
    cp_launcher_options lo;
    cp_launcher_options_init(&lo);
    std::string path = WriteManifest(entries);
    lo.manifest_path = path.c_str();
    lo.host_url = host_url_.c_str();
    lo.identity_timeout_ms = test_wait_ms();
    lo.health_interval_ms = health_interval_ms_;
    err_[0] = '\0';
    return cp_launcher_create(&launcher_, host_, &lo, err_, sizeof err_);
  }

  int CreateAndStart(const std::vector<std::string> &entries) {
    int rc = Create(entries);
    if (rc == 0) {
      rc = cp_launcher_start(launcher_, err_, sizeof err_);
    }
    return rc;
  }

  cp_plugin_status Status(const char *name) {
    cp_plugin_status st;
    EXPECT_EQ(0, cp_launcher_plugin_status(launcher_, name, &st));
    return st;
  }

  // Shorten through the dispensed api client: api -> (host router, api's
  // launched identity) -> storage -> (router) -> logger.
  std::string Shorten(const char *url, cp_status *st) {
    cp_client *api = nullptr;
    if (cp_launcher_dispense(launcher_, "api", &api) != 0) {
      return "";
    }
    Api__V1__ShortenRequest req = API__V1__SHORTEN_REQUEST__INIT;
    req.url = const_cast<char *>(url);
    Api__V1__ShortenResponse *resp = nullptr;
    cp_call_options co;
    cp_call_options_init(&co);
    co.timeout_ms = test_wait_ms();
    std::string code;
    if (cp_api__v1__api__shorten__call(api, &req, &resp, &co, st) == 0) {
      code = resp->code;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return code;
  }

  std::string Seen(Events *events) {
    std::string s;
    for (bool b : events->Get()) {
      s += b ? "up " : "down ";
    }
    cp_registry_endpoint ep;
    int rc =
        cp_registry_resolve(cp_host_registry(host_), "storage", nullptr, &ep);
    return s + "; resolve " + std::to_string(rc) + " " +
           (rc == 0 ? ep.provider_id : "");
  }

  std::string Metrics() {
    char *text = nullptr;
    size_t len = 0;
    std::string out;
    if (cp_metric_registry_render(cp_metrics_registry(cp_host_metrics(host_)),
                                  &text, &len) == 0) {
      out.assign(text, len);
      cp_metric_text_free(text);
    }
    return out;
  }

  // A runtime of the test's own that watches "storage".
  void Watch(Events *events) {
    cp_service_dep deps[] = {{"storage", nullptr, false, true}};
    cp_plugin_runtime_options o;
    cp_plugin_runtime_options_init(&o);
    o.host_url = host_url_.c_str();
    o.self_id = "watcher";
    o.requires = deps;
    o.requires_count = 1;
    o.on_dependency = OnDependency;
    o.user = events;
    cp_status st;
    ASSERT_EQ(0, cp_plugin_runtime_start(&watcher_, &o, &st)) << st.message;
  }

  std::string dir_;
  std::string manifest_;
  std::string host_url_;
  cp_host *host_ = nullptr;
  cp_launcher *launcher_ = nullptr;
  cp_plugin_runtime *watcher_ = nullptr;
  // The hung-plugin probe: off unless a test turns it on (a loaded
  // machine must not make the other tests' plugins look hung).
  int64_t health_interval_ms_ = 0;
  char err_[2048] = "";
};

// Listed api first: only a start in dependency order brings all three up
// (a plugin whose startup requirement has no running provider is refused).
TEST_F(LauncherTest, StartsInDependencyOrderAndRoutesThroughLaunchedIds) {
  ASSERT_EQ(0, CreateAndStart({ApiEntry(), StorageEntry(), LoggerEntry()}))
      << err_;
  for (const char *name : {"logger", "storage", "api"}) {
    cp_plugin_status st = Status(name);
    EXPECT_EQ(CP_PLUGIN_RUNNING, st.state) << name << ": " << st.reason;
    EXPECT_GT(st.pid, 0) << name;
    EXPECT_EQ(0u, std::string(st.runtime_id).rfind(std::string(name) + "-", 0))
        << st.runtime_id;
    EXPECT_EQ(CP_PLUGIN_HEALTH_HEALTHY, st.health) << name;
    EXPECT_EQ(0u, std::string(st.endpoint).rfind("unix:/", 0)) << st.endpoint;
  }
  cp_status st;
  cp_status_clear(&st);
  std::string code = Shorten("https://example.com/launched", &st);
  EXPECT_FALSE(code.empty())
      << cp_status_code_name(st.code) << ": " << st.message;
  cp_serving_status serving = CP_SERVING_STATUS_UNKNOWN;
  EXPECT_EQ(0, cp_health_get(cp_host_health(host_), "plugin/api", &serving));
  EXPECT_EQ(CP_SERVING_STATUS_SERVING, serving);
  EXPECT_NE(std::string::npos,
            Metrics().find("cplugin_plugin_up{plugin=\"storage\"} 1"));
  // The identity the host issued is the one registered for the service.
  cp_registry_endpoint ep;
  ASSERT_EQ(
      0, cp_registry_resolve(cp_host_registry(host_), "storage", nullptr, &ep));
  EXPECT_STREQ(Status("storage").runtime_id, ep.provider_id);
}

TEST_F(LauncherTest, KilledPluginRestartsAndWatchersSeeItGoAndReturn) {
  ASSERT_EQ(0, CreateAndStart({LoggerEntry(), StorageEntry()})) << err_;
  Events events;
  Watch(&events);
  ASSERT_TRUE(cp_test::WaitFor(
      "the watcher sees storage available", [&] { return events.Last() == 1; },
      [&] { return std::to_string(events.Get().size()) + " events"; }));
  cp_plugin_status before = Status("storage");
  ASSERT_EQ(0, kill(before.pid, SIGKILL));
  cp_plugin_status now;
  ASSERT_TRUE(cp_test::WaitFor(
      "storage restarted and running under a new identity",
      [&] {
        now = Status("storage");
        return now.state == CP_PLUGIN_RUNNING && now.restarts == 1 &&
               strcmp(now.runtime_id, before.runtime_id) != 0;
      },
      [&] {
        return std::string(cp_plugin_run_state_name(now.state)) + " " +
               now.reason + " restarts " + std::to_string(now.restarts);
      }));
  EXPECT_NE(before.pid, now.pid);
  // The killed identity is gone for good.
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   before.runtime_id, err_));
  ASSERT_TRUE(cp_test::WaitFor(
      "the watcher sees storage unavailable, then available again",
      [&] {
        std::vector<bool> e = events.Get();
        for (size_t i = 1; i + 1 < e.size(); i++) {
          if (e[i - 1] && !e[i] && e.back()) {
            return true;
          }
        }
        return false;
      },
      [&] {
        std::string s;
        for (bool b : events.Get()) {
          s += b ? "up " : "down ";
        }
        return s;
      }));
}

// A plugin that still runs but answers nothing (SIGSTOP) is found by the
// health probe, killed and restarted like a crashed one.
TEST_F(LauncherTest, HungPluginIsKilledAndRestarted) {
  health_interval_ms_ = 100;
  ASSERT_EQ(0, CreateAndStart({LoggerEntry()})) << err_;
  cp_plugin_status before = Status("logger");
  ASSERT_EQ(0, kill(before.pid, SIGSTOP));
  cp_plugin_status now;
  ASSERT_TRUE(cp_test::WaitFor(
      "the hung logger restarted",
      [&] {
        now = Status("logger");
        return now.state == CP_PLUGIN_RUNNING && now.restarts == 1;
      },
      [&] {
        return std::string(cp_plugin_run_state_name(now.state)) + " " +
               now.reason;
      }));
  EXPECT_NE(before.pid, now.pid);
  EXPECT_FALSE(Alive(before.pid));
}

TEST_F(LauncherTest, CrashLoopEndsFailed) {
  ASSERT_EQ(0,
            CreateAndStart({LoggerEntry(
                ", \"restart\": {\"max_restarts\": 1, \"window_ms\": 600000, "
                "\"backoff_initial_ms\": 1, \"backoff_max_ms\": 2}")}))
      << err_;
  ASSERT_EQ(0, kill(Status("logger").pid, SIGKILL));
  cp_plugin_status st;
  ASSERT_TRUE(cp_test::WaitFor(
      "logger back after its one allowed restart",
      [&] {
        st = Status("logger");
        return st.state == CP_PLUGIN_RUNNING && st.restarts == 1;
      },
      [&] { return std::string(cp_plugin_run_state_name(st.state)); }));
  ASSERT_EQ(0, kill(st.pid, SIGKILL));
  ASSERT_TRUE(cp_test::WaitFor(
      "logger FAILED after a second crash",
      [&] {
        st = Status("logger");
        return st.state == CP_PLUGIN_FAILED;
      },
      [&] { return std::string(cp_plugin_run_state_name(st.state)); }));
  EXPECT_EQ(0, st.pid);
  EXPECT_STREQ("", st.runtime_id);
  EXPECT_NE(nullptr, strstr(st.reason, "crash loop")) << st.reason;
  // Visible beyond the log: metrics and the host's health service. They
  // are published right after the state changes, not with it: wait.
  std::string metrics;
  EXPECT_TRUE(cp_test::WaitFor("the failed gauge", [&] {
    metrics = Metrics();
    return metrics.find("cplugin_plugin_failed{plugin=\"logger\"} 1") !=
           std::string::npos;
  })) << metrics;
  EXPECT_NE(std::string::npos,
            metrics.find("cplugin_plugin_up{plugin=\"logger\"} 0"));
  EXPECT_NE(std::string::npos,
            metrics.find("cplugin_plugin_restarts_total{plugin=\"logger\"} 1"));
  cp_serving_status serving = CP_SERVING_STATUS_UNKNOWN;
  EXPECT_TRUE(cp_test::WaitFor("the plugin's health NOT_SERVING", [&] {
    return cp_health_get(cp_host_health(host_), "plugin/logger", &serving) ==
               0 &&
           serving == CP_SERVING_STATUS_NOT_SERVING;
  }));
  cp_client *c = nullptr;
  EXPECT_EQ(CP_ESTATE, cp_launcher_dispense(launcher_, "logger", &c));
  EXPECT_EQ(CP_ENOTFOUND, cp_launcher_dispense(launcher_, "missing", &c));
}

TEST_F(LauncherTest, StopRevokesIdentitiesAndLeavesNoProcess) {
  ASSERT_EQ(0, CreateAndStart({LoggerEntry(), StorageEntry()})) << err_;
  cp_plugin_status logger = Status("logger");
  cp_plugin_status storage = Status("storage");
  cp_launcher_shutdown(launcher_);
  for (const cp_plugin_status &st : {logger, storage}) {
    EXPECT_FALSE(Alive(st.pid)) << st.name;
    EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                     st.runtime_id, err_))
        << st.name;
  }
  // Stopped through PluginControl/Shutdown and its drain: exit status 0
  // leaves the state STOPPED, not a crash.
  EXPECT_EQ(CP_PLUGIN_STOPPED, Status("storage").state);
  cp_registry_endpoint ep;
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_resolve(cp_host_registry(host_),
                                              "storage", nullptr, &ep));
}

TEST_F(LauncherTest, RemoveDrainsTellsWatchersAndRevokes) {
  ASSERT_EQ(0, CreateAndStart({LoggerEntry(), StorageEntry()})) << err_;
  Events events;
  Watch(&events);
  ASSERT_TRUE(cp_test::WaitFor("the watcher sees storage available",
                               [&] { return events.Last() == 1; }));
  cp_plugin_status before = Status("storage");
  ASSERT_EQ(0, cp_launcher_remove(launcher_, "storage", err_, sizeof err_))
      << err_;
  EXPECT_FALSE(Alive(before.pid));
  cp_plugin_status after = Status("storage");
  EXPECT_EQ(CP_PLUGIN_STOPPED, after.state);
  EXPECT_STREQ("removed", after.reason);
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_principal(cp_host_tokens(host_),
                                                   before.runtime_id, err_));
  ASSERT_TRUE(cp_test::WaitFor("the watcher sees storage unavailable",
                               [&] { return events.Last() == 0; }));
  EXPECT_EQ(CP_ESTATE,
            cp_launcher_remove(launcher_, "storage", err_, sizeof err_));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_launcher_remove(launcher_, "nope", err_, sizeof err_));
  // Replace brings a removed plugin back.
  ASSERT_EQ(
      0, cp_launcher_replace(launcher_, "storage", nullptr, err_, sizeof err_))
      << err_;
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("storage").state);
  ASSERT_TRUE(cp_test::WaitFor(
      "the watcher sees storage available again",
      [&] { return events.Last() == 1; }, [&] { return Seen(&events); }));
}

// Blue-green under load: routed calls (api -> storage through the host's
// router) run without a pause while storage is replaced; none may fail.
TEST_F(LauncherTest, ReplaceUnderLoadFailsNoCall) {
  ASSERT_EQ(0, CreateAndStart({LoggerEntry(), StorageEntry(), ApiEntry()}))
      << err_;
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0};
  std::atomic<long> failed{0};
  std::mutex mu;
  std::string first_failure;
  auto load = [&] {
    while (!stop.load()) {
      cp_status st;
      cp_status_clear(&st);
      if (Shorten("https://example.com/under-replace", &st).empty()) {
        std::lock_guard<std::mutex> g(mu);
        if (failed++ == 0) {
          first_failure =
              std::string(cp_status_code_name(st.code)) + ": " + st.message;
        }
      } else {
        ok++;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    threads.emplace_back(load);
  }
  ASSERT_TRUE(cp_test::WaitFor("load running", [&] { return ok >= 200; }));
  cp_plugin_status before = Status("storage");
  int64_t t0 = cp_clock_now_ns(nullptr);
  long ok0 = ok.load();
  int rc =
      cp_launcher_replace(launcher_, "storage", nullptr, err_, sizeof err_);
  long during = ok.load() - ok0;
  double secs = (double)(cp_clock_now_ns(nullptr) - t0) / 1e9;
  long after_replace = ok.load();
  EXPECT_TRUE(cp_test::WaitFor("load after the replacement",
                               [&] { return ok >= after_replace + 200; }));
  stop = true;
  for (auto &t : threads) {
    t.join();
  }
  ASSERT_EQ(0, rc) << err_;
  EXPECT_EQ(0, failed.load()) << first_failure;
  cp_plugin_status now = Status("storage");
  EXPECT_STRNE(before.runtime_id, now.runtime_id);
  EXPECT_FALSE(Alive(before.pid));
  EXPECT_EQ(CP_PLUGIN_RUNNING, now.state);
  RecordProperty("calls_during_replace", std::to_string(during));
  RecordProperty("replace_seconds", std::to_string(secs));
  printf("replace: %ld calls in %.3f s (%.0f calls/s), %ld failed\n", during,
         secs, secs > 0 ? (double)during / secs : 0.0, failed.load());
}

// Plugins added at run time are checked like the manifest's, then started,
// routed, listed, metered and stopped like them.
TEST_F(LauncherTest, AddedAtRunTimeTheyServeAndStopLikeTheOthers) {
  ASSERT_EQ(0, CreateAndStart({LoggerEntry()})) << err_;
  // Api needs storage, which is not there yet.
  EXPECT_EQ(CP_EINVAL,
            cp_launcher_add(launcher_, ApiEntry().c_str(), err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "\"storage\"")) << err_;
  ASSERT_EQ(
      0, cp_launcher_add(launcher_, StorageEntry().c_str(), err_, sizeof err_))
      << err_;
  ASSERT_EQ(0,
            cp_launcher_add(launcher_, ApiEntry().c_str(), err_, sizeof err_))
      << err_;
  EXPECT_EQ(3u, cp_launcher_status(launcher_, nullptr, 0));
  for (const char *name : {"storage", "api"}) {
    cp_plugin_status st = Status(name);
    EXPECT_EQ(CP_PLUGIN_RUNNING, st.state) << name << ": " << st.reason;
    EXPECT_EQ(CP_PLUGIN_HEALTH_HEALTHY, st.health) << name;
  }
  cp_status st;
  cp_status_clear(&st);
  EXPECT_FALSE(Shorten("https://example.com/added", &st).empty())
      << cp_status_code_name(st.code) << ": " << st.message;
  EXPECT_NE(std::string::npos,
            Metrics().find("cplugin_plugin_up{plugin=\"api\"} 1"));
  cp_registry_endpoint ep;
  ASSERT_EQ(
      0, cp_registry_resolve(cp_host_registry(host_), "storage", nullptr, &ep));
  EXPECT_STREQ(Status("storage").runtime_id, ep.provider_id);

  // Refused, nothing changed: a taken name, bad JSON (with its position),
  // an unknown key, an in-process plugin the host does not have.
  EXPECT_EQ(CP_EEXIST, cp_launcher_add(launcher_, StorageEntry().c_str(), err_,
                                       sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "exists already")) << err_;
  EXPECT_EQ(CP_EINVAL,
            cp_launcher_add(launcher_, "{\"name\": ", err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "<entry>:1:")) << err_;
  EXPECT_EQ(CP_EINVAL,
            cp_launcher_add(launcher_,
                            "{\"name\": \"x\", \"path\": \"/bin/true\", "
                            "\"restrat\": {}}",
                            err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "restrat")) << err_;
  EXPECT_EQ(CP_EINVAL,
            cp_launcher_add(launcher_,
                            "{\"name\": \"x\", \"in_process\": \"nothing\"}",
                            err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "nothing")) << err_;
  EXPECT_EQ(CP_EINVAL, cp_launcher_add(launcher_, nullptr, err_, sizeof err_));
  EXPECT_EQ(3u, cp_launcher_status(launcher_, nullptr, 0));

  // One that cannot start stays listed, FAILED, the others untouched.
  EXPECT_NE(0, cp_launcher_add(
                   launcher_,
                   Entry("ghost", "/nonexistent/ghost", "ghost", "").c_str(),
                   err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "/nonexistent/ghost")) << err_;
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("ghost").state);
  EXPECT_EQ(4u, cp_launcher_status(launcher_, nullptr, 0));
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("api").state);

  // Stop: the added ones first, nothing left running.
  std::vector<pid_t> pids;
  for (const char *name : {"logger", "storage", "api"}) {
    pids.push_back(Status(name).pid);
  }
  cp_launcher_shutdown(launcher_);
  for (const char *name : {"logger", "storage", "api"}) {
    EXPECT_EQ(CP_PLUGIN_STOPPED, Status(name).state) << name;
  }
  for (pid_t pid : pids) {
    EXPECT_FALSE(Alive(pid)) << pid;
  }
  EXPECT_EQ(
      CP_ESTATE,
      cp_launcher_add(launcher_, Entry("late", Logger(), "late", "").c_str(),
                      err_, sizeof err_));
}

TEST_F(LauncherTest, ADrainSettleOutOfRangeIsRefused) {
  std::string path = WriteManifest({LoggerEntry()});
  for (int64_t bad : {int64_t{-1}, int64_t{60001}}) {
    cp_launcher_options lo;
    cp_launcher_options_init(&lo);
    lo.manifest_path = path.c_str();
    lo.host_url = host_url_.c_str();
    lo.drain_settle_ms = bad;
    cp_launcher *l = nullptr;
    EXPECT_EQ(CP_EINVAL, cp_launcher_create(&l, host_, &lo, err_, sizeof err_))
        << bad;
    EXPECT_EQ(nullptr, l);
    EXPECT_NE(nullptr, strstr(err_, "drain_settle_ms")) << err_;
  }
}

TEST_F(LauncherTest, ACycleIsRefusedNamingIt) {
  EXPECT_EQ(CP_EINVAL, Create({Entry("a", Logger(), "alpha", "beta"),
                               Entry("b", Storage(), "beta", "alpha")}));
  EXPECT_NE(nullptr, strstr(err_, "dependency cycle: a -> b -> a")) << err_;
  EXPECT_EQ(nullptr, launcher_);
}

TEST_F(LauncherTest, AnUnprovidedRequirementIsRefused) {
  EXPECT_EQ(CP_EINVAL, Create({StorageEntry()}));
  EXPECT_NE(nullptr, strstr(err_, "\"logger\"")) << err_;
}

// The manifest calls it "store2"; the binary answers GetPluginInfo as
// "storage": refused, killed, and the plugins that need it never start.
TEST_F(LauncherTest, APluginAnsweringWithAnotherNameIsRefused) {
  ASSERT_EQ(0, Create({LoggerEntry(),
                       Entry("store2", Storage(), "storage", "logger")}))
      << err_;
  EXPECT_NE(0, cp_launcher_start(launcher_, err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "answered GetPluginInfo as \"storage\""))
      << err_;
  cp_plugin_status st = Status("store2");
  EXPECT_EQ(CP_PLUGIN_FAILED, st.state);
  EXPECT_EQ(0, st.pid);
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("logger").state);
  cp_registry_endpoint ep;
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_resolve(cp_host_registry(host_),
                                              "storage", nullptr, &ep));
}

// "slowlog" reports HEALTHY at once but registers "logger" only after its
// on_started, 1.5 s later. RUNNING means routable: the launcher waits for
// the registration, and only then starts storage, which needs a logger.
TEST_F(LauncherTest, RunningOnlyOnceTheManifestsServicesAreRegistered) {
  ASSERT_EQ(0, CreateAndStart({Entry("slowlog", LateReady(), "logger", "",
                                     ", \"args\": [\"slowlog\", \"1500\"]"),
                               StorageEntry()}))
      << err_;
  cp_plugin_status slow = Status("slowlog");
  ASSERT_EQ(CP_PLUGIN_RUNNING, slow.state) << slow.reason;
  cp_registry_endpoint ep;
  EXPECT_EQ(0, cp_registry_resolve(cp_host_registry(host_), "logger",
                                   slow.runtime_id, &ep));
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("storage").state);
}

// The manifest promises "audit"; the logger's GetPluginInfo declares only
// "logger": refused at once, by name, before any identity is issued.
TEST_F(LauncherTest, AProvidesTypeThePluginDoesNotDeclareIsRefused) {
  ASSERT_EQ(0, Create({Entry("logger", Logger(), "audit", "")})) << err_;
  EXPECT_NE(0, cp_launcher_start(launcher_, err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_,
                            "the manifest says it provides \"audit\", its "
                            "GetPluginInfo does not"))
      << err_;
  cp_plugin_status st = Status("logger");
  EXPECT_EQ(CP_PLUGIN_FAILED, st.state);
  EXPECT_EQ(0, st.pid);
}

TEST_F(LauncherTest, AMissingExecutableFailsClearly) {
  ASSERT_EQ(0, Create({LoggerEntry(),
                       Entry("ghost", "/nonexistent/ghost", "ghost", "")}))
      << err_;
  EXPECT_EQ(CP_ENOTFOUND, cp_launcher_start(launcher_, err_, sizeof err_));
  EXPECT_NE(nullptr, strstr(err_, "/nonexistent/ghost")) << err_;
  EXPECT_EQ(CP_PLUGIN_FAILED, Status("ghost").state);
  EXPECT_EQ(CP_PLUGIN_RUNNING, Status("logger").state);
}

// The host process itself is killed with SIGKILL: its plugins die with it
// (PR_SET_PDEATHSIG), however they were doing.
TEST(LauncherHostTest, NoPluginSurvivesAKilledHost) {
  char dir[] = "/tmp/cplugin-manifest-XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir));
  std::string manifest = std::string(dir) + "/manifest.json";
  std::ofstream(manifest) << "{\"version\": 1, \"plugins\": [" << LoggerEntry()
                          << ", " << StorageEntry() << "]}";
  std::string host = Absolute("CPLUGIN_URLSHORTENER_HOST", HOST_PATH);
  char *argv[] = {const_cast<char *>(host.c_str()),
                  const_cast<char *>("--manifest"),
                  const_cast<char *>(manifest.c_str()), nullptr};
  test_process p;
  ASSERT_EQ(0, test_process_start(&p, argv, test_wait_ms()));
  // Its children, from /proc: every process whose parent is the host.
  std::vector<pid_t> plugins;
  DIR *proc = opendir("/proc");
  ASSERT_NE(nullptr, proc);
  for (struct dirent *e; (e = readdir(proc)) != nullptr;) {
    int pid = atoi(e->d_name);
    if (pid <= 0) {
      continue;
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
      continue;
    }
    size_t paren = line.rfind(')');
    int ppid = 0;
    char state = 0;
    if (paren != std::string::npos &&
        sscanf(line.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == p.pid) {
      plugins.push_back(pid);
    }
  }
  closedir(proc);
  ASSERT_EQ(2u, plugins.size());
  ASSERT_EQ(0, kill(p.pid, SIGKILL));
  EXPECT_NE(-1, test_process_stop(&p, SIGKILL, test_wait_ms()));
  // "Checked by PID after 2 s": waited for, up to 2 s.
  EXPECT_TRUE(cp_test::WaitFor(
      "no plugin left within 2 s",
      [&] { return !Alive(plugins[0]) && !Alive(plugins[1]); },
      [&] { return std::string("still alive"); }, 2000));
  unlink(manifest.c_str());
  rmdir(dir);
}

}  // namespace
