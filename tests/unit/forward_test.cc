// Forwarding (the router's transport): a proxy server whose fallback forwards
// every unknown method to a backend EchoService, as raw bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}
#include "wait.h"

namespace {

struct ProxyState {
  cp_client *backend = nullptr;
  std::atomic<int> forwarded{0};
};

cp_status_code ForwardAll(cp_call *call, void *user) {
  auto *st = static_cast<ProxyState *>(user);
  cp_metadata md[] = {{"x-forwarded-by", "proxy"},
                      {"x-plugin-caller-id", "caller-1"}};
  int rc = cp_call_forward(call, st->backend, cp_call_path(call), md, 2);
  if (rc != 0) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE, "forward: %s",
                         cp_strerror(rc));
  }
  st->forwarded++;
  return CP_STATUS_OK;  // not used: the forward answers
}

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    cp_server_options o;
    cp_server_options_init(&o);
    o.threads = 2;
    ASSERT_EQ(0, cp_server_create(&backend_, &o));
    ASSERT_EQ(0, echo_service_register(backend_, stats_));
    ASSERT_EQ(0, cp_server_listen(backend_, "127.0.0.1:0", &backend_port_));
    ASSERT_EQ(0, cp_server_start(backend_));
    std::string bt = "127.0.0.1:" + std::to_string(backend_port_);
    ASSERT_EQ(0, cp_client_create(&proxy_.backend, bt.c_str(), nullptr));

    ASSERT_EQ(0, cp_server_create(&proxy_server_, &o));
    ASSERT_EQ(0, cp_server_set_fallback(proxy_server_, ForwardAll, &proxy_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(proxy_server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(proxy_server_));
    std::string pt = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, pt.c_str(), nullptr));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(proxy_server_, 1000);
    cp_server_destroy(proxy_server_);
    cp_client_destroy(proxy_.backend);
    if (backend_ != nullptr) {
      cp_server_shutdown(backend_, 1000);
      cp_server_destroy(backend_);
    }
    echo_stats_destroy(stats_);
  }

  cp_status Echo(Cplugintest__V1__EchoRequest &req, std::string *text,
                 std::string *md_value = nullptr, int64_t timeout_ms = 5000,
                 const cp_metadata *md = nullptr, size_t md_count = 0) {
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.metadata = md;
    o.metadata_count = md_count;
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp, &o, &st);
    if (resp != nullptr) {
      if (text != nullptr)
        *text = resp->text;
      if (md_value != nullptr)
        *md_value = resp->metadata_value;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_client_stream *StartCount(int count, bool keep_open, cp_client *c) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = count;
    req.keep_open = keep_open;
    cp_client_stream *s = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                     c, &req, nullptr, &s, &st));
    return s;
  }

  // Waits until the target's counter `which` is at least `want`: the
  // target learns of a cancelled stream after the caller saw its end.
  ::testing::AssertionResult StatReaches(echo_stat which, int want,
                                         const std::string &what) {
    return cp_test::WaitFor(
        what, [&] { return echo_stats_get(stats_, which) >= want; },
        [&] { return std::to_string(echo_stats_get(stats_, which)); });
  }

  echo_stats *stats_ = nullptr;
  cp_server *backend_ = nullptr;
  int backend_port_ = 0;
  cp_server *proxy_server_ = nullptr;
  ProxyState proxy_;
  cp_client *client_ = nullptr;
};

TEST_F(ForwardTest, UnaryCallIsRelayedUnchanged) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("through the proxy");
  std::string text;
  cp_status st = Echo(req, &text);
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ("through the proxy", text);
  EXPECT_EQ(1, proxy_.forwarded.load());
  EXPECT_EQ(1, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(ForwardTest, OnlyTheForwardersMetadataReachesTheTarget) {
  cp_metadata secret[] = {{"authorization", "Bearer caller-secret"}};
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.metadata_key = const_cast<char *>("authorization");
  std::string value = "unset";
  ASSERT_EQ(CP_STATUS_OK, Echo(req, nullptr, &value, 5000, secret, 1).code);
  EXPECT_EQ("", value);  // the caller's token never travels
  req.metadata_key = const_cast<char *>("x-plugin-caller-id");
  ASSERT_EQ(CP_STATUS_OK, Echo(req, nullptr, &value, 5000, secret, 1).code);
  EXPECT_EQ("caller-1", value);
}

TEST_F(ForwardTest, TargetStatusAndMessagePassThrough) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("x");
  req.fail_code = CP_STATUS_FAILED_PRECONDITION;
  cp_status st = Echo(req, nullptr);
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code);
  EXPECT_STREQ("failed as asked: x", st.message);
}

TEST_F(ForwardTest, StreamIsRelayedInOrder) {
  cp_client_stream *s = StartCount(50, false, client_);
  Cplugintest__V1__CountResponse *msg = nullptr;
  cp_status st;
  int n = 0;
  while (cp_cplugintest__v1__echo_service__count__next(s, &msg, &st) == 0) {
    EXPECT_EQ(n, msg->index);
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    n++;
  }
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(50, n);
  cp_client_stream_destroy(s);
}

// Client-streaming through the relay: several requests sent back to back
// (read ahead while the first is in flight), none at all, and a request
// that fails the call early.
TEST_F(ForwardTest, ClientStreamsAreRelayedWhole) {
  for (int count : {5, 1, 0}) {
    cp_client_stream *s = nullptr;
    cp_status st;
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__open(
                     client_, nullptr, &s, &st))
        << st.message;
    std::string want;
    for (int i = 0; i < count; i++) {
      std::string part = "p" + std::to_string(i);
      Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
      req.text = const_cast<char *>(part.c_str());
      ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__send(s, &req));
      want += part;
    }
    ASSERT_EQ(0, cp_client_stream_close_send(s));
    Cplugintest__V1__EchoResponse *resp = nullptr;
    ASSERT_EQ(0,
              cp_cplugintest__v1__echo_service__collect__finish(s, &resp, &st))
        << st.message;
    ASSERT_NE(nullptr, resp);
    EXPECT_EQ(want, resp->text) << count << " requests";
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    cp_client_stream_destroy(s);
  }
}

TEST_F(ForwardTest, BidirectionalCallsAreRelayedTurnByTurn) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__chat__open(client_, nullptr,
                                                            &s, &st))
      << st.message;
  // One message, then its echo, then the next: each side waits for the
  // other, so the relay must not hold a message back for a next one.
  for (int i = 0; i < 20; i++) {
    std::string text = "m" + std::to_string(i);
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text.c_str());
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__chat__send(s, &req));
    Cplugintest__V1__EchoResponse *resp = nullptr;
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__chat__next(s, &resp, &st))
        << st.message;
    EXPECT_EQ(text, resp->text);
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  // Then a burst before any answer is read.
  for (int i = 0; i < 200; i++) {
    std::string text = "b" + std::to_string(i);
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text.c_str());
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__chat__send(s, &req));
  }
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  for (int i = 0; i < 200; i++) {
    Cplugintest__V1__EchoResponse *resp = nullptr;
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__chat__next(s, &resp, &st))
        << st.message;
    EXPECT_EQ("b" + std::to_string(i), resp->text);
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  Cplugintest__V1__EchoResponse *resp = nullptr;
  EXPECT_EQ(CP_EEND,
            cp_cplugintest__v1__echo_service__chat__next(s, &resp, &st));
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  cp_client_stream_destroy(s);
}

// A request that fails the target's handler mid-stream: the caller gets
// the target's status, whatever it still sends is dropped.
TEST_F(ForwardTest, AClientStreamTheTargetEndsEarlyGetsItsStatus) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__open(client_, nullptr,
                                                               &s, &st));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("x");
  req.fail_code = CP_STATUS_FAILED_PRECONDITION;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__send(s, &req));
  req.fail_code = 0;
  for (int i = 0; i < 10; i++) {
    // Sending after the target ended may fail once the call is over.
    (void)cp_cplugintest__v1__echo_service__collect__send(s, &req);
  }
  (void)cp_client_stream_close_send(s);
  Cplugintest__V1__EchoResponse *resp = nullptr;
  EXPECT_NE(0,
            cp_cplugintest__v1__echo_service__collect__finish(s, &resp, &st));
  EXPECT_EQ(nullptr, resp);
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code) << st.message;
  cp_client_stream_destroy(s);
}

TEST_F(ForwardTest, DeadlinePropagatesToTheTarget) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.delay_ms = 1500;
  auto start = std::chrono::steady_clock::now();
  cp_status st = Echo(req, nullptr, nullptr, 200);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, st.code);
  EXPECT_LT(took, std::chrono::milliseconds(1400));
  // The target saw the caller's deadline.
  req.delay_ms = 0;
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 3000;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(client_, &req,
                                                            &resp, &o, &st));
  EXPECT_TRUE(resp->has_deadline);
  EXPECT_LE(resp->deadline_left_ms, 3100);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
}

TEST_F(ForwardTest, CancellationPropagatesToTheTarget) {
  cp_client_stream *s = StartCount(1, true, client_);
  Cplugintest__V1__CountResponse *msg = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  cp_client_stream_cancel(s);
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
  cp_client_stream_destroy(s);
  ASSERT_TRUE(StatReaches(STREAMS_DONE, 1,
                          "the target's done callback for the stream"));
  EXPECT_EQ(1, echo_stats_get(stats_, STREAMS_DONE));
}

TEST_F(ForwardTest, TargetDyingMidStreamIsUnavailable) {
  cp_client_stream *s = StartCount(1, true, client_);
  Cplugintest__V1__CountResponse *msg = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  cp_server_shutdown(backend_, 0);
  cp_server_destroy(backend_);
  backend_ = nullptr;
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  cp_client_stream_destroy(s);
  // A call to the dead target is UNAVAILABLE too.
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, Echo(req, nullptr, nullptr, 3000).code);
}

TEST_F(ForwardTest, ThousandConcurrentForwardsOnTwoThreads) {
  // Each stream stays open at the target, so all 1000 are in flight through
  // the proxy's two completion-queue threads at once.
  const int kStreams = 1000;
  std::vector<cp_client_stream *> streams;
  for (int i = 0; i < kStreams; i++) {
    streams.push_back(StartCount(1, true, client_));
  }
  int first = 0;
  for (cp_client_stream *s : streams) {
    Cplugintest__V1__CountResponse *msg = nullptr;
    cp_status st;
    if (cp_cplugintest__v1__echo_service__count__next(s, &msg, &st) == 0) {
      first++;
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
  }
  EXPECT_EQ(kStreams, first);
  EXPECT_EQ(kStreams, echo_stats_get(stats_, COUNT_CALLS));
  for (cp_client_stream *s : streams) {
    cp_client_stream_destroy(s);
  }
  ASSERT_TRUE(StatReaches(STREAMS_DONE, kStreams,
                          "the target's done callbacks for every stream"));
  EXPECT_EQ(kStreams, echo_stats_get(stats_, STREAMS_DONE));
}

cp_status_code NoForward(cp_call *call, void *user) {
  return cp_call_error(call, CP_STATUS_NOT_FOUND, "no route for %s",
                       cp_call_path(call));
}

TEST(ForwardApi, FallbackAnswersAndMisuseIsRejected) {
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_server_set_fallback(s, nullptr, nullptr));
  ASSERT_EQ(0, cp_server_set_fallback(s, NoForward, nullptr));
  int port = 0;
  ASSERT_EQ(0, cp_server_listen(s, "127.0.0.1:0", &port));
  ASSERT_EQ(0, cp_server_start(s));
  EXPECT_EQ(CP_ESTATE, cp_server_set_fallback(s, NoForward, nullptr));
  std::string t = "127.0.0.1:" + std::to_string(port);
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_client_create(&c, t.c_str(), nullptr));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_cplugintest__v1__echo_service__echo__call(
                         c, &req, &resp, nullptr, &st));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ("no route for /cplugintest.v1.EchoService/Echo", st.message);
  EXPECT_EQ(CP_EINVAL, cp_call_forward(nullptr, c, "/x", nullptr, 0));
  cp_client_destroy(c);
  cp_server_shutdown(s, 100);
  cp_server_destroy(s);
}

}  // namespace
