// The host's router: authenticated callers reach a provider's EchoService
// through the host, by path prefix or routing metadata.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "core/validate.h"
#include "router/route_parse.h"
}
#include "wait.h"

namespace {

constexpr const char *kKey = "router-test-api-key-0123";

struct Directory {
  std::mutex mu;
  std::map<std::string, cp_route_target> providers;  // by provider id
  std::map<std::string, std::string> default_of;     // type -> provider id
  std::map<std::string, std::string> type_of;        // provider id -> type
};

int Resolve(const char *type, const char *provider_id, cp_route_target *out,
            void *user) {
  auto *d = static_cast<Directory *>(user);
  std::lock_guard<std::mutex> lock(d->mu);
  std::string id;
  if (provider_id != nullptr) {
    id = provider_id;
  } else if (d->default_of.count(type) != 0) {
    id = d->default_of[type];
  }
  if (d->providers.count(id) == 0 || d->type_of[id] != type) {
    return CP_ENOTFOUND;
  }
  *out = d->providers[id];
  return 0;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    ASSERT_EQ(0, cp_server_create(&provider_, nullptr));
    ASSERT_EQ(0, echo_service_register(provider_, stats_));
    ASSERT_EQ(0, cp_server_listen(provider_, "127.0.0.1:0", &provider_port_));
    ASSERT_EQ(0, cp_server_start(provider_));
    AddProvider("echo", "echo-a-0000000000000001",
                "http://127.0.0.1:" + std::to_string(provider_port_), true);
    AddProvider("echo", "echo-sick-0000000000000002", "127.0.0.1:1", false);
    dir_.default_of["echo"] = "echo-a-0000000000000001";

    ASSERT_EQ(0, cp_auth_create(&auth_));
    ASSERT_EQ(0, cp_auth_add_api_key(auth_, kKey, "caller-plugin"));
    cp_router_options ro;
    cp_router_options_init(&ro);
    ro.resolve = Resolve;
    ro.resolve_user = &dir_;
    if (max_targets_ > 0) {
      ro.max_targets = max_targets_;
    }
    if (max_inflight_per_caller_ > 0) {
      ro.max_inflight_per_caller = max_inflight_per_caller_;
    }
    ro.default_deadline_ms = 20000;
    ro.max_deadline_ms = 60000;
    ASSERT_EQ(0, cp_router_create(&router_, &ro));
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 2;
    ASSERT_EQ(0, cp_server_create(&host_, &so));
    ASSERT_EQ(0, cp_auth_register(auth_, host_));
    ASSERT_EQ(0, cp_router_register(router_, host_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(host_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(host_));
    std::string t = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, t.c_str(), nullptr));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(host_, 1000);
    cp_server_destroy(host_);
    cp_router_destroy(router_);
    cp_auth_destroy(auth_);
    if (provider_ != nullptr) {
      cp_server_shutdown(provider_, 1000);
      cp_server_destroy(provider_);
    }
    echo_stats_destroy(stats_);
  }

  void AddProvider(const std::string &type, const std::string &id,
                   const std::string &address, bool healthy,
                   const char *endpoint_path = "/cplugintest.v1.EchoService/") {
    cp_route_target t{};
    snprintf(t.provider_id, sizeof t.provider_id, "%s", id.c_str());
    snprintf(t.address, sizeof t.address, "%s", address.c_str());
    snprintf(t.endpoint_path, sizeof t.endpoint_path, "%s", endpoint_path);
    t.healthy = healthy;
    std::lock_guard<std::mutex> lock(dir_.mu);
    dir_.providers[id] = t;
    dir_.type_of[id] = type;
    dir_.default_of.emplace(type, id);  // the first provider of a type
  }

  // Echo through the host; `path` overrides the method path (path form).
  cp_status Call(const std::vector<cp_metadata> &extra, std::string *value,
                 const char *metadata_key = "x-plugin-caller-id",
                 const char *path = nullptr) {
    std::vector<cp_metadata> md = extra;
    md.push_back({"x-api-key", kKey});
    return CallRaw(md, value, metadata_key, path);
  }

  cp_status CallRaw(const std::vector<cp_metadata> &md, std::string *value,
                    const char *metadata_key, const char *path) {
    cp_method_desc m = cp_cplugintest__v1__echo_service__echo__method;
    if (path != nullptr) {
      m.path = path;
    }
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = 5000;
    o.metadata = md.data();
    o.metadata_count = md.size();
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("routed");
    req.metadata_key = const_cast<char *>(metadata_key);
    ProtobufCMessage *resp = nullptr;
    cp_status st;
    cp_client_unary(client_, &m, &req.base, &resp, &o, &st);
    if (resp != nullptr) {
      auto *r = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp);
      if (value != nullptr)
        *value = r->metadata_value;
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return st;
  }

  size_t max_targets_ = 0;              // 0 = the router's default
  size_t max_inflight_per_caller_ = 0;  // 0 = the router's default
  // A routed Echo (default provider of "echo") that the provider's handler
  // holds for `delay_ms`, on its own thread; its status is in *out once the
  // thread is joined.
  std::thread SlowRoutedEcho(int delay_ms, cp_status *out) {
    return std::thread([this, delay_ms, out] {
      cp_method_desc m = cp_cplugintest__v1__echo_service__echo__method;
      cp_call_options o;
      cp_call_options_init(&o);
      o.timeout_ms = 30000;
      cp_metadata md[] = {{"x-api-key", kKey},
                          {"x-cplugin-service-type", "echo"}};
      o.metadata = md;
      o.metadata_count = 2;
      Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
      req.text = const_cast<char *>("slow");
      req.delay_ms = delay_ms;
      ProtobufCMessage *resp = nullptr;
      cp_client_unary(client_, &m, &req.base, &resp, &o, out);
      if (resp != nullptr) {
        protobuf_c_message_free_unpacked(resp, nullptr);
      }
    });
  }

  echo_stats *stats_ = nullptr;
  cp_server *provider_ = nullptr;
  int provider_port_ = 0;
  Directory dir_;
  cp_auth *auth_ = nullptr;
  cp_router *router_ = nullptr;
  cp_server *host_ = nullptr;
  cp_client *client_ = nullptr;
};

TEST_F(RouterTest, MetadataRouteReachesTheProviderWithTheCallerId) {
  std::string caller;
  cp_status st = Call({{"x-cplugin-service-type", "echo"}}, &caller);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ("caller-plugin", caller);
  EXPECT_EQ(1, echo_stats_get(stats_, ECHO_CALLS));
  // The caller's credential is not forwarded.
  std::string key = "unset";
  ASSERT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "echo"}}, &key, "x-api-key").code);
  EXPECT_EQ("", key);
  cp_router_stats rs;
  cp_router_get_stats(router_, &rs);
  EXPECT_EQ(2u, rs.forwarded);
  // cplugin_memory_bytes{structure="router_targets"}: the table and the
  // one target's address.
  EXPECT_EQ(1u, rs.targets);
  EXPECT_GT(rs.target_bytes, 0u);
}

TEST_F(RouterTest, PathRouteAsUpstreamEndpointUrl) {
  std::string caller;
  cp_status st = Call({}, &caller, "x-plugin-caller-id",
                      "/services/echo/echo-a-0000000000000001/"
                      "cplugintest.v1.EchoService/Echo");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ("caller-plugin", caller);
}

TEST_F(RouterTest, ExplicitProviderIdInMetadata) {
  cp_status st = Call({{"x-cplugin-service-type", "echo"},
                       {"x-cplugin-provider-id", "echo-a-0000000000000001"}},
                      nullptr);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
}

TEST_F(RouterTest, RefusalsHaveClearCodes) {
  // Not authenticated: the auth interceptor answers before the router.
  cp_status st = CallRaw({{"x-cplugin-service-type", "echo"}}, nullptr,
                         "x-plugin-caller-id", nullptr);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  // A wrong credential: refused before any routing.
  st = CallRaw({{"x-cplugin-service-type", "echo"},
                {"x-api-key", "router-test-api-key-WRONG"}},
               nullptr, "x-plugin-caller-id", nullptr);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, st.code);
  EXPECT_STREQ("authentication failed", st.message);
  // Unknown provider and unknown type.
  st = Call({{"x-cplugin-service-type", "echo"},
             {"x-cplugin-provider-id", "nobody-0000000000000009"}},
            nullptr);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  st = Call({{"x-cplugin-service-type", "storage"}}, nullptr);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ("no provider for service \"storage\"", st.message);
  // Unhealthy provider.
  st = Call({}, nullptr, "x-plugin-caller-id",
            "/services/echo/echo-sick-0000000000000002/"
            "cplugintest.v1.EchoService/Echo");
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  // No routing information: an unknown method of the host.
  st = Call({}, nullptr);
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, st.code);
  // Malformed route.
  st = Call({{"x-cplugin-service-type", "bad/type"}}, nullptr);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_EQ(0, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(RouterTest, VanishedProviderIsUnavailable) {
  cp_server_shutdown(provider_, 0);
  cp_server_destroy(provider_);
  provider_ = nullptr;
  cp_status st = Call({{"x-cplugin-service-type", "echo"}}, nullptr);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
}

// The connector for "inproc:" providers: what it is asked for, what it
// answers with (a socketpair to the provider's server).
struct Connector {
  cp_server *server = nullptr;
  std::atomic<int> calls{0};
  std::string last;
};

int ConnectInproc(const char *address, cp_client **out, void *user) {
  auto *c = static_cast<Connector *>(user);
  c->calls++;
  c->last = address;
  return cp_connection_pair(c->server, out, nullptr);
}

TEST_F(RouterTest, InprocProvidersNeedTheConnector) {
  AddProvider("inecho", "inecho-0000000000000003", "inproc:echo", true);
  // No connector: unreachable, never dialled as a gRPC target.
  cp_status st = Call({{"x-cplugin-service-type", "inecho"}}, nullptr);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;

  Connector conn;
  conn.server = provider_;
  ASSERT_EQ(0, cp_router_set_connector(router_, ConnectInproc, &conn));
  std::string caller;
  st = Call({{"x-cplugin-service-type", "inecho"}}, &caller);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ("caller-plugin", caller);
  EXPECT_EQ("inproc:echo", conn.last);
  // The connection is cached like any provider's...
  ASSERT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "inecho"}}, nullptr).code);
  EXPECT_EQ(1, conn.calls.load());
  // ...until forgotten.
  EXPECT_EQ(0, cp_router_forget(router_, "inproc:echo"));
  ASSERT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "inecho"}}, nullptr).code);
  EXPECT_EQ(2, conn.calls.load());
  EXPECT_EQ(3, echo_stats_get(stats_, ECHO_CALLS));

  // Removed: a new connection cannot be made any more.
  ASSERT_EQ(0, cp_router_set_connector(router_, nullptr, nullptr));
  EXPECT_EQ(0, cp_router_forget(router_, "inproc:echo"));
  st = Call({{"x-cplugin-service-type", "inecho"}}, nullptr);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  EXPECT_EQ(2, conn.calls.load());
}

TEST_F(RouterTest, FrameworkServicesAreNeverForwarded) {
  // A provider that registered "/" would otherwise receive them; here the
  // provider is this test's echo server, which would answer UNIMPLEMENTED.
  AddProvider("echo", "echo-all-0000000000000003",
              "127.0.0.1:" + std::to_string(provider_port_), true, "/");
  const char *reserved[] = {
      "/services/echo/echo-all-0000000000000003/"
      "connectplugin.v1.PluginControl/Shutdown",
      "/services/echo/echo-all-0000000000000003/"
      "connectplugin.v1.PluginIdentity/SetRuntimeIdentity",
      "/services/echo/echo-all-0000000000000003/grpc.health.v1.Health/Check"};
  for (const char *path : reserved) {
    cp_status st = Call({}, nullptr, "x-plugin-caller-id", path);
    EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << path;
    EXPECT_NE(nullptr, strstr(st.message, "not routable")) << st.message;
  }
  // The metadata form too.
  cp_status st = Call({{"x-cplugin-service-type", "echo"},
                       {"x-cplugin-provider-id", "echo-all-0000000000000003"}},
                      nullptr, "x-plugin-caller-id",
                      "/connectplugin.v1.PluginControl/Shutdown");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  cp_router_stats rs;
  cp_router_get_stats(router_, &rs);
  EXPECT_EQ(4u, rs.denied);
  EXPECT_EQ(0u, rs.forwarded);
  // The same provider's own service is forwarded.
  st = Call({{"x-cplugin-service-type", "echo"},
             {"x-cplugin-provider-id", "echo-all-0000000000000003"}},
            nullptr);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
}

TEST_F(RouterTest, OnlyMethodsUnderTheRegisteredEndpointPath) {
  AddProvider("kv", "kv-b-0000000000000004",
              "127.0.0.1:" + std::to_string(provider_port_), true,
              "/cplugintest.v1.KvService/");
  AddProvider("one", "one-c-0000000000000005",
              "127.0.0.1:" + std::to_string(provider_port_), true,
              "/cplugintest.v1.EchoService/Echo");
  // kv registered another service's path: Echo is not its to serve.
  cp_status st = Call({{"x-cplugin-service-type", "kv"}}, nullptr);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  EXPECT_NE(nullptr, strstr(st.message, "outside the endpoint path"))
      << st.message;
  // A full method path covers that method alone.
  EXPECT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "one"}}, nullptr).code);
  st = Call({{"x-cplugin-service-type", "one"}}, nullptr, "x-plugin-caller-id",
            "/cplugintest.v1.EchoService/Count");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code);
  // A provider that registered no path is never forwarded to.
  AddProvider("bare", "bare-d-0000000000000006",
              "127.0.0.1:" + std::to_string(provider_port_), true, "");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED,
            Call({{"x-cplugin-service-type", "bare"}}, nullptr).code);
  EXPECT_EQ(1, echo_stats_get(stats_, ECHO_CALLS));
}

// Routers with a small table of provider addresses.
class RouterTest4 : public RouterTest {
 protected:
  void SetUp() override {
    max_targets_ = 4;
    RouterTest::SetUp();
  }
};

class RouterTest1 : public RouterTest {
 protected:
  void SetUp() override {
    max_targets_ = 1;
    RouterTest::SetUp();
  }
};

// Providers on ever-new addresses (as plugins restarting on ephemeral ports)
// evict the least recently used connection, so a new provider is always
// reachable.
TEST_F(RouterTest4, TargetsNeverRunOut) {
  // 12 providers on closed ports, each called once (UNAVAILABLE).
  for (int i = 0; i < 12; i++) {
    std::string id = "gone-" + std::to_string(i) + "-00000000000000";
    AddProvider("gone" + std::to_string(i), id,
                "127.0.0.1:" + std::to_string(1 + i), true);
    cp_status st =
        Call({{"x-cplugin-service-type", ("gone" + std::to_string(i)).c_str()}},
             nullptr);
    EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  }
  cp_router_stats rs;
  cp_router_get_stats(router_, &rs);
  EXPECT_EQ(4u, rs.targets);
  EXPECT_EQ(8u, rs.targets_evicted);
  // The live provider is reachable after all of them.
  EXPECT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "echo"}}, nullptr).code);
  // Forgetting an address closes its connection; the next call reconnects.
  EXPECT_EQ(
      0, cp_router_forget(
             router_,
             ("http://127.0.0.1:" + std::to_string(provider_port_)).c_str()));
  EXPECT_EQ(CP_ENOTFOUND, cp_router_forget(router_, "127.0.0.1:1"));
  cp_router_get_stats(router_, &rs);
  EXPECT_EQ(3u, rs.targets);
  EXPECT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "echo"}}, nullptr).code);
}

// A call in flight when its connection is evicted finishes normally: the
// forward holds its own reference to the channel.
TEST_F(RouterTest1, EvictionDoesNotBreakACallInFlight) {
  cp_status slow{};
  std::thread caller = SlowRoutedEcho(300, &slow);
  // Once the provider is handling it, another address takes the only slot.
  ASSERT_TRUE(cp_test::WaitFor(
      "the provider to receive the slow call",
      [&] { return echo_stats_get(stats_, ECHO_CALLS) == 1; },
      [&] { return std::to_string(echo_stats_get(stats_, ECHO_CALLS)); }));
  AddProvider("gone", "gone-x-00000000000000", "127.0.0.1:1", true);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE,
            Call({{"x-cplugin-service-type", "gone"}}, nullptr).code);
  cp_router_stats rs;
  cp_router_get_stats(router_, &rs);
  EXPECT_EQ(1u, rs.targets_evicted);
  caller.join();
  EXPECT_EQ(CP_STATUS_OK, slow.code) << slow.message;
}

// What the provider's handler sees of the deadline of a routed call.
struct SeenDeadline {
  bool has = false;
  int64_t left_ms = 0;
};

TEST_F(RouterTest, ForwardedDeadlinesAreBounded) {
  auto routed_echo = [&](int64_t timeout_ms) {
    cp_method_desc m = cp_cplugintest__v1__echo_service__echo__method;
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = timeout_ms;
    cp_metadata md[] = {{"x-api-key", kKey},
                        {"x-cplugin-service-type", "echo"}};
    o.metadata = md;
    o.metadata_count = 2;
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    ProtobufCMessage *resp = nullptr;
    cp_status st;
    SeenDeadline seen;
    cp_client_unary(client_, &m, &req.base, &resp, &o, &st);
    EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
    if (resp != nullptr) {
      auto *r = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp);
      seen.has = r->has_deadline;
      seen.left_ms = r->deadline_left_ms;
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return seen;
  };
  // gRPC sends a deadline as a timeout with a few significant digits,
  // rounded up: a provider may see up to ~0.1% (and a clock tick) more.
  constexpr int64_t kSlackMs = 1000;
  // No deadline from the caller: the router's default (20 s here).
  SeenDeadline none = routed_echo(0);
  EXPECT_TRUE(none.has);
  EXPECT_LE(none.left_ms, 20000 + kSlackMs);
  EXPECT_GT(none.left_ms, 10000);
  // A caller's hour is cut to the router's maximum (60 s here).
  SeenDeadline hour = routed_echo(3600 * 1000);
  EXPECT_TRUE(hour.has);
  EXPECT_LE(hour.left_ms, 60000 + kSlackMs);
  EXPECT_GT(hour.left_ms, 50000);
  // A shorter deadline of the caller's own is kept.
  SeenDeadline short_one = routed_echo(15000);
  EXPECT_LE(short_one.left_ms, 15000 + kSlackMs);
  EXPECT_GT(short_one.left_ms, 5000);
}

class RouterTestOnePerCaller : public RouterTest {
 protected:
  void SetUp() override {
    max_inflight_per_caller_ = 1;
    RouterTest::SetUp();
  }
};

TEST_F(RouterTestOnePerCaller, RoutedCallsInFlightAreCappedPerCaller) {
  cp_status slow{};
  std::thread caller = SlowRoutedEcho(500, &slow);
  ASSERT_TRUE(cp_test::WaitFor(
      "the provider to hold the first call",
      [&] { return echo_stats_get(stats_, ECHO_CALLS) == 1; },
      [&] { return std::to_string(echo_stats_get(stats_, ECHO_CALLS)); }));
  cp_status st = Call({{"x-cplugin-service-type", "echo"}}, nullptr);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("too many routed calls in flight for this caller", st.message);
  caller.join();
  EXPECT_EQ(CP_STATUS_OK, slow.code) << slow.message;
  // The slot comes back when the forward ends (after the reply was sent).
  cp_router_stats rs;
  EXPECT_TRUE(cp_test::WaitFor(
      "the finished forward to give its slot back",
      [&] {
        cp_router_get_stats(router_, &rs);
        return rs.inflight == 0;
      },
      [&] { return std::to_string(rs.inflight) + " in flight"; }));
  EXPECT_EQ(1u, rs.exhausted);
  EXPECT_EQ(CP_STATUS_OK,
            Call({{"x-cplugin-service-type", "echo"}}, nullptr).code);
}

TEST_F(RouterTest, CancellingACallerEndsItsRoutedCalls) {
  cp_status slow{};
  std::thread caller = SlowRoutedEcho(3000, &slow);
  ASSERT_TRUE(cp_test::WaitFor(
      "the provider to hold the routed call",
      [&] { return echo_stats_get(stats_, ECHO_CALLS) == 1; },
      [&] { return std::to_string(echo_stats_get(stats_, ECHO_CALLS)); }));
  EXPECT_EQ(0u, cp_router_cancel_caller(router_, "somebody-else"));
  EXPECT_EQ(1u, cp_router_cancel_caller(router_, "caller-plugin"));
  caller.join();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, slow.code) << slow.message;
  EXPECT_STREQ("caller identity revoked or expired", slow.message);
  cp_router_stats rs;
  EXPECT_TRUE(cp_test::WaitFor(
      "the ended call's slot to come back",
      [&] {
        cp_router_get_stats(router_, &rs);
        return rs.inflight == 0;
      },
      [&] { return std::to_string(rs.inflight) + " in flight"; }));
  EXPECT_EQ(0u, cp_router_cancel_caller(router_, "caller-plugin"));
}

TEST(RouterOptions, BadLimitsAreRefused) {
  cp_router_options ro;
  cp_router_options_init(&ro);
  ro.resolve = Resolve;
  cp_router *r = nullptr;
  ro.max_deadline_ms = ro.default_deadline_ms - 1;
  EXPECT_EQ(CP_EINVAL, cp_router_create(&r, &ro));
  cp_router_options_init(&ro);
  ro.resolve = Resolve;
  ro.max_inflight_per_caller = 0;
  EXPECT_EQ(CP_EINVAL, cp_router_create(&r, &ro));
  // gRPC's message limit is an int: a larger one would make every routed
  // call fail later instead of here.
  cp_router_options_init(&ro);
  ro.resolve = Resolve;
  ro.max_message_bytes = size_t{INT32_MAX} + 1;
  EXPECT_EQ(CP_EINVAL, cp_router_create(&r, &ro));
  EXPECT_EQ(nullptr, r);
  ro.max_message_bytes = INT32_MAX;
  ASSERT_EQ(0, cp_router_create(&r, &ro));
  cp_router_destroy(r);
}

TEST(RouteParse, EndpointPathCoverage) {
  EXPECT_TRUE(cpi_route_path_under("/a.B/C", "/"));
  EXPECT_TRUE(cpi_route_path_under("/a.B/C", "/a.B/"));
  EXPECT_TRUE(cpi_route_path_under("/a.B/C", "/a.B"));
  EXPECT_TRUE(cpi_route_path_under("/a.B/C", "/a.B/C"));
  EXPECT_FALSE(cpi_route_path_under("/a.BX/C", "/a.B"));
  EXPECT_FALSE(cpi_route_path_under("/a.B/CD", "/a.B/C"));
  EXPECT_FALSE(cpi_route_path_under("/a.B/C", ""));
  EXPECT_FALSE(cpi_route_path_under("/a.B/C", nullptr));
  EXPECT_FALSE(cpi_route_path_under("/a.B/C", "/x.Y/"));
  EXPECT_TRUE(cpi_path_reserved("/connectplugin.v1.PluginControl/Shutdown"));
  EXPECT_TRUE(cpi_path_reserved("/grpc.health.v1.Health/Watch"));
  EXPECT_FALSE(cpi_path_reserved("/connectpluginx.v1.A/B"));
  EXPECT_FALSE(cpi_path_reserved("/cplugintest.v1.EchoService/Echo"));
}

TEST(RouteParse, Paths) {
  cp_route r;
  ASSERT_TRUE(
      cpi_route_from_path("/services/logger/logger-a-x7k2/"
                          "capability.logger.v1.Logger/Log",
                          &r));
  EXPECT_STREQ("logger", r.service_type);
  EXPECT_STREQ("logger-a-x7k2", r.provider_id);
  EXPECT_STREQ("/capability.logger.v1.Logger/Log", r.method_path);
  const char *bad[] = {"/services/",
                       "/services/logger",
                       "/services/logger/",
                       "/services/logger/id",
                       "/services/logger/id/",
                       "/services/logger/id/Svc",
                       "/services/logger/id/Svc/",
                       "/services//id/Svc/M",
                       "/services/l/id/Svc/M/extra",
                       "/services/l/i d/Svc/M",
                       "/other/l/id/Svc/M"};
  for (const char *b : bad) {
    EXPECT_FALSE(cpi_route_from_path(b, &r)) << b;
  }
  EXPECT_TRUE(cpi_route_from_metadata("/a.B/C", "kv", 2, nullptr, 0, &r));
  EXPECT_STREQ("", r.provider_id);
  EXPECT_FALSE(cpi_route_from_metadata("/a.B/C", "k/v", 3, nullptr, 0, &r));
  EXPECT_FALSE(cpi_route_from_metadata("/a.B", "kv", 2, nullptr, 0, &r));
}

TEST(RouteParse, Addresses) {
  char out[64];
  bool tls = true;
  ASSERT_TRUE(
      cpi_route_target_address("http://127.0.0.1:80/", out, sizeof out, &tls));
  EXPECT_STREQ("127.0.0.1:80", out);
  EXPECT_FALSE(tls);
  ASSERT_TRUE(cpi_route_target_address("https://h:443", out, sizeof out, &tls));
  EXPECT_STREQ("h:443", out);
  EXPECT_TRUE(tls);
  ASSERT_TRUE(cpi_route_target_address("unix:/tmp/s", out, sizeof out, &tls));
  EXPECT_STREQ("unix:/tmp/s", out);
  EXPECT_FALSE(cpi_route_target_address("ftp://h:1", out, sizeof out, &tls));
  EXPECT_FALSE(cpi_route_target_address("", out, sizeof out, &tls));
  EXPECT_FALSE(cpi_route_target_address("http://", out, sizeof out, &tls));
}

}  // namespace
