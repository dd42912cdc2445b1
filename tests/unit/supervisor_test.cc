// Supervising a plugin process (runtime/src/launch/supervisor.h): restarts
// per policy, crash loops, stop during a backoff, the unhealthy hook, a first
// start that fails, and the backoff computation. Real processes: the child is
// tests/support/proc_child.c.
#include <gtest/gtest.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "launch/supervisor.h"
#include "process.h"
}
#include "wait.h"

#ifndef PROC_CHILD_PATH
#define PROC_CHILD_PATH "tests/proc_child"
#endif

namespace {

const char *ChildPath() {
  return test_program_path("CPLUGIN_PROC_CHILD", PROC_CHILD_PATH);
}

std::mutex g_log_mu;
std::vector<std::string> g_log_lines;

void CaptureLog(const char *line, size_t len, void *) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log_lines.emplace_back(line, len);
}

bool Logged(const std::string &needle) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  for (const std::string &l : g_log_lines) {
    if (l.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

bool Gone(pid_t pid) {
  return kill(pid, 0) != 0 && errno == ESRCH;
}

struct Event {
  sup_state state;
  std::string reason;
  std::string address;
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Errors only: the children's output is not checked.
    {
      std::lock_guard<std::mutex> lock(g_log_mu);
      g_log_lines.clear();
    }
    cp_log_set_format(CP_LOG_FORMAT_TEXT);
    cp_log_set_level(CP_LOG_ERROR);
    cp_log_set_sink(CaptureLog, nullptr);
  }

  void TearDown() override {
    cpi_sup_destroy(sup_);
    cp_log_set_sink(nullptr, nullptr);
    cp_log_set_level(CP_LOG_INFO);
  }

  static void OnState(sup *, sup_state state, const char *reason,
                      const proc_endpoint *ep, void *user) {
    auto *t = static_cast<SupervisorTest *>(user);
    std::lock_guard<std::mutex> lock(t->mu_);
    t->events_.push_back({state, reason, ep != nullptr ? ep->address : ""});
  }

  sup_options Options(std::vector<std::string> args,
                      manifest_restart_policy policy) {
    args_ = {ChildPath()};
    args_.insert(args_.end(), args.begin(), args.end());
    argv_.clear();
    for (const std::string &a : args_) {
      argv_.push_back(a.c_str());
    }
    argv_.push_back(nullptr);
    sup_options o;
    cpi_sup_options_init(&o);
    o.proc.name = "child";
    o.proc.path = ChildPath();
    o.proc.argv = argv_.data();
    o.proc.ready_timeout_ms = test_wait_ms();
    o.restart.policy = policy;
    o.restart.backoff_initial_ms = 10;
    o.restart.backoff_max_ms = 50;
    o.on_state = OnState;
    o.user = this;
    return o;
  }

  // Creates and starts; returns the start's result.
  int Start(const sup_options &o, std::string *err_out = nullptr) {
    char err[256] = "";
    int rc = cpi_sup_create(&o, &sup_, err, sizeof err);
    EXPECT_EQ(0, rc) << err;
    if (rc != 0) {
      return rc;
    }
    rc = cpi_sup_start(sup_, &endpoint_, err, sizeof err);
    if (err_out != nullptr) {
      *err_out = err;
    }
    return rc;
  }

  int Count(sup_state state) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Event &e : events_) {
      n += e.state == state ? 1 : 0;
    }
    return n;
  }

  Event Last() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.empty() ? Event{SUP_CREATED, "", ""} : events_.back();
  }

  std::string Seen() {
    return std::string(cpi_sup_state_name(cpi_sup_get_state(sup_))) +
           " restarts=" + std::to_string(cpi_sup_restart_count(sup_)) +
           " pid=" + std::to_string(cpi_sup_pid(sup_));
  }

  ::testing::AssertionResult WaitState(sup_state state) {
    return cp_test::WaitFor(
        std::string("state ") + cpi_sup_state_name(state),
        // The state changes just before on_state reports it: wait for both.
        [&] { return cpi_sup_get_state(sup_) == state && Count(state) > 0; },
        [&] { return Seen(); });
  }

  // Waits until the supervisor is READY again after `restarts` restarts.
  ::testing::AssertionResult WaitRestarted(uint32_t restarts) {
    return cp_test::WaitFor(
        "READY after " + std::to_string(restarts) + " restart(s)",
        [&] {
          return cpi_sup_restart_count(sup_) == restarts &&
                 cpi_sup_get_state(sup_) == SUP_READY &&
                 Count(SUP_READY) == static_cast<int>(restarts) + 1;
        },
        [&] { return Seen(); });
  }

  sup *sup_ = nullptr;
  proc_endpoint endpoint_{};
  std::mutex mu_;
  std::vector<Event> events_;
  std::vector<std::string> args_;
  std::vector<const char *> argv_;
};

TEST_F(SupervisorTest, SigkillIsRestartedWithANewPid) {
  ASSERT_EQ(0, Start(Options({"ready"}, MANIFEST_RESTART_ON_FAILURE)));
  EXPECT_STREQ("/tmp/proc-child.sock", endpoint_.address);
  EXPECT_EQ(SUP_READY, cpi_sup_get_state(sup_));
  pid_t first = cpi_sup_pid(sup_);
  ASSERT_GT(first, 0);
  ASSERT_EQ(0, kill(-first, SIGKILL));
  ASSERT_TRUE(WaitRestarted(1));
  pid_t second = cpi_sup_pid(sup_);
  EXPECT_GT(second, 0);
  EXPECT_NE(first, second);
  EXPECT_TRUE(Gone(first));
  EXPECT_EQ("/tmp/proc-child.sock", Last().address);
  int code = 0;
  int sig = 0;
  ASSERT_EQ(0, cpi_sup_last_exit(sup_, &code, &sig));
  EXPECT_EQ(-1, code);
  EXPECT_EQ(SIGKILL, sig);
  ASSERT_EQ(0, cpi_sup_stop(sup_, 1000));
  EXPECT_EQ(SUP_STOPPED, cpi_sup_get_state(sup_));
  EXPECT_TRUE(Gone(second));
}

TEST_F(SupervisorTest, OnFailureDoesNotRestartACleanExit) {
  ASSERT_EQ(0,
            Start(Options({"ready-exit", "0"}, MANIFEST_RESTART_ON_FAILURE)));
  ASSERT_TRUE(WaitState(SUP_STOPPED));
  EXPECT_EQ(0u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(0, cpi_sup_pid(sup_));
  EXPECT_NE(std::string::npos, Last().reason.find("exited with status 0"))
      << Last().reason;
}

TEST_F(SupervisorTest, OnFailureRestartsANonZeroExit) {
  sup_options o = Options({"ready-exit", "3"}, MANIFEST_RESTART_ON_FAILURE);
  o.restart.max_restarts = 1;
  ASSERT_EQ(0, Start(o));
  // One restart, then the second exit is over the limit.
  ASSERT_TRUE(WaitState(SUP_FAILED));
  EXPECT_EQ(1u, cpi_sup_restart_count(sup_));
}

TEST_F(SupervisorTest, NeverDoesNotRestart) {
  ASSERT_EQ(0, Start(Options({"ready"}, MANIFEST_RESTART_NEVER)));
  ASSERT_EQ(0, kill(-cpi_sup_pid(sup_), SIGKILL));
  ASSERT_TRUE(WaitState(SUP_STOPPED));
  EXPECT_EQ(0u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(0, Count(SUP_BACKOFF));
}

TEST_F(SupervisorTest, AlwaysRestartsACleanExit) {
  sup_options o = Options({"ready-exit", "0"}, MANIFEST_RESTART_ALWAYS);
  o.restart.max_restarts = 2;
  ASSERT_EQ(0, Start(o));
  ASSERT_TRUE(WaitState(SUP_FAILED));
  EXPECT_EQ(2u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(3, Count(SUP_READY));
}

TEST_F(SupervisorTest, CrashLoopEndsFailedAfterMaxRestarts) {
  sup_options o = Options({"ready-exit", "1"}, MANIFEST_RESTART_ON_FAILURE);
  o.restart.max_restarts = 3;
  o.restart.window_ms = 3600000;
  ASSERT_EQ(0, Start(o));
  ASSERT_TRUE(WaitState(SUP_FAILED));
  EXPECT_EQ(3u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(0, cpi_sup_pid(sup_));
  EXPECT_EQ(4, Count(SUP_READY));
  EXPECT_EQ(3, Count(SUP_BACKOFF));
  EXPECT_EQ(1, Count(SUP_FAILED));
  Event last = Last();
  EXPECT_EQ(SUP_FAILED, last.state);
  EXPECT_NE(std::string::npos, last.reason.find("crash loop")) << last.reason;
  EXPECT_TRUE(Logged("[ERROR]"));
  EXPECT_TRUE(Logged("plugin failed: plugin=child reason=crash loop"));
  // Stays failed: stop does not turn it into STOPPED.
  ASSERT_EQ(0, cpi_sup_stop(sup_, 0));
  EXPECT_EQ(SUP_FAILED, cpi_sup_get_state(sup_));
}

TEST_F(SupervisorTest, RestartsThatNeverBecomeReadyCountAsFailures) {
  char dir[] = "/tmp/sup-test-XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir));
  std::string marker = std::string(dir) + "/started";
  sup_options o = Options({"first-ready", marker}, MANIFEST_RESTART_ON_FAILURE);
  o.restart.max_restarts = 2;
  ASSERT_EQ(0, Start(o));
  ASSERT_EQ(0, kill(-cpi_sup_pid(sup_), SIGKILL));
  // Both restarts exit before their handshake line: the limit is reached.
  ASSERT_TRUE(WaitState(SUP_FAILED));
  EXPECT_EQ(2u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(1, Count(SUP_READY));
  EXPECT_NE(std::string::npos, Last().reason.find("restart failed"))
      << Last().reason;
  EXPECT_EQ(0, cpi_sup_pid(sup_));
  unlink(marker.c_str());
  rmdir(dir);
}

TEST_F(SupervisorTest, StopDuringALongBackoffReturnsAndLeavesNothing) {
  sup_options o = Options({"ready"}, MANIFEST_RESTART_ON_FAILURE);
  o.restart.backoff_initial_ms = 60000;
  o.restart.backoff_max_ms = 60000;
  ASSERT_EQ(0, Start(o));
  pid_t pid = cpi_sup_pid(sup_);
  ASSERT_EQ(0, kill(-pid, SIGKILL));
  ASSERT_TRUE(WaitState(SUP_BACKOFF));
  // A hang guard, not a timing check: cpi_sup_stop must not wait out 30 s+.
  auto stopped =
      std::async(std::launch::async, [&] { return cpi_sup_stop(sup_, 1000); });
  ASSERT_EQ(std::future_status::ready,
            stopped.wait_for(std::chrono::milliseconds(test_wait_ms())))
      << "cpi_sup_stop hung during the backoff";
  EXPECT_EQ(0, stopped.get());
  EXPECT_EQ(SUP_STOPPED, cpi_sup_get_state(sup_));
  EXPECT_EQ(0u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(0, cpi_sup_pid(sup_));
  EXPECT_TRUE(Gone(pid));
}

TEST_F(SupervisorTest, StopStopsARunningPlugin) {
  ASSERT_EQ(0, Start(Options({"ignore-term"}, MANIFEST_RESTART_ALWAYS)));
  pid_t pid = cpi_sup_pid(sup_);
  ASSERT_EQ(0, cpi_sup_stop(sup_, 0));
  EXPECT_TRUE(Gone(pid));
  EXPECT_EQ(SUP_STOPPED, cpi_sup_get_state(sup_));
  EXPECT_EQ(0u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(0, cpi_sup_stop(sup_, 0));  // idempotent
  EXPECT_EQ(CP_ESTATE, cpi_sup_report_unhealthy(sup_, "late"));
}

TEST_F(SupervisorTest, UnhealthyPluginIsRestarted) {
  ASSERT_EQ(0, Start(Options({"ready"}, MANIFEST_RESTART_ON_FAILURE)));
  pid_t first = cpi_sup_pid(sup_);
  ASSERT_EQ(0, cpi_sup_report_unhealthy(sup_, "health probe timed out"));
  ASSERT_TRUE(WaitRestarted(1));
  EXPECT_NE(first, cpi_sup_pid(sup_));
  EXPECT_TRUE(Gone(first));
}

TEST_F(SupervisorTest, FirstStartThatExitsIsAClearError) {
  std::string err;
  EXPECT_EQ(CP_ECLOSED,
            Start(Options({"exit", "3"}, MANIFEST_RESTART_ALWAYS), &err));
  EXPECT_NE(std::string::npos, err.find("child")) << err;
  EXPECT_EQ(SUP_FAILED, cpi_sup_get_state(sup_));
  EXPECT_EQ(0, cpi_sup_pid(sup_));
  EXPECT_EQ(0u, cpi_sup_restart_count(sup_));
  EXPECT_EQ(CP_ESTATE, cpi_sup_start(sup_, nullptr, nullptr, 0));
}

TEST_F(SupervisorTest, FirstStartThatNeverBecomesReadyTimesOut) {
  sup_options o = Options({"never"}, MANIFEST_RESTART_ALWAYS);
  o.proc.ready_timeout_ms = 200;  // short: the child never answers anyway
  std::string err;
  EXPECT_EQ(CP_ETIMEDOUT, Start(o, &err));
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(SUP_FAILED, cpi_sup_get_state(sup_));
  EXPECT_EQ(0, cpi_sup_pid(sup_));
}

TEST_F(SupervisorTest, MissingExecutableIsAClearError) {
  sup_options o = Options({"ready"}, MANIFEST_RESTART_ALWAYS);
  o.proc.path = "/nonexistent/plugin";
  std::string err;
  EXPECT_EQ(CP_ENOTFOUND, Start(o, &err));
  EXPECT_NE(std::string::npos, err.find("/nonexistent/plugin")) << err;
}

TEST_F(SupervisorTest, BadOptionsAreRefused) {
  sup_options o = Options({"ready"}, MANIFEST_RESTART_ALWAYS);
  char err[256] = "";
  sup *s = nullptr;
  o.restart.backoff_max_ms = 1;  // below the initial 10
  EXPECT_EQ(CP_EINVAL, cpi_sup_create(&o, &s, err, sizeof err));
  EXPECT_EQ(nullptr, s);
  EXPECT_NE(std::string::npos, std::string(err).find("backoff")) << err;
  o = Options({"ready"}, MANIFEST_RESTART_ALWAYS);
  o.proc.on_exit = [](proc *, int, int, void *) {};
  EXPECT_EQ(CP_EINVAL, cpi_sup_create(&o, &s, err, sizeof err));
  EXPECT_EQ(CP_EINVAL, cpi_sup_create(nullptr, &s, err, sizeof err));
  EXPECT_EQ(CP_EINVAL, cpi_sup_stop(nullptr, 0));
}

TEST(SupervisorBackoff, DoublesFromInitialUpToTheCap) {
  // random_fraction 1: the full nominal delay.
  EXPECT_EQ(100, cpi_sup_backoff_ms(0, 100, 10000, 1.0));
  EXPECT_EQ(200, cpi_sup_backoff_ms(1, 100, 10000, 1.0));
  EXPECT_EQ(400, cpi_sup_backoff_ms(2, 100, 10000, 1.0));
  EXPECT_EQ(6400, cpi_sup_backoff_ms(6, 100, 10000, 1.0));
  EXPECT_EQ(10000, cpi_sup_backoff_ms(7, 100, 10000, 1.0));
  EXPECT_EQ(10000, cpi_sup_backoff_ms(4000000000u, 100, 10000, 1.0));
}

TEST(SupervisorBackoff, EqualJitterKeepsTheUpperHalf) {
  EXPECT_EQ(50, cpi_sup_backoff_ms(0, 100, 10000, 0.0));
  EXPECT_EQ(75, cpi_sup_backoff_ms(0, 100, 10000, 0.5));
  EXPECT_EQ(5000, cpi_sup_backoff_ms(30, 100, 10000, 0.0));
  for (uint32_t attempt = 0; attempt < 12; attempt++) {
    for (double f : {0.0, 0.1, 0.5, 0.9, 0.999}) {
      int64_t nominal = cpi_sup_backoff_ms(attempt, 100, 10000, 1.0);
      int64_t d = cpi_sup_backoff_ms(attempt, 100, 10000, f);
      EXPECT_GE(d, nominal / 2) << attempt << " " << f;
      EXPECT_LE(d, nominal) << attempt << " " << f;
    }
  }
}

TEST(SupervisorBackoff, OddInputsAreClamped) {
  EXPECT_EQ(0, cpi_sup_backoff_ms(3, 0, 100, 0.5));
  EXPECT_EQ(100, cpi_sup_backoff_ms(3, 100, 10, 1.0));   // max raised
  EXPECT_EQ(50, cpi_sup_backoff_ms(0, 100, 100, -3.0));  // fraction 0
  EXPECT_EQ(100, cpi_sup_backoff_ms(0, 100, 100, 7.0));  // fraction 1
  EXPECT_EQ(50, cpi_sup_backoff_ms(0, 100, 100, std::nan("")));
  int64_t big = INT64_MAX / 2 + 7;
  EXPECT_EQ(big, cpi_sup_backoff_ms(200, big - 1, big, 1.0));
}

}  // namespace
