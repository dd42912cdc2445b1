// Clients read the trailing metadata a call ended with (cp_trailers via
// cp_call_options), from blocking, asynchronous and streaming calls: here
// the retry-after-ms a server sends beside RESOURCE_EXHAUSTED.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "flaky_service.h"
}

namespace {

class ClientTrailersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flaky_ = flaky_service_create();
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, flaky_service_register(server_, flaky_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
    ASSERT_EQ(0, cp_trailers_create(&trailers_));
    cp_call_options_init(&opts_);
    opts_.trailers = trailers_;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    flaky_service_destroy(flaky_);
    cp_trailers_destroy(trailers_);
  }

  int Echo(cp_status *st) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    int rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                          &opts_, st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  std::string Get(const char *key) {
    size_t len = 0;
    const char *v = cp_trailers_get(trailers_, key, &len);
    return v != nullptr ? std::string(v, len) : std::string("<none>");
  }

  flaky_service *flaky_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_trailers *trailers_ = nullptr;
  cp_call_options opts_;
};

TEST_F(ClientTrailersTest, BlockingCallReadsTheTrailersItEndedWith) {
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 250);
  cp_status st;
  EXPECT_EQ(CP_ERPC, Echo(&st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_EQ("250", Get("retry-after-ms"));
  // Every entry is listed, the same one among them.
  bool listed = false;
  for (size_t i = 0; i < cp_trailers_count(trailers_); i++) {
    const char *key = nullptr;
    const char *value = nullptr;
    size_t len = 0;
    ASSERT_EQ(0, cp_trailers_at(trailers_, i, &key, &value, &len));
    if (std::string(key) == "retry-after-ms") {
      listed = std::string(value, len) == "250";
    }
  }
  EXPECT_TRUE(listed);
  // The next call (OK, no such trailer) replaces the contents.
  EXPECT_EQ(0, Echo(&st));
  EXPECT_EQ("<none>", Get("retry-after-ms"));
}

struct AsyncOutcome {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  cp_status_code code = CP_STATUS_OK;
  std::string retry_after;
  cp_trailers *trailers = nullptr;
};

void OnDone(const cp_status *st, ProtobufCMessage *resp, void *user) {
  auto *o = static_cast<AsyncOutcome *>(user);
  if (resp != nullptr) {
    protobuf_c_message_free_unpacked(resp, nullptr);
  }
  std::lock_guard<std::mutex> lock(o->mu);
  o->code = st->code;
  // Filled before the callback runs.
  const char *v = cp_trailers_get(o->trailers, "retry-after-ms", nullptr);
  o->retry_after = v != nullptr ? v : "<none>";
  o->done = true;
  o->cv.notify_all();
}

TEST_F(ClientTrailersTest, AsyncCallHasThemFilledBeforeItsCallback) {
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 40);
  AsyncOutcome out;
  out.trailers = trailers_;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("hi");
  ASSERT_EQ(0, cp_client_unary_async(
                   client_, &cp_cplugintest__v1__echo_service__echo__method,
                   &req.base, &opts_, OnDone, &out));
  std::unique_lock<std::mutex> lock(out.mu);
  ASSERT_TRUE(out.cv.wait_for(lock, std::chrono::seconds(30),
                              [&] { return out.done; }));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, out.code);
  EXPECT_EQ("40", out.retry_after);
}

TEST_F(ClientTrailersTest, StreamHasThemOnceItEnded) {
  cp_status st;
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 99);
  EXPECT_EQ(CP_ERPC, Echo(&st));
  ASSERT_EQ("99", Get("retry-after-ms"));
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 7);
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  cp_client_stream *s = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(client_, &req,
                                                              &opts_, &s, &st));
  // Emptied when the call started.
  EXPECT_EQ(0u, cp_trailers_count(trailers_));
  Cplugintest__V1__CountResponse *msg = nullptr;
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_EQ("7", Get("retry-after-ms"));
  cp_client_stream_destroy(s);
}

TEST_F(ClientTrailersTest, BadArgumentsAreRefused) {
  EXPECT_EQ(CP_EINVAL, cp_trailers_create(nullptr));
  EXPECT_EQ(0u, cp_trailers_count(nullptr));
  const char *key = nullptr;
  const char *value = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_trailers_at(trailers_, 0, &key, &value, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_trailers_at(nullptr, 0, &key, &value, nullptr));
  EXPECT_EQ(nullptr, cp_trailers_get(trailers_, nullptr, nullptr));
  EXPECT_EQ(nullptr, cp_trailers_get(nullptr, "x", nullptr));
  cp_trailers_destroy(nullptr);
}

}  // namespace
