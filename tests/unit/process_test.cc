// Launching plugin processes (runtime/src/launch/process.h): what the child
// inherits (environment, descriptors, process group, signals), readiness by
// the handshake line and its failures, captured output in the log, stopping,
// exit reports, and the child dying with its parent. The child is
// tests/support/proc_child.c; its first argument picks its behaviour.
#include <gtest/gtest.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "core/validate.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"
#include "launch/handshake_line.h"
#include "launch/line_splitter.h"
#include "launch/output_log.h"
#include "launch/process.h"
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

// --- the log sink ----------------------------------------------------------

struct LogCapture {
  std::mutex mu;
  std::vector<std::string> lines;
};

LogCapture *g_log = nullptr;

void CaptureLine(const char *line, size_t len, void *) {
  std::lock_guard<std::mutex> lock(g_log->mu);
  g_log->lines.emplace_back(line, len);
}

std::vector<std::string> LogLines() {
  std::lock_guard<std::mutex> lock(g_log->mu);
  return g_log->lines;
}

// One output record of a plugin in the text format:
// "... plugin output: plugin=NAME stream=STREAM line=TEXT[ partial=true]".
struct Output {
  std::string text;
  bool partial = false;
  size_t record_len = 0;
};

std::vector<Output> OutputOf(const std::string &name,
                             const std::string &stream) {
  std::string key =
      "plugin output: plugin=" + name + " stream=" + stream + " line=";
  std::vector<Output> out;
  for (const std::string &l : LogLines()) {
    size_t at = l.find(key);
    if (at == std::string::npos) {
      continue;
    }
    Output o;
    o.text = l.substr(at + key.size());
    o.record_len = l.size();
    const std::string partial = " partial=true";
    if (o.text.size() >= partial.size() &&
        o.text.compare(o.text.size() - partial.size(), partial.size(),
                       partial) == 0) {
      o.text.resize(o.text.size() - partial.size());
      o.partial = true;
    }
    out.push_back(o);
  }
  return out;
}

bool HasOutput(const std::string &name, const std::string &stream,
               const std::string &text) {
  for (const Output &o : OutputOf(name, stream)) {
    if (o.text == text) {
      return true;
    }
  }
  return false;
}

// Output lines of `name` on stdout that start with `prefix`.
std::vector<std::string> OutputWithPrefix(const std::string &name,
                                          const std::string &prefix) {
  std::vector<std::string> out;
  for (const Output &o : OutputOf(name, "stdout")) {
    if (o.text.compare(0, prefix.size(), prefix) == 0) {
      out.push_back(o.text.substr(prefix.size()));
    }
  }
  return out;
}

std::string Dump(const std::string &name) {
  std::string s;
  for (const Output &o : OutputOf(name, "stdout")) {
    s += "\n  stdout: " + o.text.substr(0, 120);
  }
  for (const Output &o : OutputOf(name, "stderr")) {
    s += "\n  stderr: " + o.text.substr(0, 120);
  }
  return s;
}

// --- exits -----------------------------------------------------------------

struct ExitRecord {
  std::mutex mu;
  int calls = 0;
  int code = 0;
  int signal = 0;
};

void RecordExit(proc *, int code, int sig, void *user) {
  auto *r = static_cast<ExitRecord *>(user);
  std::lock_guard<std::mutex> lock(r->mu);
  r->calls++;
  r->code = code;
  r->signal = sig;
}

int Calls(ExitRecord *r) {
  std::lock_guard<std::mutex> lock(r->mu);
  return r->calls;
}

bool Gone(pid_t pid) {
  return kill(pid, 0) != 0 && errno == ESRCH;
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_log = &log_;
    cp_log_set_format(CP_LOG_FORMAT_TEXT);
    cp_log_set_level(CP_LOG_INFO);
    cp_log_set_sink(CaptureLine, nullptr);
  }

  void TearDown() override {
    for (proc *p : procs_) {
      cpi_proc_destroy(p);
    }
    cp_log_set_sink(nullptr, nullptr);
    cp_log_set_format(CP_LOG_FORMAT_TEXT);
    g_log = nullptr;
  }

  // Options for proc_child in `mode` (plus args), reporting to exit_.
  proc_options Options(const char *name, std::vector<std::string> args) {
    args_ = {ChildPath()};
    args_.insert(args_.end(), args.begin(), args.end());
    argv_.clear();
    for (const std::string &a : args_) {
      argv_.push_back(a.c_str());
    }
    argv_.push_back(nullptr);
    proc_options o;
    cpi_proc_options_init(&o);
    o.name = name;
    o.path = ChildPath();
    o.argv = argv_.data();
    o.ready_timeout_ms = test_wait_ms();
    o.on_exit = RecordExit;
    o.user = &exit_;
    return o;
  }

  proc *Spawn(const proc_options &o) {
    proc *p = nullptr;
    char err[256] = "";
    int rc = cpi_proc_spawn(&o, &p, err, sizeof err);
    EXPECT_EQ(0, rc) << cp_err_name(rc) << ": " << err;
    if (p != nullptr) {
      procs_.push_back(p);
    }
    return p;
  }

  void Destroy(proc *p) {
    for (auto it = procs_.begin(); it != procs_.end(); ++it) {
      if (*it == p) {
        procs_.erase(it);
        break;
      }
    }
    cpi_proc_destroy(p);
  }

  ::testing::AssertionResult WaitExit() {
    return cp_test::WaitFor(
        "on_exit", [&] { return Calls(&exit_) > 0; },
        [&] { return std::to_string(Calls(&exit_)); });
  }

  // Spawns, expects the start to fail with `want`, returns the message.
  std::string FailedStart(const proc_options &o, int want) {
    proc *p = Spawn(o);
    if (p == nullptr) {
      return "";
    }
    pid_t pid = cpi_proc_pid(p);
    char err[256] = "";
    EXPECT_EQ(want, cpi_proc_wait_ready(p, nullptr, err, sizeof err)) << err;
    // The child was reaped before cpi_proc_wait_ready returned.
    EXPECT_TRUE(cp_test::WaitFor("the child's pid to be gone",
                                 [&] { return Gone(pid); }));
    EXPECT_TRUE(WaitExit());
    return err;
  }

  LogCapture log_;
  ExitRecord exit_;
  std::vector<proc *> procs_;
  std::vector<std::string> args_;
  std::vector<const char *> argv_;
};

// --- readiness and output --------------------------------------------------

TEST_F(ProcessTest, BecomesReadyAndLogsItsOutputUnderItsName) {
  proc_options o = Options("greeter", {"ready", "/tmp/greeter.sock"});
  proc *p = Spawn(o);
  ASSERT_NE(nullptr, p);
  proc_endpoint ep;
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(p, &ep, err, sizeof err)) << err;
  EXPECT_EQ(PROC_NETWORK_UNIX, ep.network);
  EXPECT_STREQ("/tmp/greeter.sock", ep.address);
  // stdout is read in order: its line before the handshake is logged.
  EXPECT_TRUE(HasOutput("greeter", "stdout", "hello stdout"))
      << Dump("greeter");
  EXPECT_TRUE(cp_test::WaitFor(
      "the stderr line in the log",
      [&] { return HasOutput("greeter", "stderr", "hello stderr"); },
      [&] { return Dump("greeter"); }));
  for (const std::string &l : LogLines()) {
    EXPECT_EQ(std::string::npos, l.find("cplugin|1|")) << "logged: " << l;
  }
  EXPECT_EQ(0, Calls(&exit_));
}

TEST_F(ProcessTest, GarbageBeforeTheHandshakeIsLoggedAsValidText) {
  cp_log_set_format(CP_LOG_FORMAT_JSON);
  proc *p = Spawn(Options("junk", {"garbage"}));
  ASSERT_NE(nullptr, p);
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, err, sizeof err)) << err;
  std::vector<std::string> records;
  for (const std::string &l : LogLines()) {
    if (l.find("\"plugin\":\"junk\"") != std::string::npos) {
      records.push_back(l);
    }
  }
  ASSERT_EQ(3u, records.size());
  for (const std::string &r : records) {
    EXPECT_TRUE(cpi_utf8_valid(r.data(), r.size())) << r;
    for (unsigned char c : r) {
      EXPECT_GE(c, 0x20) << r;
    }
    EXPECT_EQ('}', r.back());
  }
  EXPECT_NE(std::string::npos,
            records[0].find("\"line\":\"some garbage before the handshake\""));
  // \xff, \xfe and the cut sequence \xe2\x82 become U+FFFD, \x01 becomes '?'.
  EXPECT_NE(std::string::npos,
            records[1].find("bad utf8 \xEF\xBF\xBD\xEF\xBF\xBD here, control ? "
                            "byte, cut \xEF\xBF\xBD\xEF\xBF\xBD\""))
      << records[1];
  EXPECT_NE(std::string::npos, records[2].find("valid utf8 \xe2\x82\xac euro"));
}

TEST_F(ProcessTest, FloodIsLoggedInBoundedPiecesAndKeepsBeingRead) {
  const long bytes = 3L << 20;
  proc *p = Spawn(Options("flood", {"flood", std::to_string(bytes)}));
  ASSERT_NE(nullptr, p);
  char err[256] = "";
  // The handshake comes after 3 MiB without a newline: it only arrives if
  // the pipe is read all along.
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, err, sizeof err)) << err;
  std::vector<Output> pieces = OutputOf("flood", "stdout");
  ASSERT_FALSE(pieces.empty());
  long total = 0;
  for (size_t i = 0; i < pieces.size(); i++) {
    const Output &o = pieces[i];
    ASSERT_LE(o.text.size(), static_cast<size_t>(PROC_LINE_MAX_BYTES));
    ASSERT_LT(o.record_len, 4096u);
    ASSERT_EQ(std::string::npos, o.text.find_first_not_of('x'));
    EXPECT_EQ(i + 1 < pieces.size(), o.partial) << "piece " << i;
    total += static_cast<long>(o.text.size());
  }
  EXPECT_EQ(bytes, total);  // cut, not truncated: nothing lost
  EXPECT_EQ(static_cast<size_t>((bytes + PROC_LINE_MAX_BYTES - 1) /
                                PROC_LINE_MAX_BYTES),
            pieces.size());
}

// --- what the child inherits -----------------------------------------------

TEST_F(ProcessTest, EnvironmentIsOnlyTheAllowedAndTheSetVariables) {
  setenv("PROC_TEST_ALLOWED", "passed", 1);
  setenv("PROC_TEST_SECRET", "must-not-leak", 1);
  setenv("PROC_TEST_OVERRIDDEN", "host-value", 1);
  unsetenv("PROC_TEST_UNSET");
  const char *allow[] = {"PROC_TEST_ALLOWED", "PROC_TEST_UNSET",
                         "PROC_TEST_OVERRIDDEN", nullptr};
  const char *set[] = {"CPLUGIN_HOST=unix:/run/host.sock",
                       "CPLUGIN_LAUNCH_SECRET=s3cret",
                       "PROC_TEST_OVERRIDDEN=explicit", nullptr};
  proc_options o = Options("envcheck", {"env"});
  o.env_allow = allow;
  o.env_set = set;
  ASSERT_NE(nullptr, Spawn(o));
  ASSERT_TRUE(WaitExit());
  std::vector<std::string> env = OutputWithPrefix("envcheck", "ENV ");
  std::set<std::string> got(env.begin(), env.end());
  std::set<std::string> want = {
      "PROC_TEST_ALLOWED=passed", "CPLUGIN_HOST=unix:/run/host.sock",
      "CPLUGIN_LAUNCH_SECRET=s3cret", "PROC_TEST_OVERRIDDEN=explicit"};
  EXPECT_EQ(want, got) << Dump("envcheck");
  EXPECT_EQ(want.size(), env.size());
  // The host has PATH and the test's own variables; none of them went.
  ASSERT_NE(nullptr, getenv("PATH"));
  unsetenv("PROC_TEST_ALLOWED");
  unsetenv("PROC_TEST_SECRET");
  unsetenv("PROC_TEST_OVERRIDDEN");
}

TEST_F(ProcessTest, NoDescriptorBeyondStdioIsInherited) {
  // Descriptors without close-on-exec, as careless host code leaves them.
  int leaked = open("/dev/null", O_RDONLY);
  int leaked_pipe[2];
  ASSERT_EQ(0, pipe(leaked_pipe));
  ASSERT_GE(leaked, 3);
  ASSERT_NE(nullptr, Spawn(Options("fdcheck", {"fds"})));
  ASSERT_TRUE(WaitExit());
  close(leaked);
  close(leaked_pipe[0]);
  close(leaked_pipe[1]);
  std::vector<std::string> fds = OutputWithPrefix("fdcheck", "FD ");
  std::set<std::string> numbers;
  for (const std::string &f : fds) {
    numbers.insert(f.substr(0, f.find(' ')));
  }
  EXPECT_EQ((std::set<std::string>{"0", "1", "2"}), numbers) << Dump("fdcheck");
  EXPECT_EQ(1, std::count(fds.begin(), fds.end(), "0 /dev/null"))
      << Dump("fdcheck");
}

TEST_F(ProcessTest, ChildLeadsItsOwnProcessGroup) {
  proc *p = Spawn(Options("grouped", {"pgid"}));
  ASSERT_NE(nullptr, p);
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, err, sizeof err)) << err;
  std::vector<std::string> ids = OutputWithPrefix("grouped", "PGID ");
  ASSERT_EQ(1u, ids.size()) << Dump("grouped");
  int pgid = 0;
  int pid = 0;
  ASSERT_EQ(2, sscanf(ids[0].c_str(), "%d PID %d", &pgid, &pid));
  EXPECT_EQ(cpi_proc_pid(p), pid);
  EXPECT_EQ(pid, pgid);
  EXPECT_NE(getpgrp(), pgid);
}

TEST_F(ProcessTest, SignalsAreDefaultAndUnblockedInTheChild) {
  // The host ignores one signal and blocks another; the child must not.
  struct sigaction ignore = {};
  struct sigaction old_usr1 = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(0, sigaction(SIGUSR1, &ignore, &old_usr1));
  sigset_t usr2;
  sigset_t old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);
  proc *p = Spawn(Options("signals", {"sigstate"}));
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  ASSERT_NE(nullptr, p);
  ASSERT_TRUE(WaitExit());
  // "SigBlk:\t<hex mask>"; the text log format shows the tab as '?'.
  std::vector<std::string> blocked = OutputWithPrefix("signals", "SigBlk:");
  std::vector<std::string> ignored = OutputWithPrefix("signals", "SigIgn:");
  ASSERT_EQ(1u, blocked.size()) << Dump("signals");
  ASSERT_EQ(1u, ignored.size()) << Dump("signals");
  EXPECT_EQ("0000000000000000", blocked[0].substr(1));
  EXPECT_EQ("0000000000000000", ignored[0].substr(1));
}

// --- starts that fail ------------------------------------------------------

TEST_F(ProcessTest, MissingExecutableIsNotFound) {
  proc_options o = Options("missing", {});
  o.path = "/nonexistent/cplugin/plugin";
  o.argv = nullptr;
  proc *p = nullptr;
  char err[256] = "";
  EXPECT_EQ(CP_ENOTFOUND, cpi_proc_spawn(&o, &p, err, sizeof err));
  EXPECT_EQ(nullptr, p);
  EXPECT_STREQ(
      "plugin missing: /nonexistent/cplugin/plugin: No such file or directory",
      err);
  EXPECT_EQ(0, Calls(&exit_));
}

TEST_F(ProcessTest, NonExecutableFileIsDenied) {
  char path[] = "/tmp/cplugin-proc-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(7, write(fd, "#!/bin/", 7));
  close(fd);
  ASSERT_EQ(0, chmod(path, 0644));
  proc_options o = Options("noexec", {});
  o.path = path;
  o.argv = nullptr;
  proc *p = nullptr;
  char err[256] = "";
  EXPECT_EQ(CP_EDENIED, cpi_proc_spawn(&o, &p, err, sizeof err));
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ("plugin noexec: " + std::string(path) + ": Permission denied",
            std::string(err));
  unlink(path);
}

TEST_F(ProcessTest, BadOptionsAreRefusedWithAReason) {
  struct Case {
    const char *name;
    const char *path;
    int timeout_ms;
    const char *env_set;
    const char *env_allow;
    const char *want;
  };
  const Case cases[] = {
      {nullptr, "/bin/true", 1000, nullptr, nullptr, "plugin name must be"},
      {"9lives", "/bin/true", 1000, nullptr, nullptr, "plugin name must be"},
      {"ok", nullptr, 1000, nullptr, nullptr, "plugin ok: no executable path"},
      {"ok", "/bin/true", 0, nullptr, nullptr,
       "plugin ok: ready_timeout_ms must be > 0"},
      {"ok", "/bin/true", 1000, "NOEQUALS", nullptr,
       "plugin ok: env_set entry is not NAME=VALUE: \"NOEQUALS\""},
      {"ok", "/bin/true", 1000, "=x", nullptr,
       "plugin ok: env_set entry is not NAME=VALUE"},
      {"ok", "/bin/true", 1000, nullptr, "A=B",
       "plugin ok: env_allow entry is not a variable name: \"A=B\""},
  };
  for (const Case &c : cases) {
    proc_options o;
    cpi_proc_options_init(&o);
    o.name = c.name;
    o.path = c.path;
    o.ready_timeout_ms = c.timeout_ms;
    const char *set[] = {c.env_set, nullptr};
    const char *allow[] = {c.env_allow, nullptr};
    o.env_set = set;
    o.env_allow = allow;
    proc *p = nullptr;
    char err[256] = "";
    EXPECT_EQ(CP_EINVAL, cpi_proc_spawn(&o, &p, err, sizeof err)) << c.want;
    EXPECT_EQ(nullptr, p);
    EXPECT_EQ(0u, std::string(err).find(c.want)) << err;
  }
  proc_options o;
  cpi_proc_options_init(&o);
  o.name = "dup";
  o.path = "/bin/true";
  const char *twice[] = {"A=1", "B=2", "A=3", nullptr};
  o.env_set = twice;
  proc *p = nullptr;
  char err[256] = "";
  EXPECT_EQ(CP_EINVAL, cpi_proc_spawn(&o, &p, err, sizeof err));
  EXPECT_STREQ("plugin dup: env_set names a variable twice: \"A=3\"", err);
  EXPECT_EQ(CP_EINVAL, cpi_proc_spawn(nullptr, &p, err, sizeof err));
  EXPECT_EQ(CP_EINVAL, cpi_proc_spawn(&o, nullptr, err, sizeof err));
}

TEST_F(ProcessTest, NoHandshakeInTimeKillsAndReapsTheChild) {
  proc_options o = Options("sleepy", {"never"});
  o.ready_timeout_ms = 200;
  std::string err = FailedStart(o, CP_ETIMEDOUT);
  EXPECT_EQ("plugin sleepy: no handshake line within 200 ms", err);
  std::lock_guard<std::mutex> lock(exit_.mu);
  EXPECT_EQ(1, exit_.calls);
  EXPECT_EQ(SIGKILL, exit_.signal);
}

TEST_F(ProcessTest, ExitBeforeTheHandshakeFailsTheStart) {
  std::string err = FailedStart(Options("quitter", {"exit", "3"}), CP_ECLOSED);
  EXPECT_EQ("plugin quitter: exited with code 3 before its handshake line",
            err);
  std::lock_guard<std::mutex> lock(exit_.mu);
  EXPECT_EQ(3, exit_.code);
  EXPECT_EQ(0, exit_.signal);
}

TEST_F(ProcessTest, MalformedHandshakeLinesFailTheStart) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cplugin|2|unix|/tmp/x.sock", "unsupported version \"2\""},
      {"cplugin|1|udp|127.0.0.1:5", "neither \"unix\" nor \"tcp\""},
      {"cplugin|1|unix", "expected cplugin|<version>|<network>|<address>"},
      {"cplugin|1|unix|relative.sock", "absolute path"},
      {"cplugin|1|tcp|127.0.0.1:70000", "host:port"},
      {"cplugin|1|tcp|127.0.0.1:5|extra", "more than four fields"},
      {"cplugin|1|tcp|", "empty address"},
      {"cplugin|1|unix|/" + std::string(2000, 'a'), "longer than 1024 bytes"},
  };
  for (const auto &c : cases) {
    exit_.calls = 0;
    std::string err =
        FailedStart(Options("liar", {"say", c.first}), CP_EDECODE);
    EXPECT_EQ(0u, err.find("plugin liar: malformed handshake line: ")) << err;
    EXPECT_NE(std::string::npos, err.find(c.second)) << err;
    // Consumed as a handshake attempt, never logged as output.
    EXPECT_TRUE(OutputOf("liar", "stdout").empty()) << Dump("liar");
    for (proc *p : procs_) {
      cpi_proc_destroy(p);
    }
    procs_.clear();
  }
}

TEST_F(ProcessTest, HandshakeThenExitStillCountsAsReady) {
  proc *p = Spawn(Options("brief", {"ready-exit"}));
  ASSERT_NE(nullptr, p);
  ASSERT_TRUE(WaitExit());
  proc_endpoint ep;
  char err[256] = "";
  EXPECT_EQ(0, cpi_proc_wait_ready(p, &ep, err, sizeof err)) << err;
  EXPECT_STREQ("/tmp/proc-child.sock", ep.address);
  EXPECT_EQ(CP_ECLOSED, cpi_proc_kill(p, SIGTERM));
}

TEST_F(ProcessTest, StopBeforeReadyCancelsTheWait) {
  proc *p = Spawn(Options("early", {"never"}));
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(0, cpi_proc_stop(p, test_wait_ms()));
  EXPECT_EQ(1, Calls(&exit_));  // on_exit returned before cpi_proc_stop did
  char err[256] = "";
  EXPECT_EQ(CP_ECANCELLED, cpi_proc_wait_ready(p, nullptr, err, sizeof err));
  EXPECT_STREQ("plugin early: stopped before it was ready", err);
  std::lock_guard<std::mutex> lock(exit_.mu);
  EXPECT_EQ(SIGTERM, exit_.signal);
}

// --- stopping and exit reports ---------------------------------------------

TEST_F(ProcessTest, StopSendsSigtermFirst) {
  proc *p = Spawn(Options("polite", {"ready"}));
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, nullptr, 0));
  EXPECT_EQ(0, cpi_proc_stop(p, test_wait_ms()));
  std::lock_guard<std::mutex> lock(exit_.mu);
  EXPECT_EQ(1, exit_.calls);
  EXPECT_EQ(-1, exit_.code);
  EXPECT_EQ(SIGTERM, exit_.signal);
}

TEST_F(ProcessTest, StopEscalatesToSigkillWhenSigtermIsIgnored) {
  proc *p = Spawn(Options("stubborn", {"ignore-term"}));
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, nullptr, 0));
  pid_t pid = cpi_proc_pid(p);
  EXPECT_EQ(0, cpi_proc_stop(p, 100));
  EXPECT_TRUE(Gone(pid));
  {
    std::lock_guard<std::mutex> lock(exit_.mu);
    EXPECT_EQ(1, exit_.calls);
    EXPECT_EQ(SIGKILL, exit_.signal);
  }
  bool warned = false;
  for (const std::string &l : LogLines()) {
    warned =
        warned || (l.find("did not exit after SIGTERM") != std::string::npos &&
                   l.find("plugin=stubborn") != std::string::npos);
  }
  EXPECT_TRUE(warned);
  EXPECT_EQ(0, cpi_proc_stop(p, 0));  // already stopped: nothing to do
}

TEST_F(ProcessTest, OnExitReportsSignalsOnceAndDestroyReaps) {
  proc *p = Spawn(Options("victim", {"ready"}));
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, nullptr, 0));
  EXPECT_EQ(CP_EINVAL, cpi_proc_kill(p, -1));
  EXPECT_EQ(0, cpi_proc_kill(p, SIGKILL));
  ASSERT_TRUE(WaitExit());
  {
    std::lock_guard<std::mutex> lock(exit_.mu);
    EXPECT_EQ(-1, exit_.code);
    EXPECT_EQ(SIGKILL, exit_.signal);
  }
  EXPECT_EQ(CP_ECLOSED, cpi_proc_kill(p, SIGTERM));
  Destroy(p);
  EXPECT_EQ(1, Calls(&exit_));

  // cpi_proc_destroy of a running child kills and reaps it, on_exit included.
  ExitRecord second;
  proc_options o = Options("victim2", {"ready"});
  o.user = &second;
  p = Spawn(o);
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, nullptr, 0));
  pid_t pid = cpi_proc_pid(p);
  Destroy(p);
  EXPECT_EQ(1, Calls(&second));
  EXPECT_TRUE(Gone(pid));
}

TEST_F(ProcessTest, ExitsAreSeenWithoutAPidfd) {
  cpi_proc_testing_disable_pidfd(1);
  proc *p = Spawn(Options("nopidfd", {"ready"}));
  cpi_proc_testing_disable_pidfd(0);
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, nullptr, 0));
  EXPECT_EQ(0, cpi_proc_kill(p, SIGKILL));
  ASSERT_TRUE(WaitExit());
  {
    std::lock_guard<std::mutex> lock(exit_.mu);
    EXPECT_EQ(SIGKILL, exit_.signal);
  }
  Destroy(p);

  exit_.calls = 0;
  cpi_proc_testing_disable_pidfd(1);
  proc_options o = Options("nopidfd2", {"exit", "5"});
  std::string err = FailedStart(o, CP_ECLOSED);
  cpi_proc_testing_disable_pidfd(0);
  EXPECT_NE(std::string::npos, err.find("exited with code 5")) << err;
  std::lock_guard<std::mutex> lock(exit_.mu);
  EXPECT_EQ(5, exit_.code);
}

// --- the child dies with its parent ----------------------------------------

TEST_F(ProcessTest, GrandchildDiesWhenItsParentIsKilled) {
  // Orphans come to this process (not to PID 1, which may not reap), so
  // their end can be seen with waitpid.
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  proc *p = Spawn(Options("middle", {"intermediate", ChildPath()}));
  ASSERT_NE(nullptr, p);
  char err[256] = "";
  ASSERT_EQ(0, cpi_proc_wait_ready(p, nullptr, err, sizeof err)) << err;
  std::vector<std::string> ids = OutputWithPrefix("middle", "GRANDCHILD ");
  ASSERT_EQ(1u, ids.size()) << Dump("middle");
  pid_t grandchild = static_cast<pid_t>(atoi(ids[0].c_str()));
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(0, kill(grandchild, 0));
  // The grandchild has its own process group: only PR_SET_PDEATHSIG can
  // end it when its parent is killed.
  ASSERT_NE(getpgid(grandchild), cpi_proc_pid(p));
  ASSERT_EQ(0, cpi_proc_kill(p, SIGKILL));
  int status = 0;
  bool reaped = cp_test::WaitFor("the grandchild to die", [&] {
    return waitpid(grandchild, &status, WNOHANG) == grandchild;
  });
  if (!reaped) {
    kill(grandchild, SIGKILL);
    waitpid(grandchild, &status, 0);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  ASSERT_TRUE(reaped);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

// --- the pieces, without processes -----------------------------------------

struct Pieces {
  std::vector<proc_piece> flags;
  std::vector<std::string> data;
};

void CollectPiece(const proc_piece *piece, void *user) {
  auto *c = static_cast<Pieces *>(user);
  c->flags.push_back(*piece);
  c->data.emplace_back(piece->data, piece->len);
}

TEST(LineSplitterTest, CutsLongLinesAtCharacterBoundaries) {
  proc_line_splitter s;
  cpi_proc_line_splitter_init(&s);
  Pieces got;
  // 1023 'a' then a euro sign (3 bytes) straddling the 1024-byte cut.
  std::string line = std::string(1023, 'a') + "\xe2\x82\xac" + "tail\nnext";
  for (char c : line) {  // byte by byte: pieces may not depend on reads
    cpi_proc_line_splitter_feed(&s, &c, 1, CollectPiece, &got);
  }
  ASSERT_EQ(2u, got.data.size());
  EXPECT_EQ(std::string(1023, 'a'), got.data[0]);
  EXPECT_TRUE(got.flags[0].line_start);
  EXPECT_FALSE(got.flags[0].line_end);
  EXPECT_EQ(
      "\xe2\x82\xac"
      "tail",
      got.data[1]);
  EXPECT_FALSE(got.flags[1].line_start);
  EXPECT_TRUE(got.flags[1].line_end);
  cpi_proc_line_splitter_finish(&s, CollectPiece, &got);
  ASSERT_EQ(3u, got.data.size());
  EXPECT_EQ("next", got.data[2]);
  EXPECT_TRUE(got.flags[2].line_start && got.flags[2].line_end);
  // A line of exactly the cap is one piece.
  Pieces exact;
  std::string full = std::string(PROC_LINE_MAX_BYTES, 'b') + "\n";
  cpi_proc_line_splitter_feed(&s, full.data(), full.size(), CollectPiece,
                              &exact);
  ASSERT_EQ(1u, exact.data.size());
  EXPECT_TRUE(exact.flags[0].line_start && exact.flags[0].line_end);
}

TEST(HandshakeLineTest, AcceptsBothNetworks) {
  proc_endpoint ep;
  char err[128] = "";
  std::string unix_line = "cplugin|1|unix|/run/cplugin/kv.sock";
  ASSERT_EQ(0, cpi_proc_handshake_line_parse(unix_line.data(), unix_line.size(),
                                             &ep, err, sizeof err))
      << err;
  EXPECT_EQ(PROC_NETWORK_UNIX, ep.network);
  EXPECT_STREQ("/run/cplugin/kv.sock", ep.address);
  for (std::string addr : {"127.0.0.1:43121", "[::1]:1", "localhost:65535"}) {
    std::string line = "cplugin|1|tcp|" + addr;
    ASSERT_EQ(0, cpi_proc_handshake_line_parse(line.data(), line.size(), &ep,
                                               err, sizeof err))
        << line << ": " << err;
    EXPECT_EQ(PROC_NETWORK_TCP, ep.network);
    EXPECT_EQ(addr, ep.address);
  }
  for (std::string bad : {"cplugin|1|tcp|:80", "cplugin|1|tcp|h:0",
                          "cplugin|1|tcp|h:", "cplugin|1|unix|/a b",
                          "cplugin|01|tcp|h:1", "cplugin||unix|/x"}) {
    EXPECT_EQ(CP_EDECODE, cpi_proc_handshake_line_parse(bad.data(), bad.size(),
                                                        &ep, err, sizeof err))
        << bad;
  }
  std::string long_unix = "cplugin|1|unix|/" + std::string(107, 'p');
  EXPECT_EQ(CP_EDECODE,
            cpi_proc_handshake_line_parse(long_unix.data(), long_unix.size(),
                                          &ep, err, sizeof err));
}

TEST(OutputTextTest, KeepsUtf8AndReplacesTheRest) {
  std::string in = "ok \xc3\xa9 \xff \xed\xa0\x80 \x7f\t\r";
  std::vector<char> out(PROC_SANITIZED_CAP(in.size()));
  size_t n = cpi_proc_text_sanitize(in.data(), in.size(), out.data());
  std::string got(out.data(), n);
  EXPECT_EQ(
      "ok \xc3\xa9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ?\t?",
      got);
  EXPECT_TRUE(cpi_utf8_valid(got.data(), got.size()));
}

}  // namespace
