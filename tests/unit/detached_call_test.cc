// cpi_server_invoke_detached, the fuzzers' way into the host's handlers,
// answers as the server does for the same metadata and bytes.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cplugin/host.h"
#include "cplugin/registry.h"
#include "cplugin/tokens.h"
#include "wait.h"
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
    return cpi_server_invoke_detached(
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
  // Streaming methods are opened, not invoked.
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED,
            Invoke("/grpc.health.v1.Health/Watch", "", false));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED,
            cpi_server_invoke_detached(nullptr, kCheck, kPeer, nullptr, 0,
                                       nullptr, 0, nullptr));
}

const char kWatch[] = "/connectplugin.v1.ServiceRegistry/WatchService";

// One length-delimited field of a protobuf message (short values only).
std::string Field(int number, const std::string &value) {
  return std::string(1, static_cast<char>(number << 3 | 2)) +
         std::string(1, static_cast<char>(value.size())) + value;
}

using StreamPtr =
    std::unique_ptr<cp_detached_stream, void (*)(cp_detached_stream *)>;

size_t Written(cp_detached_stream *s, bool *ended = nullptr,
               cp_status_code *code = nullptr) {
  bool e = false;
  cp_status_code c = CP_STATUS_OK;
  size_t n = cpi_detached_stream_written(s, &e, &c);
  if (ended != nullptr) {
    *ended = e;
  }
  if (code != nullptr) {
    *code = c;
  }
  return n;
}

size_t Watchers(cp_host *host) {
  cp_registry_stats st;
  cp_registry_get_stats(cp_host_registry(host), &st);
  return st.watchers;
}

TEST_F(DetachedCallTest, StreamStaysOpenAndReceivesEventsUntilClosed) {
  cp_metadata md[] = {{"x-plugin-runtime-id", id_.c_str()},
                      {"authorization", bearer_.c_str()}};
  std::string watch = std::string("\x0a\x07storage", 9);
  cp_detached_stream *s = nullptr;
  ASSERT_EQ(CP_STATUS_OK, cpi_server_open_detached_stream(
                              cp_host_server(host_), kWatch, kPeer, md, 2,
                              reinterpret_cast<const uint8_t *>(watch.data()),
                              watch.size(), &s));
  ASSERT_NE(nullptr, s);
  StreamPtr guard(s, cpi_detached_stream_close);
  // The current state (no provider) first.
  ASSERT_TRUE(cp_test::WaitFor("the current state was written",
                               [&] { return Written(s) == 1; }));
  EXPECT_EQ(1u, Watchers(host_));
  // A registration of the type reaches the open stream.
  std::string reg = Field(1, "storage") + Field(2, "1.0.0") +
                    Field(3, "/storage.v1.Storage/");
  ASSERT_EQ(
      CP_STATUS_OK,
      Invoke("/connectplugin.v1.ServiceRegistry/RegisterService", reg, true));
  ASSERT_TRUE(cp_test::WaitFor("the registration event was written",
                               [&] { return Written(s) == 2; }));
  bool ended = true;
  Written(s, &ended);
  EXPECT_FALSE(ended);
  // The client going away ends the watch on the host.
  cpi_detached_stream_close(guard.release());
  EXPECT_TRUE(cp_test::WaitFor("the watcher is gone",
                               [&] { return Watchers(host_) == 0; }));
}

TEST_F(DetachedCallTest, StreamRefusalsAndHandlerStatuses) {
  std::string watch = std::string("\x0a\x07storage", 9);
  const uint8_t *body = reinterpret_cast<const uint8_t *>(watch.data());
  cp_detached_stream *s = nullptr;
  // No token: refused before the handler, no stream.
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, cpi_server_open_detached_stream(
                                           cp_host_server(host_), kWatch, kPeer,
                                           nullptr, 0, body, watch.size(), &s));
  EXPECT_EQ(nullptr, s);
  // Bytes that do not decode: refused, no stream.
  cp_metadata md[] = {{"x-plugin-runtime-id", id_.c_str()},
                      {"authorization", bearer_.c_str()}};
  const uint8_t bad[] = {0x0a, 0x05, 'a'};
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT,
            cpi_server_open_detached_stream(cp_host_server(host_), kWatch,
                                            kPeer, md, 2, bad, sizeof bad, &s));
  EXPECT_EQ(nullptr, s);
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, cpi_server_open_detached_stream(
                                         cp_host_server(host_), kCheck, kPeer,
                                         md, 2, body, watch.size(), &s));
  // An empty service type: the handler ends the stream with its status.
  ASSERT_EQ(CP_STATUS_INVALID_ARGUMENT,
            cpi_server_open_detached_stream(cp_host_server(host_), kWatch,
                                            kPeer, md, 2, nullptr, 0, &s));
  ASSERT_NE(nullptr, s);
  bool ended = false;
  cp_status_code code = CP_STATUS_OK;
  EXPECT_EQ(0u, Written(s, &ended, &code));
  EXPECT_TRUE(ended);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, code);
  cpi_detached_stream_close(s);
  cpi_detached_stream_close(nullptr);
}

}  // namespace
