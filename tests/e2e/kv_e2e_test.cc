// End to end: the kv-plugin example runs as a real process and is called over
// TCP (127.0.0.1, port 0) and a Unix socket.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "kv_driver.h"
#include "process.h"
}
#include "wait.h"

#ifndef KV_PLUGIN_PATH
#define KV_PLUGIN_PATH "examples/kv/kv-plugin"
#endif

namespace {

enum { kPut = 1, kDelete = 2 };

class KvProcessTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    plugin_path_ = test_program_path("CPLUGIN_KV_PLUGIN", KV_PLUGIN_PATH);
    std::string listen = "127.0.0.1:0";
    if (GetParam()) {
      char path[128];
      ASSERT_EQ(0, test_socket_path("kv.sock", path, sizeof path));
      socket_path_ = path;
      listen = "unix:" + socket_path_;
    }
    Spawn(listen);
  }

  void Spawn(const std::string &listen) {
    std::vector<std::string> args = {plugin_path_, "--listen", listen,
                                     "--grace-ms", "300"};
    std::vector<char *> argv;
    for (auto &a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ASSERT_EQ(0, test_process_start(&proc_, argv.data(), test_wait_ms()))
        << "cannot start " << plugin_path_;
    ASSERT_EQ(0, cp_client_create(&client_, proc_.address, nullptr));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (proc_.pid > 0) {
      int status = test_process_stop(&proc_, SIGTERM, test_wait_ms());
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "plugin exit status " << status;
    }
    if (!socket_path_.empty()) {
      test_socket_path_remove(socket_path_.c_str());
    }
  }

  std::string plugin_path_;
  std::string socket_path_;
  test_process proc_{};
  cp_client *client_ = nullptr;
};

TEST_P(KvProcessTest, PutGetDelete) {
  cp_status st;
  ASSERT_EQ(0, kvd_put(client_, "a", "1", 1, 5000, &st)) << st.message;
  char buf[16];
  size_t len = 0;
  bool found = false;
  ASSERT_EQ(0, kvd_get(client_, "a", buf, sizeof buf, &len, &found, 5000, &st));
  EXPECT_TRUE(found);
  EXPECT_EQ("1", std::string(buf, len));
  ASSERT_EQ(0, kvd_delete(client_, "a", &found, 5000, &st));
  EXPECT_TRUE(found);
  ASSERT_EQ(0, kvd_delete(client_, "a", &found, 5000, &st));
  EXPECT_FALSE(found);
  ASSERT_EQ(0, kvd_get(client_, "a", buf, sizeof buf, &len, &found, 5000, &st));
  EXPECT_FALSE(found);
}

TEST_P(KvProcessTest, EmptyKeyIsInvalidArgument) {
  cp_status st;
  EXPECT_EQ(CP_ERPC, kvd_put(client_, "", "v", 1, 5000, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  bool found = false;
  EXPECT_EQ(CP_ERPC, kvd_delete(client_, "", &found, 5000, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
}

TEST_P(KvProcessTest, UnknownMethodIsUnimplemented) {
  cp_status st;
  EXPECT_EQ(CP_ERPC, kvd_call_unknown(client_, &st));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, st.code);
}

TEST_P(KvProcessTest, UndecodableBytesAreInvalidArgument) {
  cp_status st;
  EXPECT_EQ(CP_ERPC, kvd_get_undecodable(client_, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_NE(nullptr, strstr(st.message, "does not decode")) << st.message;
}

TEST_P(KvProcessTest, OversizedMessageIsResourceExhausted) {
  // The oversized call gets a connection of its own, so that the check below
  // is about the plugin, not about the connection the refusal went over.
  cp_client *big_client = nullptr;
  cp_client_options o;
  cp_client_options_init(&o);
  o.max_message_bytes = 16 * 1024 * 1024;
  o.dedicated_connection = true;
  ASSERT_EQ(0, cp_client_create(&big_client, proc_.address, &o));
  std::string big(5 * 1024 * 1024, 'v');
  cp_status st;
  EXPECT_EQ(CP_ERPC,
            kvd_put(big_client, "big", big.data(), big.size(), 10000, &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code)
      << cp_status_code_name(st.code) << " " << st.message;
  cp_client_destroy(big_client);
  // The plugin is still serving, and did not store the value.
  char value[8];
  size_t len = 0;
  bool found = true;
  EXPECT_EQ(
      0, kvd_get(client_, "big", value, sizeof value, &len, &found, 5000, &st))
      << cp_status_code_name(st.code) << " " << st.message;
  EXPECT_FALSE(found);
  EXPECT_EQ(0, kvd_put(client_, "small", "s", 1, 5000, &st))
      << cp_status_code_name(st.code) << " " << st.message;
}

TEST_P(KvProcessTest, WatchSeesPutsAndDeletesUnderItsPrefix) {
  cp_client_stream *w = nullptr;
  cp_status st;
  ASSERT_EQ(0, kvd_watch_start(client_, "user/", 0, &w, &st)) << st.message;
  int type = -1;
  char key[64];
  ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_EQ(0, type);
  EXPECT_STREQ("_watch_started", key);
  ASSERT_EQ(0, kvd_put(client_, "user/a", "1", 1, 5000, &st));
  ASSERT_EQ(0, kvd_put(client_, "other/b", "2", 1, 5000, &st));
  bool found = false;
  ASSERT_EQ(0, kvd_delete(client_, "user/a", &found, 5000, &st));
  ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_EQ(kPut, type);
  EXPECT_STREQ("user/a", key);
  ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_EQ(kDelete, type);
  EXPECT_STREQ("user/a", key);
  cp_client_stream_destroy(w);
}

TEST_P(KvProcessTest, WatchDeadlineIsDeadlineExceeded) {
  cp_client_stream *w = nullptr;
  cp_status st;
  ASSERT_EQ(0, kvd_watch_start(client_, "", 200, &w, &st));
  int type = -1;
  char key[64];
  ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_EQ(CP_ERPC, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, st.code);
  cp_client_stream_destroy(w);
}

TEST_P(KvProcessTest, ClientCancelsAWatchAndThePluginCarriesOn) {
  for (int round = 0; round < 20; round++) {
    cp_client_stream *w = nullptr;
    cp_status st;
    ASSERT_EQ(0, kvd_watch_start(client_, "", 0, &w, &st));
    int type = -1;
    char key[64];
    ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
    cp_client_stream_cancel(w);
    EXPECT_EQ(CP_ERPC, kvd_watch_next(w, &type, key, sizeof key, &st));
    EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
    cp_client_stream_destroy(w);
  }
  cp_status st;
  EXPECT_EQ(0, kvd_put(client_, "still", "here", 4, 5000, &st));
}

TEST_P(KvProcessTest, ShutdownDuringAWatchEndsItAndThePluginExits) {
  cp_client_stream *w = nullptr;
  cp_status st;
  ASSERT_EQ(0, kvd_watch_start(client_, "", 0, &w, &st));
  int type = -1;
  char key[64];
  ASSERT_EQ(0, kvd_watch_next(w, &type, key, sizeof key, &st));
  auto start = std::chrono::steady_clock::now();
  int status = test_process_stop(&proc_, SIGTERM, test_wait_ms());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(CP_ERPC, kvd_watch_next(w, &type, key, sizeof key, &st));
  EXPECT_NE(CP_STATUS_OK, st.code);
  cp_client_stream_destroy(w);
}

TEST_P(KvProcessTest, ThousandConcurrentCallsFromEightThreads) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 125; i++) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        std::string value = "v" + std::to_string(t * 1000 + i);
        cp_status st;
        if (kvd_put(client_, key.c_str(), value.data(), value.size(), 10000,
                    &st) != 0) {
          failures++;
          continue;
        }
        char buf[32];
        size_t len = 0;
        bool found = false;
        if (kvd_get(client_, key.c_str(), buf, sizeof buf, &len, &found, 10000,
                    &st) != 0 ||
            !found || std::string(buf, len) != value) {
          failures++;
        }
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(0, failures.load());
}

// Every line the host logs.
struct HostLog {
  std::mutex mu;
  std::vector<std::string> lines;
  static void Sink(const char *line, size_t len, void *user) {
    auto *l = static_cast<HostLog *>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->lines.emplace_back(line, len);
  }
  bool Has(const std::string &a, const std::string &b) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto &l : lines) {
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

// A host on a free loopback port and kv-plugin started with --host
// pointing at it.
class KvCapabilityTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (host_ != nullptr) {
      cp_host_shutdown(host_, 0);
      cp_host_destroy(host_);
    }
    cp_log_set_sink(nullptr, nullptr);  // after the host's last line
  }

  void StartHost(bool logger_capability) {
    cp_host_options o;
    cp_host_options_init(&o);
    o.metrics_address = nullptr;
    o.logger_capability = logger_capability;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    host_url_ = "127.0.0.1:" + std::to_string(port);
  }

  // test_process_start's result for kv-plugin --host <the host>.
  int StartPlugin(test_process *proc) {
    std::string path = test_program_path("CPLUGIN_KV_PLUGIN", KV_PLUGIN_PATH);
    std::vector<std::string> args = {path, "--host", host_url_};
    std::vector<char *> argv;
    for (auto &a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    return test_process_start(proc, argv.data(), test_wait_ms());
  }

  HostLog log_;  // every line logged in the process, once a test sets it
  cp_host *host_ = nullptr;
  std::string host_url_;
};

// kv-plugin --host joins a host, asks it for the logger capability and
// logs each Put and Delete through the grant: the lines reach the host's
// log, from another process, with the plugin's runtime ID.
TEST_F(KvCapabilityTest, PutsAndDeletesReachTheHostsLogThroughAGrant) {
  cp_log_set_sink(HostLog::Sink, &log_);
  StartHost(true);
  test_process proc{};
  ASSERT_EQ(0, StartPlugin(&proc));
  cp_client *kv = nullptr;
  ASSERT_EQ(0, cp_client_create(&kv, proc.address, nullptr));
  cp_status st;
  ASSERT_EQ(0, kvd_put(kv, "fruit", "apple", 5, 5000, &st)) << st.message;
  bool found = false;
  ASSERT_EQ(0, kvd_delete(kv, "fruit", &found, 5000, &st)) << st.message;
  EXPECT_TRUE(found);
  EXPECT_TRUE(cp_test::WaitFor("both lines in the host's log", [&] {
    return log_.Has("kv put", "key=fruit") &&
           log_.Has("kv delete", "key=fruit");
  }));
  EXPECT_TRUE(log_.Has("kv put", "runtime_id=kv-"));
  std::string metrics;
  char *text = nullptr;
  size_t len = 0;
  ASSERT_EQ(0, cp_metrics_render(cp_host_metrics(host_), &text, &len));
  metrics.assign(text, len);
  cp_metric_text_free(text);
  EXPECT_NE(std::string::npos,
            metrics.find("cplugin_capability_grants_issued_total 1"));
  cp_client_destroy(kv);
  int status = test_process_stop(&proc, SIGTERM, test_wait_ms());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A host without the logger capability: the plugin says so and exits.
TEST_F(KvCapabilityTest, AHostWithoutTheLoggerIsAStartError) {
  StartHost(false);
  test_process proc{};
  EXPECT_EQ(-1, StartPlugin(&proc));
}

INSTANTIATE_TEST_SUITE_P(Transports, KvProcessTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool> &info) {
                           return info.param ? "UnixSocket" : "Tcp";
                         });

}  // namespace
