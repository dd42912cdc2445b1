// cp_host_options.call_chain: the host's per-call chain (auth interceptor,
// rate-limit interceptor, metrics post-call hook) on by default, and off only
// when asked (the load tool's "--chain off", for measuring its cost).
#include <gtest/gtest.h>

#include <string>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}

namespace {

const char kEchoPath[] = "/cplugintest.v1.EchoService/Echo";

class HostChainTest : public ::testing::Test {
 protected:
  void Start(bool chain) {
    stats_ = echo_stats_create();
    cp_host_options o;
    cp_host_options_init(&o);
    o.call_chain = chain;
    o.metrics_address = nullptr;
    o.tokens.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    ASSERT_EQ(0, echo_service_register(cp_host_server(host_), stats_));
    // Two calls per caller, then nothing: a third call shows the limiter.
    cp_rate_limit limit = {0, 2};
    ASSERT_EQ(0,
              cp_rate_policy_set(cp_host_rate_policy(host_), kEchoPath, limit));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&anonymous_, target_.c_str(), nullptr));
  }

  void TearDown() override {
    cp_client_destroy(anonymous_);
    cp_plugin_client_destroy(plugin_);
    cp_host_destroy(host_);
    echo_stats_destroy(stats_);
  }

  // A client that carries a runtime identity from a real handshake.
  cp_client *Authenticated() {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    o.endpoint = target_.c_str();
    o.self_id = "chain-test";
    EXPECT_EQ(0, cp_plugin_client_create(&plugin_, &o));
    cp_status st;
    EXPECT_EQ(0, cp_plugin_client_connect(plugin_, &st)) << st.message;
    return cp_plugin_client_channel(plugin_);
  }

  cp_status Echo(cp_client *client, std::string *identity = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("x");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(client, &req, &resp, nullptr,
                                                 &st);
    if (resp != nullptr) {
      if (identity != nullptr) {
        *identity = resp->identity;
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  std::string Metrics() {
    char *text = nullptr;
    size_t len = 0;
    EXPECT_EQ(0, cp_metrics_render(cp_host_metrics(host_), &text, &len));
    std::string out(text != nullptr ? text : "", len);
    cp_metric_text_free(text);
    return out;
  }

  echo_stats *stats_ = nullptr;
  cp_host *host_ = nullptr;
  cp_client *anonymous_ = nullptr;
  cp_plugin_client *plugin_ = nullptr;
  std::string target_;
};

TEST(HostChainDefaults, ChainIsOnByDefault) {
  cp_host_options o;
  cp_host_options_init(&o);
  EXPECT_TRUE(o.call_chain);
}

TEST_F(HostChainTest, ChainOnAuthenticatesLimitsAndCounts) {
  Start(true);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(anonymous_).code);
  EXPECT_EQ(0, echo_stats_get(stats_, ECHO_CALLS));

  cp_client *client = Authenticated();
  ASSERT_NE(nullptr, client);
  std::string identity;
  EXPECT_EQ(CP_STATUS_OK, Echo(client, &identity).code);
  EXPECT_EQ(0u, identity.rfind("chain-test", 0)) << identity;
  EXPECT_EQ(CP_STATUS_OK, Echo(client).code);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Echo(client).code);
  EXPECT_EQ(2, echo_stats_get(stats_, ECHO_CALLS));

  // The metrics post-call hook runs after the reply reached the client:
  // wait until every call is counted, with its code.
  const std::string requests =
      std::string("cplugin_requests_total{method=\"") + kEchoPath + "\",code=";
  const std::string counted[] = {requests + "\"OK\"} 2\n",
                                 requests + "\"UNAUTHENTICATED\"} 1\n",
                                 requests + "\"RESOURCE_EXHAUSTED\"} 1\n"};
  std::string metrics;
  EXPECT_TRUE(cp_test::WaitFor(
      "the metrics hook to count the four Echo calls",
      [&] {
        metrics = Metrics();
        for (const std::string &line : counted) {
          if (metrics.find(line) == std::string::npos) {
            return false;
          }
        }
        return true;
      },
      [&] { return metrics; }));
  EXPECT_NE(std::string::npos, metrics.find(kEchoPath)) << metrics;
}

TEST_F(HostChainTest, ChainOffSkipsAuthLimitsAndCallMetrics) {
  Start(false);
  // No token needed, and the limiter (burst 2) never sees the calls.
  for (int i = 0; i < 5; i++) {
    std::string identity = "unset";
    cp_status st = Echo(anonymous_, &identity);
    EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
    EXPECT_EQ("", identity);
  }
  EXPECT_EQ(5, echo_stats_get(stats_, ECHO_CALLS));

  // The handshake still issues identities; calls that carry one pass too.
  cp_client *client = Authenticated();
  ASSERT_NE(nullptr, client);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(CP_STATUS_OK, Echo(client).code);
  }
  EXPECT_EQ(0u, cp_rate_limiter_count(
                    cp_rate_policy_limiter(cp_host_rate_policy(host_))));

  // No post-call hook: no call appears in the request counter. (Nothing to
  // wait for: without the chain no hook is attached at all.)
  std::string metrics = Metrics();
  EXPECT_EQ(std::string::npos, metrics.find(kEchoPath)) << metrics;
}

}  // namespace
