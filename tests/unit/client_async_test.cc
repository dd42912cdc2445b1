// cp_client_unary_async against a real EchoService server on 127.0.0.1:0:
// many concurrent calls, decoding, deadlines, error statuses, close and
// destroy with calls in flight (every callback exactly once), callbacks that
// chain calls, the interceptor rule and the synchronous errors.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
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

// What one call's callback saw. `calls` counts callbacks for this call, so a
// second delivery shows up as 2.
struct Outcome {
  std::atomic<int> calls{0};
  cp_status status{};
  std::string text;
  std::string peer;
  std::thread::id thread;
  bool had_response = false;
};

// Counts callbacks across all calls and lets the test wait for them (with
// the shared deadline; a timeout shows how many came). A callback calls Done
// last, so what it recorded is visible once its count is.
class Waiter {
 public:
  void Done() { done_.fetch_add(1); }
  ::testing::AssertionResult WaitFor(int n) {
    return cp_test::WaitFor(
        std::to_string(n) + " callback(s)", [&] { return done_.load() >= n; },
        [&] { return std::to_string(done_.load()) + " callback(s)"; });
  }
  int Count() { return done_.load(); }

 private:
  std::atomic<int> done_{0};
};

struct Slot {
  Outcome *out;
  Waiter *waiter;
};

void OnDone(const cp_status *status, ProtobufCMessage *resp, void *user) {
  Slot *slot = static_cast<Slot *>(user);
  Outcome *o = slot->out;
  o->status = *status;
  o->thread = std::this_thread::get_id();
  if (resp != nullptr) {
    auto *r = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp);
    o->had_response = true;
    o->text = r->text;
    o->peer = r->peer;
    protobuf_c_message_free_unpacked(resp, nullptr);
  }
  o->calls.fetch_add(1);
  slot->waiter->Done();
}

const cp_method_desc *EchoMethod() {
  return &cp_cplugintest__v1__echo_service__echo__method;
}

class ClientAsyncTest : public ::testing::Test {
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
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    echo_stats_destroy(stats_);
  }

  void Connect(const cp_client_options *opts = nullptr) {
    ASSERT_EQ(0, cp_client_create(&client_, target_.c_str(), opts));
  }

  // Starts Echo(text, delay_ms, fail_code) on `client`; returns the rc.
  int Start(cp_client *client, Slot *slot, const char *text, int delay_ms = 0,
            int fail_code = 0, const cp_call_options *opts = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    req.delay_ms = delay_ms;
    req.fail_code = fail_code;
    return cp_client_unary_async(client, EchoMethod(), &req.base, opts, OnDone,
                                 slot);
  }

  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::string target_;
};

TEST_F(ClientAsyncTest, ManyConcurrentCallsEachAnsweredOnce) {
  Connect();
  constexpr int kCalls = 1000;
  std::vector<Outcome> outcomes(kCalls);
  std::vector<Slot> slots(kCalls);
  std::vector<std::string> texts(kCalls);
  Waiter waiter;
  for (int i = 0; i < kCalls; i++) {
    texts[i] = "call-" + std::to_string(i);
    slots[i] = {&outcomes[i], &waiter};
    ASSERT_EQ(0, Start(client_, &slots[i], texts[i].c_str()));
  }
  ASSERT_TRUE(waiter.WaitFor(kCalls));
  for (int i = 0; i < kCalls; i++) {
    EXPECT_EQ(1, outcomes[i].calls.load()) << i;
    EXPECT_EQ(CP_STATUS_OK, outcomes[i].status.code)
        << outcomes[i].status.message;
    EXPECT_TRUE(outcomes[i].had_response);
    EXPECT_EQ(texts[i], outcomes[i].text);
  }
  EXPECT_EQ(kCalls, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(ClientAsyncTest, CallsFromManyThreadsAtOnce) {
  Connect();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::vector<Outcome> outcomes(kThreads * kPerThread);
  std::vector<Slot> slots(outcomes.size());
  Waiter waiter;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        size_t k = static_cast<size_t>(t * kPerThread + i);
        slots[k] = {&outcomes[k], &waiter};
        if (Start(client_, &slots[k], "mt") != 0) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  ASSERT_EQ(0, failures.load());
  ASSERT_TRUE(waiter.WaitFor(kThreads * kPerThread));
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_OK, o.status.code) << o.status.message;
  }
}

TEST_F(ClientAsyncTest, CallbackRunsOnTheClientThreadNotTheCaller) {
  Connect();
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  ASSERT_EQ(0, Start(client_, &slot, "where"));
  ASSERT_TRUE(waiter.WaitFor(1));
  EXPECT_NE(std::this_thread::get_id(), out.thread);
  EXPECT_EQ("where", out.text);
}

TEST_F(ClientAsyncTest, DeadlineExceeded) {
  Connect();
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 20;
  // The server answers only after 300 ms: the 20 ms deadline always wins.
  ASSERT_EQ(0, Start(client_, &slot, "slow", 300, 0, &opts));
  ASSERT_TRUE(waiter.WaitFor(1));
  EXPECT_EQ(1, out.calls.load());
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, out.status.code);
  EXPECT_FALSE(out.had_response);
}

TEST_F(ClientAsyncTest, ClientDefaultTimeoutApplies) {
  cp_client_options co;
  cp_client_options_init(&co);
  co.default_timeout_ms = 20;
  Connect(&co);
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  ASSERT_EQ(0, Start(client_, &slot, "slow", 300));
  ASSERT_TRUE(waiter.WaitFor(1));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, out.status.code);
}

TEST_F(ClientAsyncTest, ServerErrorStatusAndMessage) {
  Connect();
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  ASSERT_EQ(0, Start(client_, &slot, "boom", 0, CP_STATUS_FAILED_PRECONDITION));
  ASSERT_TRUE(waiter.WaitFor(1));
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, out.status.code);
  EXPECT_STREQ("failed as asked: boom", out.status.message);
  EXPECT_FALSE(out.had_response);
}

TEST_F(ClientAsyncTest, UnknownMethodIsUnimplemented) {
  Connect();
  cp_method_desc unknown = *EchoMethod();
  unknown.path = "/cplugintest.v1.EchoService/NoSuchMethod";
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  ASSERT_EQ(0, cp_client_unary_async(client_, &unknown, &req.base, nullptr,
                                     OnDone, &slot));
  ASSERT_TRUE(waiter.WaitFor(1));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, out.status.code);
}

TEST_F(ClientAsyncTest, MetadataIsSent) {
  Connect();
  struct Result {
    std::string value;
    Waiter waiter;
  } result;
  cp_metadata md[] = {{"x-test-key", "hello-metadata"}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.metadata_key = const_cast<char *>("x-test-key");
  auto cb = [](const cp_status *st, ProtobufCMessage *resp, void *user) {
    Result *r = static_cast<Result *>(user);
    if (st->code == CP_STATUS_OK && resp != nullptr) {
      r->value = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp)
                     ->metadata_value;
    }
    protobuf_c_message_free_unpacked(resp, nullptr);
    r->waiter.Done();
  };
  ASSERT_EQ(0, cp_client_unary_async(client_, EchoMethod(), &req.base, &opts,
                                     cb, &result));
  ASSERT_TRUE(result.waiter.WaitFor(1));
  EXPECT_EQ("hello-metadata", result.value);
}

// A closed loop: each callback starts the next call from the client thread.
struct Chain {
  cp_client *client;
  std::atomic<int> ok{0};
  std::atomic<int> started{0};
  int limit;
  Waiter waiter;
};

void ChainNext(Chain *c);

void OnChainDone(const cp_status *status, ProtobufCMessage *resp, void *user) {
  Chain *c = static_cast<Chain *>(user);
  protobuf_c_message_free_unpacked(resp, nullptr);
  if (status->code == CP_STATUS_OK) {
    c->ok.fetch_add(1);
  }
  if (c->started.load() < c->limit) {
    ChainNext(c);
  }
  c->waiter.Done();
}

void ChainNext(Chain *c) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("again");
  c->started.fetch_add(1);
  if (cp_client_unary_async(c->client, EchoMethod(), &req.base, nullptr,
                            OnChainDone, c) != 0) {
    c->waiter.Done();  // counted as finished so the test does not hang
  }
}

TEST_F(ClientAsyncTest, CallbackMayStartTheNextCall) {
  Connect();
  Chain chain;
  chain.client = client_;
  chain.limit = 200;
  for (int i = 0; i < 4; i++) {  // four chains in parallel
    ChainNext(&chain);
  }
  ASSERT_TRUE(chain.waiter.WaitFor(chain.limit));
  // Each started call finished once; nothing is left in flight.
  EXPECT_EQ(chain.started.load(), chain.ok.load());
  EXPECT_EQ(chain.limit, chain.ok.load());
}

TEST_F(ClientAsyncTest, CloseCancelsCallsTheServerIsHolding) {
  Connect();
  // One call whose handler sleeps 2 s before answering: once the handler
  // runs, close comes long before the answer could.
  constexpr int kCalls = 1;
  std::vector<Outcome> outcomes(kCalls);
  std::vector<Slot> slots(kCalls);
  Waiter waiter;
  slots[0] = {&outcomes[0], &waiter};
  ASSERT_EQ(0, Start(client_, &slots[0], "held", 2000));
  ASSERT_TRUE(cp_test::WaitFor(
      "the held call to reach its handler",
      [&] { return echo_stats_get(stats_, ECHO_CALLS) >= kCalls; },
      [&] { return std::to_string(echo_stats_get(stats_, ECHO_CALLS)); }));
  ASSERT_EQ(kCalls, echo_stats_get(stats_, ECHO_CALLS));
  cp_client_close(client_);
  ASSERT_TRUE(waiter.WaitFor(kCalls));
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_CANCELLED, o.status.code);
    EXPECT_STREQ("client is closed", o.status.message);
  }
  // Later calls fail at once; their callback never runs.
  Outcome late;
  Slot late_slot{&late, &waiter};
  EXPECT_EQ(CP_ECLOSED, Start(client_, &late_slot, "late"));
  EXPECT_EQ(0, late.calls.load());
}

// A listening socket that never answers: calls stay pending in the channel.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
        listen(fd_, 16) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~BlackHole() { close(fd_); }
  std::string Target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(ClientAsyncTest, CloseCancelsManyPendingCallsExactlyOnce) {
  BlackHole hole;
  ASSERT_GT(hole.port(), 0);
  cp_client *client = nullptr;
  ASSERT_EQ(0, cp_client_create(&client, hole.Target().c_str(), nullptr));
  constexpr int kCalls = 300;
  std::vector<Outcome> outcomes(kCalls);
  std::vector<Slot> slots(kCalls);
  Waiter waiter;
  for (int i = 0; i < kCalls; i++) {
    slots[i] = {&outcomes[i], &waiter};
    ASSERT_EQ(0, Start(client, &slots[i], "pending"));
  }
  cp_client_close(client);
  ASSERT_TRUE(waiter.WaitFor(kCalls));
  cp_client_destroy(client);
  EXPECT_EQ(kCalls, waiter.Count());
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_CANCELLED, o.status.code);
  }
}

TEST_F(ClientAsyncTest, DestroyAfterCloseWaitsForEveryCallback) {
  BlackHole hole;
  ASSERT_GT(hole.port(), 0);
  cp_client *client = nullptr;
  ASSERT_EQ(0, cp_client_create(&client, hole.Target().c_str(), nullptr));
  constexpr int kCalls = 50;
  std::vector<Outcome> outcomes(kCalls);
  std::vector<Slot> slots(kCalls);
  Waiter waiter;
  for (int i = 0; i < kCalls; i++) {
    slots[i] = {&outcomes[i], &waiter};
    ASSERT_EQ(0, Start(client, &slots[i], "pending"));
  }
  cp_client_close(client);
  cp_client_destroy(client);  // returns only after the last callback
  EXPECT_EQ(kCalls, waiter.Count());
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
  }
}

TEST_F(ClientAsyncTest, DestroyWithoutCloseCancelsAndWaits) {
  BlackHole hole;
  ASSERT_GT(hole.port(), 0);
  cp_client *client = nullptr;
  ASSERT_EQ(0, cp_client_create(&client, hole.Target().c_str(), nullptr));
  constexpr int kCalls = 20;
  std::vector<Outcome> outcomes(kCalls);
  std::vector<Slot> slots(kCalls);
  Waiter waiter;
  for (int i = 0; i < kCalls; i++) {
    slots[i] = {&outcomes[i], &waiter};
    ASSERT_EQ(0, Start(client, &slots[i], "pending"));
  }
  cp_client_destroy(client);
  EXPECT_EQ(kCalls, waiter.Count());
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_CANCELLED, o.status.code);
  }
}

TEST_F(ClientAsyncTest, CloseFromACallbackCancelsTheRest) {
  BlackHole hole;
  ASSERT_GT(hole.port(), 0);
  // One client answers (the server), the other never does (the hole): the
  // first callback closes the second client.
  Connect();
  cp_client *stuck = nullptr;
  ASSERT_EQ(0, cp_client_create(&stuck, hole.Target().c_str(), nullptr));
  constexpr int kStuck = 10;
  std::vector<Outcome> outcomes(kStuck);
  std::vector<Slot> slots(kStuck);
  Waiter waiter;
  for (int i = 0; i < kStuck; i++) {
    slots[i] = {&outcomes[i], &waiter};
    ASSERT_EQ(0, Start(stuck, &slots[i], "pending"));
  }
  struct Closer {
    cp_client *target;
    Waiter waiter;
  } closer{stuck, {}};
  auto cb = [](const cp_status *, ProtobufCMessage *resp, void *user) {
    Closer *c = static_cast<Closer *>(user);
    protobuf_c_message_free_unpacked(resp, nullptr);
    cp_client_close(c->target);
    c->waiter.Done();
  };
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  ASSERT_EQ(0, cp_client_unary_async(client_, EchoMethod(), &req.base, nullptr,
                                     cb, &closer));
  ASSERT_TRUE(closer.waiter.WaitFor(1));
  ASSERT_TRUE(waiter.WaitFor(kStuck));
  cp_client_destroy(stuck);
  for (auto &o : outcomes) {
    EXPECT_EQ(1, o.calls.load());
    EXPECT_EQ(CP_STATUS_CANCELLED, o.status.code);
  }
}

int NoopInterceptor(cp_invocation *inv, void *) {
  return cp_invocation_proceed(inv);
}

TEST_F(ClientAsyncTest, ClientWithInterceptorsRefusesAsyncCalls) {
  Connect();
  ASSERT_EQ(0, cp_client_add_interceptor(client_, NoopInterceptor, nullptr));
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  EXPECT_EQ(CP_ESTATE, Start(client_, &slot, "refused"));
  // Blocking calls still run the chain.
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("sync");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  EXPECT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(
                   client_, &req, &resp, nullptr, &st));
  if (resp != nullptr) {
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  EXPECT_EQ(0, out.calls.load());
}

TEST_F(ClientAsyncTest, AnAsyncCallFreezesTheInterceptorChain) {
  Connect();
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  ASSERT_EQ(0, Start(client_, &slot, "first"));
  EXPECT_EQ(CP_ESTATE,
            cp_client_add_interceptor(client_, NoopInterceptor, nullptr));
  ASSERT_TRUE(waiter.WaitFor(1));
}

TEST_F(ClientAsyncTest, SynchronousErrorsNeverRunTheCallback) {
  cp_client_options co;
  cp_client_options_init(&co);
  co.max_message_bytes = 64;
  Connect(&co);
  Outcome out;
  Waiter waiter;
  Slot slot{&out, &waiter};
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, EchoMethod(), &req.base,
                                             nullptr, nullptr, &slot));
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(nullptr, EchoMethod(), &req.base,
                                             nullptr, OnDone, &slot));
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, nullptr, &req.base,
                                             nullptr, OnDone, &slot));
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, EchoMethod(), nullptr,
                                             nullptr, OnDone, &slot));
  // A streaming method, and a request of the wrong type.
  EXPECT_EQ(CP_EINVAL,
            cp_client_unary_async(
                client_, &cp_cplugintest__v1__echo_service__count__method,
                &req.base, nullptr, OnDone, &slot));
  Cplugintest__V1__CountRequest wrong = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, EchoMethod(), &wrong.base,
                                             nullptr, OnDone, &slot));
  cp_call_options bad;
  cp_call_options_init(&bad);
  bad.timeout_ms = -1;
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, EchoMethod(), &req.base,
                                             &bad, OnDone, &slot));
  cp_metadata md[] = {{"Bad Key", "v"}};
  cp_call_options bad_md;
  cp_call_options_init(&bad_md);
  bad_md.metadata = md;
  bad_md.metadata_count = 1;
  EXPECT_EQ(CP_EINVAL, cp_client_unary_async(client_, EchoMethod(), &req.base,
                                             &bad_md, OnDone, &slot));
  // Over the client's message limit.
  std::string big(256, 'x');
  req.text = const_cast<char *>(big.c_str());
  EXPECT_EQ(CP_ETOOBIG, cp_client_unary_async(client_, EchoMethod(), &req.base,
                                              nullptr, OnDone, &slot));
  cp_client_close(client_);
  req.text = const_cast<char *>("");
  EXPECT_EQ(CP_ECLOSED, cp_client_unary_async(client_, EchoMethod(), &req.base,
                                              nullptr, OnDone, &slot));
  cp_client_destroy(client_);
  client_ = nullptr;
  EXPECT_EQ(0, out.calls.load());
}

TEST_F(ClientAsyncTest, DedicatedConnectionsAreDistinct) {
  cp_client_options co;
  cp_client_options_init(&co);
  co.dedicated_connection = true;
  cp_client *a = nullptr;
  cp_client *b = nullptr;
  ASSERT_EQ(0, cp_client_create(&a, target_.c_str(), &co));
  ASSERT_EQ(0, cp_client_create(&b, target_.c_str(), &co));
  Outcome oa, ob;
  Waiter waiter;
  Slot sa{&oa, &waiter}, sb{&ob, &waiter};
  ASSERT_EQ(0, Start(a, &sa, "a"));
  ASSERT_EQ(0, Start(b, &sb, "b"));
  ASSERT_TRUE(waiter.WaitFor(2));
  cp_client_destroy(a);
  cp_client_destroy(b);
  ASSERT_EQ(CP_STATUS_OK, oa.status.code);
  ASSERT_EQ(CP_STATUS_OK, ob.status.code);
  // Same address, different source ports: two connections.
  EXPECT_NE(oa.peer, ob.peer);
  EXPECT_EQ(0u, oa.peer.find("ipv4:127.0.0.1:")) << oa.peer;
}

}  // namespace
