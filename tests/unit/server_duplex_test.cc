// Client-streaming and bidirectional handlers on a C server (cp_stream_read),
// driven by the C client: reading pauses while the send queue is full (a
// peer that does not read what it is sent is held back, nothing is
// dropped), a message over the cap or a cancelled call ends reading with
// the one NULL the reader frees its state on, and misuse of the read API is
// refused.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}
#include "wait.h"

namespace {

// Calls that ended, by the final status the server's post hook saw.
struct Ended {
  std::atomic<int> by_code[CP_STATUS_CODE_COUNT] = {};
};

void CountEnded(const cp_call *call, cp_status_code code, int64_t ns,
                void *user) {
  (void)call;
  (void)ns;
  if (code >= 0 && code < CP_STATUS_CODE_COUNT) {
    static_cast<Ended *>(user)->by_code[code]++;
  }
}

class ServerDuplexTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(nullptr); }

  void Start(const cp_cplugintest__v1__echo_service__handlers *custom) {
    stats_ = echo_stats_create();
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 2;
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    if (custom != nullptr) {
      ASSERT_EQ(
          0, cp_cplugintest__v1__echo_service__register(server_, custom, this));
    } else {
      ASSERT_EQ(0, echo_service_register(server_, stats_));
    }
    ASSERT_EQ(0, cp_server_limit_requests(server_, "/cplugintest.v1.", 4096));
    ASSERT_EQ(0, cp_server_add_post_hook(server_, CountEnded, &ended_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
    cp_call_options_init(&opts_);
    opts_.timeout_ms = 60000;  // a hang guard
  }

  void Stop() {
    cp_client_destroy(client_);
    client_ = nullptr;
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
      server_ = nullptr;
    }
    echo_stats_destroy(stats_);
    stats_ = nullptr;
  }

  void TearDown() override { Stop(); }

  int Stat(echo_stat s) { return echo_stats_get(stats_, s); }

  cp_client_stream *OpenChat() {
    cp_client_stream *s = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_cplugintest__v1__echo_service__chat__open(client_, &opts_,
                                                              &s, &st))
        << st.message;
    return s;
  }

  static int SendText(cp_client_stream *s, const std::string &text) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text.c_str());
    return cp_cplugintest__v1__echo_service__chat__send(s, &req);
  }

  // The next echo's text, or "end <STATUS>".
  static std::string Next(cp_client_stream *s) {
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    if (cp_cplugintest__v1__echo_service__chat__next(s, &resp, &st) != 0) {
      return std::string("end ") + cp_status_code_name(st.code);
    }
    std::string text = resp->text;
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    return text;
  }

  int EndedWith(cp_status_code code) { return ended_.by_code[code].load(); }

  Ended ended_;
  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
};

TEST_F(ServerDuplexTest, APeerThatDoesNotReadIsHeldBackNotDropped) {
  // Far more echoes than the server's send queue (256) holds, sent before
  // any is read: the handler would meet CP_EAGAIN if reading went on while
  // the queue was full.
  constexpr int kMessages = 3000;
  cp_client_stream *s = OpenChat();
  ASSERT_NE(nullptr, s);
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 0; i < kMessages; i++) {
      if (SendText(s, std::to_string(i)) != 0) {
        return;
      }
      sent++;
    }
    cp_client_stream_close_send(s);
  });
  ASSERT_TRUE(cp_test::WaitFor("the server's send queue filled up",
                               [&] { return Stat(MESSAGES_QUEUED) >= 256; }));
  for (int i = 0; i < kMessages; i++) {
    ASSERT_EQ(std::to_string(i), Next(s)) << "after " << sent << " sent";
  }
  EXPECT_EQ("end OK", Next(s));
  sender.join();
  EXPECT_EQ(kMessages, sent.load());
  EXPECT_EQ(0, Stat(SEND_EAGAIN));
  EXPECT_EQ(kMessages, Stat(MESSAGES_QUEUED));
  cp_client_stream_destroy(s);
}

TEST_F(ServerDuplexTest, ClientCancellationEndsTheHandlersStream) {
  cp_client_stream *s = OpenChat();
  ASSERT_EQ(0, SendText(s, "hello"));
  ASSERT_EQ("hello", Next(s));
  cp_client_stream_cancel(s);
  // Reading ends (the handler's NULL) and the call ends CANCELLED, whether
  // the handler or its done callback finished the stream.
  ASSERT_TRUE(cp_test::WaitFor("the call ended cancelled", [&] {
    return EndedWith(CP_STATUS_CANCELLED) == 1;
  }));
  cp_client_stream_destroy(s);
}

TEST_F(ServerDuplexTest, AMessageOverTheCapEndsTheCall) {
  cp_client_stream *s = OpenChat();
  ASSERT_EQ(0, SendText(s, "small"));
  ASSERT_EQ("small", Next(s));
  ASSERT_EQ(0, SendText(s, std::string(8192, 'x')));  // cap: 4096
  EXPECT_EQ("end RESOURCE_EXHAUSTED", Next(s));
  ASSERT_TRUE(cp_test::WaitFor("the handler's done callback",
                               [&] { return Stat(STREAMS_DONE) == 1; }));
  cp_client_stream_destroy(s);
}

TEST_F(ServerDuplexTest, ShutdownEndsOpenStreams) {
  cp_client_stream *a = OpenChat();
  cp_client_stream *b = OpenChat();
  ASSERT_EQ(0, SendText(a, "a"));
  ASSERT_EQ(0, SendText(b, "b"));
  ASSERT_EQ("a", Next(a));
  ASSERT_EQ("b", Next(b));
  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  EXPECT_EQ(2, EndedWith(CP_STATUS_CANCELLED));
  EXPECT_NE("end OK", Next(a));
  EXPECT_NE("end OK", Next(b));
  cp_client_stream_destroy(a);
  cp_client_stream_destroy(b);
}

// --- misuse of the read API, from a handler of the test's own -------------

struct ReadChecks {
  std::atomic<int> wrong_method{1};
  std::atomic<int> second_read{1};
  std::atomic<int> null_fn{1};
  std::atomic<int> ends{0};
};

ReadChecks *g_checks;

void OnCollectMessage(cp_stream *stream, const Cplugintest__V1__EchoRequest *m,
                      void *user) {
  (void)user;
  if (m != nullptr) {
    return;
  }
  g_checks->ends++;
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  resp.text = const_cast<char *>("checked");
  cp_cplugintest__v1__echo_service__collect__reply(stream, &resp);
}

void Ignore(cp_stream *stream, const Cplugintest__V1__EchoRequest *m,
            void *user) {
  (void)stream;
  (void)m;
  (void)user;
}

cp_status_code OnCheckedCollect(cp_call *call, cp_stream *stream, void *user) {
  (void)call;
  (void)user;
  // The typed read of another method, a NULL callback, then a second read.
  g_checks->wrong_method = cp_stream_read_typed(
      stream, &cp_cplugintest__v1__echo_service__chat__method,
      (cp_generic_fn)Ignore, nullptr);
  g_checks->null_fn = cp_stream_read(stream, nullptr, nullptr);
  cp_stream_keep(stream);
  EXPECT_EQ(0, cp_cplugintest__v1__echo_service__collect__read(
                   stream, OnCollectMessage, nullptr));
  g_checks->second_read = cp_cplugintest__v1__echo_service__collect__read(
      stream, OnCollectMessage, nullptr);
  return CP_STATUS_OK;
}

TEST_F(ServerDuplexTest, ReadMisuseIsRefused) {
  Stop();
  ReadChecks checks;
  g_checks = &checks;
  cp_cplugintest__v1__echo_service__handlers h = {};
  h.on_collect = OnCheckedCollect;
  Start(&h);
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__open(client_, &opts_,
                                                               &s, &st));
  Cplugintest__V1__EchoResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__finish(s, &resp, &st))
      << st.message;
  EXPECT_STREQ("checked", resp->text);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  cp_client_stream_destroy(s);
  EXPECT_EQ(CP_EINVAL, checks.wrong_method.load());
  EXPECT_EQ(CP_EINVAL, checks.null_fn.load());
  // Stored by the handler, which may still run when the answer came.
  EXPECT_TRUE(cp_test::WaitFor("the handler returned",
                               [&] { return checks.second_read.load() != 1; }));
  EXPECT_EQ(CP_ESTATE, checks.second_read.load());
  EXPECT_EQ(1, checks.ends.load());
  // Not a stream whose client streams.
  EXPECT_EQ(CP_EINVAL, cp_stream_read(nullptr, nullptr, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_stream_reply(nullptr, nullptr));
}

}  // namespace
