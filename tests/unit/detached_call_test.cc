// cp_server_invoke_detached, the fuzzers' way into the host's handlers,
// answers as the server does for the same metadata and bytes.
#include <gtest/gtest.h>

#include <string>

#include "cplugin/host.h"
#include "cplugin/tokens.h"
#include "transport/detached_call.h"

namespace {

const char kCheck[] = "/grpc.health.v1.Health/Check";
const char kDiscover[] = "/connectplugin.v1.ServiceRegistry/DiscoverService";
const char kPeer[] = "ipv4:127.0.0.1:40000";

class DetachedCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_host_options o;
    cp_host_options_init(&o);
    o.metrics_address = nullptr;
    o.tokens.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    ASSERT_EQ(0, cp_token_store_issue(cp_host_tokens(host_), "detached", id,
                                      sizeof id, token));
    id_ = id;
    bearer_ = std::string("Bearer ") + token;
  }
  void TearDown() override { cp_host_destroy(host_); }

  cp_status_code Invoke(const char *path, const std::string &body, bool token,
                        size_t *response = nullptr) {
    cp_metadata md[] = {{"x-plugin-runtime-id", id_.c_str()},
                        {"authorization", bearer_.c_str()}};
    return cp_server_invoke_detached(
        cp_host_server(host_), path, kPeer, md, token ? 2 : 0,
        reinterpret_cast<const uint8_t *>(body.data()), body.size(), response);
  }

  cp_host *host_ = nullptr;
  std::string id_;
  std::string bearer_;
};

TEST_F(DetachedCallTest, RunsTheHandlerAndEncodesItsResponse) {
  size_t response = 0;
  EXPECT_EQ(CP_STATUS_OK, Invoke(kCheck, "", false, &response));
  // Before cp_host_start the host is not serving yet, and says so.
  EXPECT_EQ(2u, response);
  std::string discover = std::string("\x0a\x06logger", 8);
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Invoke(kDiscover, discover, true, &response));
  EXPECT_EQ(0u, response);
}

TEST_F(DetachedCallTest, InterceptorsCapsAndDecodingApply) {
  std::string discover = std::string("\x0a\x06logger", 8);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Invoke(kDiscover, discover, false));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED,
            Invoke(kCheck, std::string(65 * 1024, '\0'), false));
  // Field 1 claims five bytes and two follow.
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            Invoke(kCheck, std::string("\x0a\x05", 2) + "ab", false));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, Invoke("/no.Such/Method", "", false));
  // Streaming methods are not invoked detached.
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED,
            Invoke("/grpc.health.v1.Health/Watch", "", false));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED,
            cp_server_invoke_detached(nullptr, kCheck, kPeer, nullptr, 0,
                                      nullptr, 0, nullptr));
}

}  // namespace
