// cp_plugin_serve, a plugin's main loop: alone and joined to a real host,
// a host that comes up after the plugin, SIGTERM at each stage, refused
// options and failing callbacks; and cp_host_caller, a program that is not
// a plugin calling the served plugin through the host. The plugin runs on a thread of this
// process; the stop signals are blocked process-wide (before any thread
// starts), so a kill(SIGTERM) reaches the plugin's wait and nothing else.
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "plugin/serve_address.h"
}

namespace {

// Before main, so that every thread of the test inherits the mask.
const bool kStopSignalsBlocked = [] {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return pthread_sigmask(SIG_BLOCK, &s, nullptr) == 0;
}();

struct Plugin {
  echo_stats *stats = echo_stats_create();
  std::atomic<int> started{0};
  std::atomic<bool> had_runtime{false};
  std::atomic<int> stopping{0};
  int on_started_result = 0;
  std::function<void()> on_started_hook; /* runs in on_started */
  std::atomic<int> result{-1000};
  std::thread thread;
  cp_plugin_serve_options o;
  std::string listen;
  std::string host_url;

  static int Setup(cp_server *server, void *user) {
    return echo_service_register(server, static_cast<Plugin *>(user)->stats);
  }
  static int OnStarted(cp_plugin_runtime *rt, void *user) {
    auto *p = static_cast<Plugin *>(user);
    p->had_runtime = rt != nullptr;
    if (p->on_started_hook) {
      p->on_started_hook();
    }
    p->started++;
    return p->on_started_result;
  }
  static void OnStopping(void *user) {
    static_cast<Plugin *>(user)->stopping++;
  }

  explicit Plugin(const std::string &listen_at) : listen(listen_at) {
    static const cp_plugin_desc *const provides[] = {
        &cp_cplugintest__v1__echo_service__plugin};
    cp_plugin_serve_options_init(&o);
    o.self_id = "echo-plugin";
    o.provides = provides;
    o.provides_count = 1;
    o.setup = Setup;
    o.on_started = OnStarted;
    o.on_stopping = OnStopping;
    o.user = this;
    o.listen = listen.c_str();
    o.grace_ms = 1000;
  }
  ~Plugin() {
    if (thread.joinable()) {
      Stop();
    }
    echo_stats_destroy(stats);
  }
  void Run() {
    thread = std::thread([this] { result = cp_plugin_serve(&o); });
  }
  bool Finished() { return result.load() != -1000; }
  // Points the plugin at the host on 127.0.0.1:port.
  void UseHost(int port) {
    host_url = "127.0.0.1:" + std::to_string(port);
    o.host_url = host_url.c_str();
  }
  // Waits until on_started ran (or cp_plugin_serve returned).
  bool WaitStarted(const char *what) {
    return cp_test::WaitFor(what,
                            [&] { return started.load() == 1 || Finished(); });
  }
  // Waits until cp_plugin_serve returned on its own, then joins its thread
  // (not when the wait failed: the join would hang).
  ::testing::AssertionResult WaitEnded(const char *what) {
    ::testing::AssertionResult ended =
        cp_test::WaitFor(what, [&] { return Finished(); });
    if (ended) {
      thread.join();
    }
    return ended;
  }
  // SIGTERM, as a supervisor would send it; returns cp_plugin_serve's result.
  int Stop() {
    kill(getpid(), SIGTERM);
    thread.join();
    return result.load();
  }
};

class PluginServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kStopSignalsBlocked);
    unsetenv(CP_HOST_URL_ENV);
    unsetenv(CP_LAUNCH_HOST_URL_ENV);
    char tmpl[] = "/tmp/cp-serve-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override {
    cp_host_destroy(host_);
    unlink((dir_ + "/plugin.sock").c_str());
    unlink((dir_ + "/host.sock").c_str());
    rmdir(dir_.c_str());
  }
  std::string Sock(const char *name) { return "unix:" + dir_ + "/" + name; }

  void StartHost(const std::string &listen) {
    cp_host_options o;
    cp_host_options_init(&o);
    o.listen = listen.c_str();
    o.metrics_address = nullptr;
    o.rate_limits = false;
    o.tokens.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    ASSERT_EQ(0, cp_host_start(host_, &host_port_, nullptr));
  }

  // The registration of "echo" the host holds, if any.
  bool Registered(cp_registry_endpoint *ep) {
    return cp_registry_resolve(cp_host_registry(host_), "echo", nullptr, ep) ==
           0;
  }
  // The plugin registers just after on_started returned.
  ::testing::AssertionResult WaitRegistered(cp_registry_endpoint *ep) {
    return cp_test::WaitFor("echo to be registered",
                            [&] { return Registered(ep); });
  }

  std::string dir_;
  cp_host *host_ = nullptr;
  int host_port_ = 0;
};

// One Echo call to `address`; returns the status code.
cp_status_code EchoAt(const std::string &address) {
  cp_client *c = nullptr;
  if (cp_client_create(&c, address.c_str(), nullptr) != 0) {
    return CP_STATUS_INTERNAL;
  }
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("hi");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_call_options co;
  cp_call_options_init(&co);
  co.timeout_ms = test_wait_ms();
  cp_status st;
  if (cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, &co, &st) ==
      0) {
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  cp_client_destroy(c);
  return st.code;
}

TEST_F(PluginServeTest, ServesAloneWithoutAHost) {
  Plugin p(Sock("plugin.sock"));
  p.Run();
  ASSERT_TRUE(p.WaitStarted("the plugin to start"));
  EXPECT_FALSE(p.had_runtime.load());
  EXPECT_EQ(CP_STATUS_OK, EchoAt(p.listen));
  EXPECT_EQ(1, echo_stats_get(p.stats, ECHO_CALLS));
  EXPECT_EQ(0, p.Stop());
  EXPECT_EQ(1, p.stopping.load());
  struct stat st;
  EXPECT_NE(0, stat((dir_ + "/plugin.sock").c_str(), &st))
      << "the socket file outlived the server";
}

TEST_F(PluginServeTest, JoinsTheHostAndLeavesItOnSigterm) {
  StartHost("127.0.0.1:0");
  Plugin p("127.0.0.1:0");
  p.UseHost(host_port_);
  p.Run();
  ASSERT_TRUE(p.WaitStarted("the plugin to join"));
  EXPECT_TRUE(p.had_runtime.load());
  cp_registry_endpoint ep;
  ASSERT_TRUE(WaitRegistered(&ep));
  // Declared from the generated descriptor, at the address it serves on.
  EXPECT_STREQ("/cplugintest.v1.EchoService/", ep.endpoint_path);
  EXPECT_STREQ("1.0.0", ep.version);
  ASSERT_TRUE(ep.has_base_url);
  EXPECT_EQ(0, strncmp(ep.base_url, "127.0.0.1:", 10)) << ep.base_url;
  EXPECT_EQ(CP_STATUS_OK, EchoAt(ep.base_url));
  EXPECT_EQ(0, p.Stop());
  EXPECT_FALSE(Registered(&ep)) << "still registered after SIGTERM";
}

TEST_F(PluginServeTest, WaitsForAHostThatStartsLater) {
  // HOST_URL, as a plugin started by hand gets it.
  std::string host = Sock("host.sock");
  setenv(CP_HOST_URL_ENV, host.c_str(), 1);
  Plugin p("127.0.0.1:0");
  p.Run();
  // Several retries go by without a host: the plugin neither starts nor
  // gives up.
  usleep(400 * 1000);
  EXPECT_EQ(0, p.started.load());
  EXPECT_FALSE(p.Finished());
  StartHost(host);
  ASSERT_TRUE(p.WaitStarted("the plugin to join the late host"));
  EXPECT_TRUE(p.had_runtime.load());
  cp_registry_endpoint ep;
  EXPECT_TRUE(WaitRegistered(&ep));
  EXPECT_EQ(0, p.Stop());
}

TEST_F(PluginServeTest, SigtermWhileWaitingForTheHostEndsCleanly) {
  Plugin p("127.0.0.1:0");
  std::string host = Sock("host.sock");
  p.o.host_url = host.c_str();
  p.Run();
  usleep(150 * 1000);
  EXPECT_EQ(0, p.Stop());
  EXPECT_EQ(0, p.started.load());
  EXPECT_EQ(1, p.stopping.load());
}

TEST_F(PluginServeTest, GivesUpOnAnUnreachableHostAfterHostWait) {
  Plugin p("127.0.0.1:0");
  std::string host = Sock("host.sock");
  p.o.host_url = host.c_str();
  p.o.host_wait_ms = 300;
  p.Run();
  ASSERT_TRUE(p.WaitEnded("the plugin to give up"));
  EXPECT_EQ(CP_ERPC, p.result.load());
  EXPECT_EQ(0, p.started.load());
}

TEST_F(PluginServeTest, AHostThatRefusesIsNotRetried) {
  StartHost("127.0.0.1:0");
  ASSERT_EQ(0, cp_auth_add_api_key(cp_host_auth(host_),
                                   "the-one-key-it-knows-0123", "ops"));
  Plugin p("127.0.0.1:0");
  p.UseHost(host_port_);
  p.o.api_key = "not-a-key-the-host-knows-0123";  // UNAUTHENTICATED
  p.Run();
  ASSERT_TRUE(p.WaitEnded("the plugin to fail"));
  EXPECT_EQ(CP_ERPC, p.result.load());
}

TEST_F(PluginServeTest, CallbackFailuresEndIt) {
  Plugin p(Sock("plugin.sock"));
  p.on_started_result = CP_EDENIED;
  p.Run();
  ASSERT_TRUE(p.WaitEnded("the plugin to fail"));
  EXPECT_EQ(CP_EDENIED, p.result.load());
  EXPECT_EQ(1, p.stopping.load());

  Plugin q(Sock("plugin.sock"));
  q.o.setup = [](cp_server *, void *) -> int { return CP_ENOMEM; };
  q.Run();
  ASSERT_TRUE(q.WaitEnded("setup to fail"));
  EXPECT_EQ(CP_ENOMEM, q.result.load());
  EXPECT_EQ(0, q.started.load());
}

// What on_started prepares (a route, a capability) is there before the
// host routes any call to the plugin: it registers only afterwards, and
// not at all when on_started fails.
TEST_F(PluginServeTest, RegistersOnlyOnceOnStartedSucceeded) {
  StartHost("127.0.0.1:0");
  Plugin p("127.0.0.1:0");
  p.UseHost(host_port_);
  std::atomic<int> seen_during{-1};
  p.on_started_hook = [&] {
    cp_registry_endpoint during;
    seen_during = Registered(&during) ? 1 : 0;
  };
  p.Run();
  cp_registry_endpoint ep;
  ASSERT_TRUE(WaitRegistered(&ep));
  EXPECT_EQ(0, seen_during.load()) << "registered before on_started";
  EXPECT_EQ(0, p.Stop());

  Plugin q("127.0.0.1:0");
  q.UseHost(host_port_);
  q.on_started_result = CP_EDENIED;
  q.Run();
  ASSERT_TRUE(q.WaitEnded("the plugin to fail"));
  EXPECT_EQ(CP_EDENIED, q.result.load());
  EXPECT_FALSE(Registered(&ep)) << "registered although on_started failed";
}

TEST_F(PluginServeTest, RefusesBadOptions) {
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(nullptr));
  Plugin p("127.0.0.1:0");
  p.o.self_id = "";
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  p.o.self_id = "x";
  p.o.setup = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  p.o.setup = Plugin::Setup;
  p.o.provides = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  const cp_plugin_desc *const none[] = {nullptr};
  p.o.provides = none;
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  p.o.provides_count = 0;
  p.o.grace_ms = -1;
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  p.o.grace_ms = 0;
  p.o.host_wait_ms = -2;
  EXPECT_EQ(CP_EINVAL, cp_plugin_serve(&p.o));
  p.o.host_wait_ms = 0;
  p.o.listen = "not an address";
  EXPECT_NE(0, cp_plugin_serve(&p.o));
  EXPECT_EQ(0, p.started.load());
}

// cp_host_caller: a program that is not a plugin calls the served plugin
// through the host's router, with an identity of its own.
TEST_F(PluginServeTest, ACallerThatIsNotAPluginCallsThroughTheHost) {
  StartHost("127.0.0.1:0");
  Plugin p("127.0.0.1:0");
  p.UseHost(host_port_);
  p.Run();
  cp_registry_endpoint ep;
  ASSERT_TRUE(WaitRegistered(&ep));
  cp_host_caller_options o;
  cp_host_caller_options_init(&o);
  o.host_url = p.host_url.c_str();
  o.self_id = "a-cli";
  cp_host_caller *caller = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_host_caller_create(&caller, &o, &st)) << st.message;
  EXPECT_EQ(0, strncmp(cp_host_caller_id(caller), "a-cli-", 6))
      << cp_host_caller_id(caller);
  cp_client *echo = nullptr;
  ASSERT_EQ(0, cp_host_caller_route(caller, "echo", &echo));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("through the host");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(echo, &req, &resp,
                                                            nullptr, &st))
      << cp_status_code_name(st.code) << ": " << st.message;
  EXPECT_STREQ("through the host", resp->text);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  EXPECT_EQ(1, echo_stats_get(p.stats, ECHO_CALLS));
  // A type nobody provides: the router's answer, not a hang.
  cp_client *none = nullptr;
  ASSERT_EQ(0, cp_host_caller_route(caller, "nosuch", &none));
  cp_call_options co;
  cp_call_options_init(&co);
  co.timeout_ms = test_wait_ms();
  EXPECT_NE(0, cp_cplugintest__v1__echo_service__echo__call(none, &req, &resp,
                                                            &co, &st));
  EXPECT_NE(CP_STATUS_OK, st.code);
  EXPECT_NE(CP_STATUS_DEADLINE_EXCEEDED, st.code) << st.message;
  cp_host_caller_destroy(caller);
  EXPECT_EQ(0, p.Stop());
}

TEST_F(PluginServeTest, CallerRefusals) {
  cp_host_caller_options o;
  cp_host_caller_options_init(&o);
  cp_host_caller *caller = nullptr;
  cp_status st;
  EXPECT_EQ(CP_EINVAL, cp_host_caller_create(nullptr, &o, &st));
  EXPECT_EQ(CP_EINVAL, cp_host_caller_create(&caller, nullptr, &st));
  EXPECT_EQ(CP_EINVAL, cp_host_caller_create(&caller, &o, nullptr));
  o.host_url = "127.0.0.1:1";
  EXPECT_EQ(CP_EINVAL, cp_host_caller_create(&caller, &o, &st));  // self_id
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  o.self_id = "a-cli";
  o.host_url = nullptr;  // and no HOST_URL in the environment
  EXPECT_EQ(CP_EINVAL, cp_host_caller_create(&caller, &o, &st));
  EXPECT_NE(nullptr, strstr(st.message, "HOST_URL")) << st.message;
  std::string host = Sock("host.sock");
  o.host_url = host.c_str();
  EXPECT_EQ(CP_ERPC, cp_host_caller_create(&caller, &o, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  EXPECT_EQ(nullptr, caller);
  cp_client *c = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_host_caller_route(nullptr, "echo", &c));
  EXPECT_EQ(nullptr, cp_host_caller_id(nullptr));
  cp_host_caller_destroy(nullptr);
}

TEST(ServeAddress, BoundAndRegisteredAddresses) {
  char address[SERVE_ADDRESS_MAX];
  char base[SERVE_ADDRESS_MAX];
  ASSERT_EQ(0, cpi_serve_address_resolve("127.0.0.1:0", 4321, nullptr, address,
                                         base));
  EXPECT_STREQ("127.0.0.1:4321", address);
  EXPECT_STREQ("127.0.0.1:4321", base);
  ASSERT_EQ(0,
            cpi_serve_address_resolve("0.0.0.0:0", 80, nullptr, address, base));
  EXPECT_STREQ("0.0.0.0:80", address);
  EXPECT_STREQ("127.0.0.1:80", base);
  ASSERT_EQ(0, cpi_serve_address_resolve("[::]:0", 81, nullptr, address, base));
  EXPECT_STREQ("[::]:81", address);
  EXPECT_STREQ("[::1]:81", base);
  ASSERT_EQ(0, cpi_serve_address_resolve(":0", 82, nullptr, address, base));
  EXPECT_STREQ("127.0.0.1:82", base);
  ASSERT_EQ(0, cpi_serve_address_resolve("unix:/tmp/p.sock", 0, nullptr,
                                         address, base));
  EXPECT_STREQ("unix:/tmp/p.sock", address);
  EXPECT_STREQ("unix:/tmp/p.sock", base);
  ASSERT_EQ(0, cpi_serve_address_resolve("0.0.0.0:0", 83, "plugin.example:83",
                                         address, base));
  EXPECT_STREQ("plugin.example:83", base);
  std::string long_name(SERVE_ADDRESS_MAX, 'h');
  EXPECT_EQ(CP_EINVAL, cpi_serve_address_resolve((long_name + ":0").c_str(), 1,
                                                 nullptr, address, base));
  EXPECT_EQ(CP_EINVAL, cpi_serve_address_resolve(
                           "127.0.0.1:0", 1, long_name.c_str(), address, base));
}

}  // namespace
