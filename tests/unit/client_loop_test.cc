// cp_client_loop: many clients' asynchronous calls and streams completing on
// one shared thread, against a real EchoService server on 127.0.0.1:0. Each
// client keeps its own guarantees: callbacks exactly once, and destroy ends
// and waits for the client's own calls and streams only, while the others
// go on. The loop refuses to go while a client of it lives.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}
#include "wait.h"

namespace {

// Every callback of a test: how many, and on which threads.
struct Seen {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> ok{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> other{0};
  std::atomic<int> messages{0};
  std::atomic<int> stream_ends{0};

  void Record(const cp_status *st) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    if (st->code == CP_STATUS_OK) {
      ok.fetch_add(1);
    } else if (st->code == CP_STATUS_CANCELLED) {
      cancelled.fetch_add(1);
    } else {
      other.fetch_add(1);
    }
  }
  size_t ThreadCount() {
    std::lock_guard<std::mutex> lock(mu);
    return threads.size();
  }
};

void OnUnary(const cp_status *st, ProtobufCMessage *resp, void *user) {
  if (resp != nullptr) {
    protobuf_c_message_free_unpacked(resp, nullptr);
  }
  static_cast<Seen *>(user)->Record(st);
}

void OnStream(const cp_status *st, const ProtobufCMessage *msg, void *user) {
  Seen *seen = static_cast<Seen *>(user);
  if (msg != nullptr) {
    seen->messages.fetch_add(1);
    return;
  }
  seen->stream_ends.fetch_add(1);
  seen->Record(st);
}

// An asynchronous interceptor that only proceeds: calls go through the
// interceptor chain (and the client's callback thread).
int PassThrough(cp_invocation *inv, void *) {
  return cp_invocation_proceed(inv);
}
void PassThroughAsync(cp_invocation *inv, void *) {
  cp_invocation_proceed_async(inv, nullptr, nullptr);
}

class ClientLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 2;
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_loop_create(&loop_));
  }

  void TearDown() override {
    for (cp_client *c : clients_) {
      cp_client_destroy(c);
    }
    if (silent_fd_ >= 0) {
      close(silent_fd_);
    }
    EXPECT_EQ(0, cp_client_loop_destroy(loop_));
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    echo_stats_destroy(stats_);
  }

  // A listening socket that never accepts: a call to it waits for a
  // connection that never speaks HTTP/2 (about 20 s), so it is surely in
  // flight whenever the test ends it.
  std::string SilentTarget() {
    silent_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(0, bind(silent_fd_, reinterpret_cast<sockaddr *>(&addr), len));
    EXPECT_EQ(0, listen(silent_fd_, 16));
    EXPECT_EQ(
        0, getsockname(silent_fd_, reinterpret_cast<sockaddr *>(&addr), &len));
    return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }

  // A client of the loop, with its own connection (as a simulated peer).
  cp_client *NewClient(const std::string &target = "") {
    cp_client_options o;
    cp_client_options_init(&o);
    o.loop = loop_;
    o.dedicated_connection = true;
    cp_client *c = nullptr;
    EXPECT_EQ(0, cp_client_create(
                     &c, (target.empty() ? target_ : target).c_str(), &o));
    clients_.push_back(c);
    return c;
  }

  void Forget(cp_client *c) {
    clients_.erase(std::find(clients_.begin(), clients_.end(), c));
  }

  static int Echo(cp_client *c, Seen *seen) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("loop");
    return cp_client_unary_async(
        c, &cp_cplugintest__v1__echo_service__echo__method, &req.base, nullptr,
        OnUnary, seen);
  }

  static int Count(cp_client *c, Seen *seen, int count, bool keep_open,
                   cp_client_stream **out) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = count;
    req.keep_open = keep_open;
    return cp_client_stream_start_async(
        c, &cp_cplugintest__v1__echo_service__count__method, &req.base, nullptr,
        OnStream, seen, out);
  }

  static ::testing::AssertionResult WaitFor(const std::string &what,
                                            std::function<bool()> cond) {
    return cp_test::WaitFor(what, cond, [] { return std::string("not yet"); });
  }

  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client_loop *loop_ = nullptr;
  std::vector<cp_client *> clients_;
  std::string target_;
  int silent_fd_ = -1;
};

TEST_F(ClientLoopTest, CallsOfManyClientsCompleteOnTheLoopsOneThread) {
  constexpr int kClients = 20;
  constexpr int kCalls = 25;
  Seen seen;
  for (int i = 0; i < kClients; i++) {
    cp_client *c = NewClient();
    for (int k = 0; k < kCalls; k++) {
      ASSERT_EQ(0, Echo(c, &seen));
    }
  }
  ASSERT_TRUE(WaitFor("every call", [&] {
    return seen.ok.load() + seen.other.load() == kClients * kCalls;
  }));
  EXPECT_EQ(kClients * kCalls, seen.ok.load());
  EXPECT_EQ(0, seen.other.load());
  EXPECT_EQ(kClients * kCalls, echo_stats_get(stats_, ECHO_CALLS));
  // One completion thread for all of them, and not the caller's.
  ASSERT_EQ(1u, seen.ThreadCount());
  EXPECT_EQ(0u, seen.threads.count(std::this_thread::get_id()));
}

TEST_F(ClientLoopTest, StreamsAndInterceptedCallsOfManyClients) {
  constexpr int kClients = 8;
  Seen seen;
  std::vector<cp_client_stream *> streams;
  for (int i = 0; i < kClients; i++) {
    cp_client *c = NewClient();
    if (i % 2 == 1) {
      ASSERT_EQ(0, cp_client_add_interceptor_async(c, PassThrough,
                                                   PassThroughAsync, nullptr));
    }
    cp_client_stream *s = nullptr;
    ASSERT_EQ(0, Count(c, &seen, 50, false, &s));
    streams.push_back(s);
    ASSERT_EQ(0, Echo(c, &seen));
  }
  ASSERT_TRUE(WaitFor("every stream and call", [&] {
    return seen.ok.load() + seen.other.load() == 2 * kClients;
  }));
  EXPECT_EQ(2 * kClients, seen.ok.load());
  EXPECT_EQ(kClients, seen.stream_ends.load());
  EXPECT_EQ(kClients * 50, seen.messages.load());
  for (cp_client_stream *s : streams) {
    cp_client_stream_destroy(s);
  }
}

TEST_F(ClientLoopTest, DestroyingOneClientEndsOnlyItsCallsAndStreams) {
  cp_client *leaving = NewClient();
  cp_client *waiting = NewClient(SilentTarget());
  cp_client *staying = NewClient();
  Seen gone;
  Seen kept;
  // Still running when their clients go: a stream kept open, and calls to
  // a peer that never answers.
  cp_client_stream *open = nullptr;
  ASSERT_EQ(0, Count(leaving, &gone, 1, true, &open));
  for (int k = 0; k < 3; k++) {
    ASSERT_EQ(0, Echo(waiting, &gone));
  }
  cp_client_stream *other = nullptr;
  ASSERT_EQ(0, Count(staying, &kept, 1, true, &other));
  ASSERT_TRUE(WaitFor("both streams' first message", [&] {
    return gone.messages.load() == 1 && kept.messages.load() == 1;
  }));

  cp_client_stream_destroy(open);
  Forget(leaving);
  cp_client_destroy(leaving);
  Forget(waiting);
  cp_client_destroy(waiting);
  // Every callback of the leaving clients ran, once, before destroy
  // returned.
  EXPECT_EQ(4, gone.cancelled.load());
  EXPECT_EQ(1, gone.stream_ends.load());
  EXPECT_EQ(0, gone.ok.load() + gone.other.load());

  // The other client's stream is still open, and it still calls.
  EXPECT_EQ(0, kept.stream_ends.load());
  ASSERT_EQ(0, Echo(staying, &kept));
  ASSERT_TRUE(WaitFor("a call after the others left",
                      [&] { return kept.ok.load() == 1; }));
  cp_client_stream_destroy(other);
  EXPECT_EQ(1, kept.stream_ends.load());
  EXPECT_EQ(1, kept.cancelled.load());
}

TEST_F(ClientLoopTest, CloseCancelsTheClientsCallsOnTheLoop) {
  cp_client *c = NewClient(SilentTarget());
  Seen seen;
  for (int k = 0; k < 3; k++) {
    ASSERT_EQ(0, Echo(c, &seen));
  }
  cp_client_close(c);
  ASSERT_TRUE(WaitFor("the cancelled callbacks",
                      [&] { return seen.cancelled.load() == 3; }));
  EXPECT_EQ(CP_ECLOSED, Echo(c, &seen));
  EXPECT_EQ(0, seen.ok.load() + seen.other.load());
}

TEST_F(ClientLoopTest, TheLoopStaysWhileAClientOfItLives) {
  cp_client *c = NewClient();
  Seen seen;
  ASSERT_EQ(0, Echo(c, &seen));
  ASSERT_TRUE(WaitFor("the call", [&] { return seen.ok.load() == 1; }));
  EXPECT_EQ(CP_ESTATE, cp_client_loop_destroy(loop_));
  // Refused without harm: the client still works.
  ASSERT_EQ(0, Echo(c, &seen));
  ASSERT_TRUE(WaitFor("a second call", [&] { return seen.ok.load() == 2; }));
  Forget(c);
  cp_client_destroy(c);
  EXPECT_EQ(0, cp_client_loop_destroy(loop_));
  loop_ = nullptr;  // TearDown's destroy of NULL is 0
}

TEST(ClientLoopArgs, CreateAndDestroyArguments) {
  EXPECT_EQ(CP_EINVAL, cp_client_loop_create(nullptr));
  EXPECT_EQ(0, cp_client_loop_destroy(nullptr));
  cp_client_loop *loop = nullptr;
  ASSERT_EQ(0, cp_client_loop_create(&loop));
  ASSERT_NE(nullptr, loop);
  EXPECT_EQ(0, cp_client_loop_destroy(loop));  // unused: nothing to wait for
}

}  // namespace
