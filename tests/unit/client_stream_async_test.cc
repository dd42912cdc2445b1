// Asynchronous client streams (cp_client_stream_start_async, _open_async)
// against a C server running the EchoService: messages reach the callback
// in order on the client's callback thread, then exactly one end; a blocked
// callback holds the server back without anything dropped; cancel, close
// and destroy end the stream once; sends go on while the callback reads;
// interceptor metadata is sent; and misuse is refused.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
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

// What one stream's callback saw.
struct Reader {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> texts;  // Chat / Collect
  std::vector<int> indexes;        // Count
  std::vector<std::thread::id> threads;
  int ends = 0;
  cp_status final_status;
  // Set: the callback blocks on the first message until `release`.
  bool hold_first = false;
  bool holding = false;
  bool release = false;
  // Destroy the stream from its own final callback.
  cp_client_stream **destroy_at_end = nullptr;

  int Ends() {
    std::lock_guard<std::mutex> lock(mu);
    return ends;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return texts.size() + indexes.size();
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
};

void OnMessage(const cp_status *status, const ProtobufCMessage *msg,
               void *user) {
  Reader *r = static_cast<Reader *>(user);
  std::unique_lock<std::mutex> lock(r->mu);
  r->threads.push_back(std::this_thread::get_id());
  if (msg == nullptr) {
    r->ends++;
    r->final_status = *status;
    if (r->destroy_at_end != nullptr) {
      cp_client_stream_destroy(*r->destroy_at_end);
    }
    return;
  }
  EXPECT_EQ(CP_STATUS_OK, status->code);
  if (msg->descriptor == &cplugintest__v1__count_response__descriptor) {
    r->indexes.push_back(
        reinterpret_cast<const Cplugintest__V1__CountResponse *>(msg)->index);
  } else {
    r->texts.push_back(
        reinterpret_cast<const Cplugintest__V1__EchoResponse *>(msg)->text);
  }
  if (r->hold_first && r->texts.size() + r->indexes.size() == 1) {
    r->holding = true;
    r->cv.wait(lock, [r] { return r->release; });
  }
}

// Adds "x-relay: through-interceptor" to every call, asynchronously.
int AddMetadata(cp_invocation *inv, void *user) {
  (void)user;
  cp_invocation_add_metadata(inv, "x-relay", "through-interceptor");
  return cp_invocation_proceed(inv);
}
void AddMetadataAsync(cp_invocation *inv, void *user) {
  (void)user;
  cp_invocation_add_metadata(inv, "x-relay", "through-interceptor");
  cp_invocation_proceed_async(inv, nullptr, nullptr);
}

// A Count handler that answers with one message: index 1 when the request
// carried the interceptor's "x-relay" metadata, else 0.
cp_status_code CountMetadata(cp_call *call,
                             const Cplugintest__V1__CountRequest *req,
                             cp_stream *stream, void *user) {
  (void)req;
  (void)user;
  cp_str v;
  Cplugintest__V1__CountResponse msg = CPLUGINTEST__V1__COUNT_RESPONSE__INIT;
  msg.index = cp_call_metadata(call, "x-relay", &v) &&
              std::string(v.ptr, v.len) == "through-interceptor";
  cp_stream_send(stream, &msg.base);
  return CP_STATUS_OK;
}

class ClientStreamAsyncTest : public ::testing::Test {
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
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target_.c_str(), nullptr));
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

  cp_client_stream *StartCount(Reader *r, int count, bool keep_open) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = count;
    req.keep_open = keep_open;
    cp_client_stream *s = nullptr;
    EXPECT_EQ(0, cp_client_stream_start_async(
                     client_, &cp_cplugintest__v1__echo_service__count__method,
                     &req.base, &opts_, OnMessage, r, &s));
    return s;
  }

  cp_client_stream *OpenAsync(const cp_method_desc *method, Reader *r) {
    cp_client_stream *s = nullptr;
    EXPECT_EQ(0, cp_client_stream_open_async(client_, method, &opts_, OnMessage,
                                             r, &s));
    return s;
  }

  static int SendText(cp_client_stream *s, const std::string &text,
                      size_t payload = 0) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text.c_str());
    std::string bytes(payload, 'p');
    req.payload.data = reinterpret_cast<uint8_t *>(&bytes[0]);
    req.payload.len = payload;
    return cp_client_stream_send(s, &req.base);
  }

  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
  std::string target_;
};

TEST_F(ClientStreamAsyncTest, CountArrivesInOrderThenOkOnTheCallbackThread) {
  Reader r;
  cp_client_stream *s = StartCount(&r, 200, false);
  ASSERT_NE(nullptr, s);
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  std::lock_guard<std::mutex> lock(r.mu);
  ASSERT_EQ(200u, r.indexes.size());
  for (int i = 0; i < 200; i++) {
    ASSERT_EQ(i, r.indexes[i]);
  }
  EXPECT_EQ(CP_STATUS_OK, r.final_status.code) << r.final_status.message;
  // One thread for every delivery, and not the caller's.
  ASSERT_EQ(201u, r.threads.size());
  for (const std::thread::id &id : r.threads) {
    EXPECT_EQ(r.threads[0], id);
  }
  EXPECT_NE(std::this_thread::get_id(), r.threads[0]);
  // Reading through the blocking API is refused.
  ProtobufCMessage *msg = nullptr;
  cp_status st;
  EXPECT_EQ(CP_ESTATE, cp_client_stream_next(s, &msg, &st));
  cp_client_stream_destroy(s);
  EXPECT_EQ(1, r.ends);
}

TEST_F(ClientStreamAsyncTest, AnErrorStatusEndsTheStream) {
  Reader r;
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  req.count = -1;  // INVALID_ARGUMENT before any message
  cp_client_stream *s = nullptr;
  ASSERT_EQ(0, cp_client_stream_start_async(
                   client_, &cp_cplugintest__v1__echo_service__count__method,
                   &req.base, &opts_, OnMessage, &r, &s));
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, r.final_status.code);
  EXPECT_EQ(0u, r.Count());
  cp_client_stream_destroy(s);
}

TEST_F(ClientStreamAsyncTest, ABlockedCallbackHoldsTheServerBackNotDropped) {
  // Echoes of 3 KB, far more than the server's send queue (256 messages)
  // and HTTP/2's windows hold: while the callback blocks on the first, the
  // server's queue fills, and it must wait (not meet CP_EAGAIN).
  constexpr int kMessages = 1500;
  constexpr size_t kPayload = 3000;  // under the server's request limit
  Reader r;
  r.hold_first = true;
  cp_client_stream *s =
      OpenAsync(&cp_cplugintest__v1__echo_service__chat__method, &r);
  ASSERT_NE(nullptr, s);
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 0; i < kMessages; i++) {
      if (SendText(s, std::to_string(i), kPayload) != 0) {
        return;
      }
      sent++;
    }
    cp_client_stream_close_send(s);
  });
  ASSERT_TRUE(cp_test::WaitFor("the server's send queue filled up",
                               [&] { return Stat(MESSAGES_QUEUED) >= 256; }))
      << "sent " << sent << " queued " << Stat(MESSAGES_QUEUED) << " eagain "
      << Stat(SEND_EAGAIN) << " delivered " << r.Count();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    EXPECT_TRUE(r.holding);
    EXPECT_EQ(1u, r.texts.size());  // nothing delivered past the held one
  }
  r.Release();
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  sender.join();
  EXPECT_EQ(kMessages, sent.load());
  EXPECT_EQ(0, Stat(SEND_EAGAIN));
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(CP_STATUS_OK, r.final_status.code) << r.final_status.message;
  ASSERT_EQ(static_cast<size_t>(kMessages), r.texts.size());
  for (int i = 0; i < kMessages; i++) {
    ASSERT_EQ(std::to_string(i), r.texts[i]);
  }
  cp_client_stream_destroy(s);
}

TEST_F(ClientStreamAsyncTest, ClientCloseEndsTheReadOnceWithCancelled) {
  Reader r;
  cp_client_stream *s = StartCount(&r, 5, true);
  ASSERT_NE(nullptr, s);
  ASSERT_TRUE(
      cp_test::WaitFor("five messages", [&] { return r.Count() == 5; }));
  EXPECT_EQ(0, r.Ends());
  cp_client_close(client_);
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  EXPECT_EQ(CP_STATUS_CANCELLED, r.final_status.code);
  cp_client_stream_destroy(s);
  EXPECT_EQ(1, r.Ends());
  // A closed client starts nothing.
  cp_client_stream *s2 = nullptr;
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  EXPECT_EQ(CP_ECLOSED,
            cp_client_stream_start_async(
                client_, &cp_cplugintest__v1__echo_service__count__method,
                &req.base, &opts_, OnMessage, &r, &s2));
  EXPECT_EQ(nullptr, s2);
}

TEST_F(ClientStreamAsyncTest, DestroyWhileReadingWaitsForTheFinalCallback) {
  Reader r;
  cp_client_stream *s = StartCount(&r, 3, true);
  ASSERT_NE(nullptr, s);
  ASSERT_TRUE(
      cp_test::WaitFor("three messages", [&] { return r.Count() == 3; }));
  cp_client_stream_destroy(s);
  // Returned only after the final callback did.
  EXPECT_EQ(1, r.Ends());
  EXPECT_EQ(CP_STATUS_CANCELLED, r.final_status.code);
}

TEST_F(ClientStreamAsyncTest, DestroyFromTheFinalCallbackFreesTheStream) {
  Reader r;
  cp_client_stream *s = nullptr;
  r.destroy_at_end = &s;
  {
    // The callback reads `s`, so it is set before the stream can end.
    std::lock_guard<std::mutex> lock(r.mu);
    s = StartCount(&r, 4, false);
    ASSERT_NE(nullptr, s);
  }
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  EXPECT_EQ(4u, r.Count());
  EXPECT_EQ(CP_STATUS_OK, r.final_status.code);
  // valgrind: freed by the runtime after the callback returned.
}

TEST_F(ClientStreamAsyncTest, ChatSendsFromThisThreadWhileTheCallbackReads) {
  Reader r;
  cp_client_stream *s =
      OpenAsync(&cp_cplugintest__v1__echo_service__chat__method, &r);
  ASSERT_NE(nullptr, s);
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(0, SendText(s, "m" + std::to_string(i)));
  }
  ASSERT_TRUE(cp_test::WaitFor("echoes arrive while the sending side is open",
                               [&] { return r.Count() == 100; }));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(CP_STATUS_OK, r.final_status.code) << r.final_status.message;
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ("m" + std::to_string(i), r.texts[i]);
  }
  // Sends after the end are refused; the blocking finish is too.
  EXPECT_EQ(CP_ESTATE, SendText(s, "late"));
  cp_status st;
  EXPECT_EQ(CP_ESTATE, cp_client_stream_finish(s, nullptr, &st));
  cp_client_stream_destroy(s);
}

TEST_F(ClientStreamAsyncTest, CollectAnswersOnceWithTheResponse) {
  Reader r;
  cp_client_stream *s =
      OpenAsync(&cp_cplugintest__v1__echo_service__collect__method, &r);
  ASSERT_NE(nullptr, s);
  ASSERT_EQ(0, SendText(s, "a"));
  ASSERT_EQ(0, SendText(s, "b"));
  ASSERT_EQ(0, SendText(s, "c"));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  ASSERT_TRUE(
      cp_test::WaitFor("the answer", [&] { return r.Ends() + r.Count() > 0; }));
  cp_client_stream_destroy(s);
  std::lock_guard<std::mutex> lock(r.mu);
  // One callback: the response with OK (msg non-NULL: no separate end).
  ASSERT_EQ(1u, r.threads.size());
  ASSERT_EQ(1u, r.texts.size());
  EXPECT_EQ("abc", r.texts[0]);
  EXPECT_EQ(0, r.ends);
}

TEST_F(ClientStreamAsyncTest, InterceptorMetadataIsSent) {
  Stop();
  cp_cplugintest__v1__echo_service__handlers h;
  memset(&h, 0, sizeof h);
  h.on_count = CountMetadata;
  Start(&h);
  ASSERT_EQ(0, cp_client_add_interceptor_async(client_, AddMetadata,
                                               AddMetadataAsync, nullptr));
  Reader r;
  cp_client_stream *s = StartCount(&r, 1, false);
  ASSERT_NE(nullptr, s);
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return r.Ends() == 1; }));
  cp_client_stream_destroy(s);
  EXPECT_EQ(CP_STATUS_OK, r.final_status.code) << r.final_status.message;
  ASSERT_EQ(1u, r.indexes.size());
  EXPECT_EQ(1, r.indexes[0]);
}

TEST_F(ClientStreamAsyncTest, ABlockingOnlyInterceptorIsRefused) {
  ASSERT_EQ(0, cp_client_add_interceptor(client_, AddMetadata, nullptr));
  Reader r;
  cp_client_stream *s = nullptr;
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  EXPECT_EQ(CP_ESTATE,
            cp_client_stream_start_async(
                client_, &cp_cplugintest__v1__echo_service__count__method,
                &req.base, &opts_, OnMessage, &r, &s));
  EXPECT_EQ(nullptr, s);
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open_async(
                client_, &cp_cplugintest__v1__echo_service__count__method,
                &opts_, OnMessage, &r, &s));
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_start_async(
                client_, &cp_cplugintest__v1__echo_service__count__method,
                &req.base, &opts_, nullptr, &r, &s));
}

TEST_F(ClientStreamAsyncTest, ExactlyOneEndWhenCancelRacesTheStream) {
  for (int round = 0; round < 50; round++) {
    Reader r;
    cp_client_stream *s = StartCount(&r, 20, round % 2 == 0);
    ASSERT_NE(nullptr, s);
    // Cancel at varying points: at once, or after some messages.
    int after = round % 5;
    ASSERT_TRUE(cp_test::WaitFor("some messages or the end", [&] {
      return r.Count() >= static_cast<size_t>(after) || r.Ends() > 0;
    }));
    std::thread canceller([s] { cp_client_stream_cancel(s); });
    if (round % 3 == 0) {
      cp_client_stream_cancel(s);
    }
    canceller.join();
    cp_client_stream_destroy(s);
    ASSERT_EQ(1, r.Ends()) << "round " << round;
    std::lock_guard<std::mutex> lock(r.mu);
    EXPECT_TRUE(r.final_status.code == CP_STATUS_CANCELLED ||
                r.final_status.code == CP_STATUS_OK)
        << cp_status_code_name(r.final_status.code);
    // Nothing after the end.
    EXPECT_EQ(r.indexes.size() + 1, r.threads.size());
  }
}

}  // namespace

namespace {

struct TypedSeen {
  std::atomic<int> messages{0};
  std::atomic<int> ends{0};
  std::atomic<int> last_index{-1};
  std::string collected;  // written on the callback thread before `ends`
  cp_status_code end_code = CP_STATUS_UNKNOWN;
};

void OnCountNext(const cp_status *status,
                 const Cplugintest__V1__CountResponse *msg, void *user) {
  TypedSeen *t = static_cast<TypedSeen *>(user);
  if (msg == nullptr) {
    t->end_code = status->code;
    t->ends++;
    return;
  }
  t->last_index = msg->index;
  t->messages++;
}

void OnCollectDone(const cp_status *status,
                   const Cplugintest__V1__EchoResponse *resp, void *user) {
  TypedSeen *t = static_cast<TypedSeen *>(user);
  t->end_code = status->code;
  if (resp != nullptr) {
    t->collected = resp->text;
  }
  t->ends++;
}

TEST_F(ClientStreamAsyncTest, TypedStubsStartAndOpenWithoutBlocking) {
  TypedSeen count;
  Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  req.count = 7;
  cp_client_stream *s = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start_async(
                   client_, &req, &opts_, OnCountNext, &count, &s));
  ASSERT_TRUE(cp_test::WaitFor("the end", [&] { return count.ends == 1; }));
  EXPECT_EQ(7, count.messages.load());
  EXPECT_EQ(6, count.last_index.load());
  EXPECT_EQ(CP_STATUS_OK, count.end_code);
  cp_client_stream_destroy(s);

  TypedSeen collect;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__open_async(
                   client_, &opts_, OnCollectDone, &collect, &s));
  Cplugintest__V1__EchoRequest msg = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  msg.text = const_cast<char *>("xy");
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__send(s, &msg));
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__collect__send(s, &msg));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  ASSERT_TRUE(
      cp_test::WaitFor("the answer", [&] { return collect.ends == 1; }));
  EXPECT_EQ(CP_STATUS_OK, collect.end_code);
  EXPECT_EQ("xyxy", collect.collected);
  cp_client_stream_destroy(s);
}

}  // namespace
