// The host's router: authenticated callers reach a provider's EchoService
// through the host, by path prefix or routing metadata.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "router/route_parse.h"
}

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
    ASSERT_EQ(0, cp_router_create(&router_, &ro));
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 2;
    ASSERT_EQ(0, cp_server_create(&host_, &so));
    ASSERT_EQ(0, cp_auth_install(auth_, host_));
    ASSERT_EQ(0, cp_router_install(router_, host_));
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
                   const std::string &address, bool healthy) {
    cp_route_target t{};
    snprintf(t.provider_id, sizeof t.provider_id, "%s", id.c_str());
    snprintf(t.address, sizeof t.address, "%s", address.c_str());
    t.healthy = healthy;
    std::lock_guard<std::mutex> lock(dir_.mu);
    dir_.providers[id] = t;
    dir_.type_of[id] = type;
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
  cp_router_stats_get(router_, &rs);
  EXPECT_EQ(2u, rs.forwarded);
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

TEST(RouteParse, Paths) {
  cp_route r;
  ASSERT_TRUE(
      cp_route_from_path("/services/logger/logger-a-x7k2/"
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
    EXPECT_FALSE(cp_route_from_path(b, &r)) << b;
  }
  EXPECT_TRUE(cp_route_from_metadata("/a.B/C", "kv", 2, nullptr, 0, &r));
  EXPECT_STREQ("", r.provider_id);
  EXPECT_FALSE(cp_route_from_metadata("/a.B/C", "k/v", 3, nullptr, 0, &r));
  EXPECT_FALSE(cp_route_from_metadata("/a.B", "kv", 2, nullptr, 0, &r));
}

TEST(RouteParse, Addresses) {
  char out[64];
  bool tls = true;
  ASSERT_TRUE(
      cp_route_target_address("http://127.0.0.1:80/", out, sizeof out, &tls));
  EXPECT_STREQ("127.0.0.1:80", out);
  EXPECT_FALSE(tls);
  ASSERT_TRUE(cp_route_target_address("https://h:443", out, sizeof out, &tls));
  EXPECT_STREQ("h:443", out);
  EXPECT_TRUE(tls);
  ASSERT_TRUE(cp_route_target_address("unix:/tmp/s", out, sizeof out, &tls));
  EXPECT_STREQ("unix:/tmp/s", out);
  EXPECT_FALSE(cp_route_target_address("ftp://h:1", out, sizeof out, &tls));
  EXPECT_FALSE(cp_route_target_address("", out, sizeof out, &tls));
  EXPECT_FALSE(cp_route_target_address("http://", out, sizeof out, &tls));
}

}  // namespace
