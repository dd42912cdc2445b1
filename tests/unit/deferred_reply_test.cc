// Deferred unary replies (cp_call_defer): a handler keeps its call, returns,
// and the holder answers later from another thread — with the typed
// __reply, a failure status and trailers — while cancellation, the
// deadline and shutdown reach the holder, and every misuse the API can see
// (a second answer, a wrong message type, an oversized response, deferring
// twice) gets an error code instead of a crash or a leak.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
}

#include "wait.h"

namespace {

// What the handler does, by the request's text.
//   "hold"      defer and queue the reply for the test
//   "inline"    defer and answer before returning, then answer again
//   "twice"     defer twice (the second must fail), then answer
//   "wrongtype" defer and answer with a message of another type
//   "big"       defer and answer with a response over the size limit
//   "ok-fail"   defer and "fail" with OK
//   other       answer by returning, as a plain handler
struct Held {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<cp_unary_reply *> replies;
  std::atomic<int> cancels{0};
  std::atomic<int> inline_second_rc{1};
  std::atomic<int> twice_second_null{-1};
  std::atomic<int> wrongtype_rc{1};
  std::atomic<int> big_rc{1};
  std::atomic<int> okfail_rc{1};
  std::atomic<int> returned{0};
};

void OnCancel(cp_unary_reply *reply, void *user) {
  (void)reply;
  static_cast<Held *>(user)->cancels++;
}

cp_status_code OnEcho(cp_call *call, const Cplugintest__V1__EchoRequest *req,
                      Cplugintest__V1__EchoResponse *resp, void *user) {
  auto *held = static_cast<Held *>(user);
  std::string what = req->text != nullptr ? req->text : "";
  if (what != "hold" && what != "inline" && what != "twice" &&
      what != "wrongtype" && what != "big" && what != "ok-fail") {
    resp->text = cp_call_strdup(call, "plain");
    return CP_STATUS_OK;
  }
  cp_unary_reply *reply = cp_call_defer(call);
  if (reply == nullptr) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "cannot defer");
  }
  if (what == "hold") {
    cp_unary_reply_on_cancel(reply, OnCancel, held);
    // The handler's resp lives as long as the deferred call.
    resp->text = cp_call_strdup(call, "held");
    std::lock_guard<std::mutex> lock(held->mu);
    held->replies.push_back(reply);
    held->cv.notify_all();
  } else if (what == "inline") {
    resp->text = cp_call_strdup(call, "inline");
    EXPECT_EQ(0, cp_cplugintest__v1__echo_service__echo__reply(reply, resp));
    // The running handler still holds the call: a second answer is seen.
    held->inline_second_rc =
        cp_unary_reply_fail(reply, CP_STATUS_INTERNAL, "second");
  } else if (what == "twice") {
    held->twice_second_null = cp_call_defer(call) == nullptr ? 1 : 0;
    resp->text = cp_call_strdup(call, "twice");
    EXPECT_EQ(0, cp_cplugintest__v1__echo_service__echo__reply(reply, resp));
  } else if (what == "wrongtype") {
    Cplugintest__V1__CountResponse other =
        CPLUGINTEST__V1__COUNT_RESPONSE__INIT;
    held->wrongtype_rc = cp_unary_reply_send(reply, &other.base);
  } else if (what == "big") {
    resp->payload.len = 64 * 1024;
    resp->payload.data =
        static_cast<uint8_t *>(cp_call_alloc(call, resp->payload.len));
    held->big_rc = cp_cplugintest__v1__echo_service__echo__reply(reply, resp);
  } else {
    held->okfail_rc = cp_unary_reply_fail(reply, CP_STATUS_OK, nullptr);
  }
  held->returned++;
  return CP_STATUS_NOT_FOUND;  // not used: the call was deferred
}

struct AsyncResult {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<cp_status_code> codes;
  std::vector<std::string> texts;
};

void OnAsyncDone(const cp_status *st, ProtobufCMessage *resp, void *user) {
  auto *r = static_cast<AsyncResult *>(user);
  std::lock_guard<std::mutex> lock(r->mu);
  r->codes.push_back(st->code);
  if (resp != nullptr) {
    auto *er = reinterpret_cast<Cplugintest__V1__EchoResponse *>(resp);
    r->texts.push_back(er->text != nullptr ? er->text : "");
    protobuf_c_message_free_unpacked(resp, nullptr);
  }
  r->done++;
  r->cv.notify_all();
}

class DeferredReplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_server_options so;
    cp_server_options_init(&so);
    so.threads = 1;  // one completion-queue thread: deferral must not hold it
    so.max_message_bytes = 32 * 1024;
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    cp_cplugintest__v1__echo_service__handlers h = {};
    h.on_echo = OnEcho;
    ASSERT_EQ(0,
              cp_cplugintest__v1__echo_service__register(server_, &h, &held_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
    cp_call_options_init(&opts_);
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 0);
      AnswerAllHeld();
      cp_server_destroy(server_);
    }
  }

  void AnswerAllHeld() {
    std::lock_guard<std::mutex> lock(held_.mu);
    for (cp_unary_reply *r : held_.replies) {
      cp_unary_reply_fail(r, CP_STATUS_UNAVAILABLE, "test over");
    }
    held_.replies.clear();
  }

  size_t HeldCount() {
    std::lock_guard<std::mutex> lock(held_.mu);
    return held_.replies.size();
  }

  cp_unary_reply *TakeHeld() {
    std::lock_guard<std::mutex> lock(held_.mu);
    if (held_.replies.empty()) {
      return nullptr;
    }
    cp_unary_reply *r = held_.replies.front();
    held_.replies.pop_front();
    return r;
  }

  int Start(const char *text, AsyncResult *result) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    return cp_client_unary_async(
        client_, &cp_cplugintest__v1__echo_service__echo__method, &req.base,
        &opts_, OnAsyncDone, result);
  }

  int Call(const char *text, cp_status *st, std::string *out = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    Cplugintest__V1__EchoResponse *resp = nullptr;
    int rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                          &opts_, st);
    if (resp != nullptr) {
      if (out != nullptr) {
        *out = resp->text != nullptr ? resp->text : "";
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  Held held_;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
};

TEST_F(DeferredReplyTest, HolderAnswersFromAnotherThreadWithTheTypedReply) {
  AsyncResult result;
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_TRUE(cp_test::WaitFor("the handler deferred",
                               [&] { return HeldCount() == 1; }));
  EXPECT_EQ(1, held_.returned.load());
  cp_unary_reply *reply = TakeHeld();
  EXPECT_FALSE(cp_unary_reply_is_cancelled(reply));
  // The handler's resp is still valid: fill more of it and answer with it.
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  resp.text = const_cast<char *>("answered later");
  ASSERT_EQ(0,
            cp_call_add_trailer(cp_unary_reply_call(reply), "x-later", "yes"));
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__reply(reply, &resp));
  std::unique_lock<std::mutex> lock(result.mu);
  ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return result.done == 1; }));
  EXPECT_EQ(CP_STATUS_OK, result.codes[0]);
  ASSERT_EQ(1u, result.texts.size());
  EXPECT_EQ("answered later", result.texts[0]);
}

TEST_F(DeferredReplyTest, ManyHeldCallsDoNotHoldTheServersOnlyThread) {
  constexpr int kCalls = 24;
  AsyncResult result;
  for (int i = 0; i < kCalls; i++) {
    ASSERT_EQ(0, Start("hold", &result));
  }
  ASSERT_TRUE(cp_test::WaitFor("every call deferred at once",
                               [&] { return HeldCount() == kCalls; }));
  // A plain call is still served by the one thread meanwhile.
  cp_status st;
  std::string text;
  ASSERT_EQ(0, Call("plain please", &st, &text));
  EXPECT_EQ("plain", text);
  // Answer in reverse order, one failing.
  std::vector<cp_unary_reply *> all;
  while (cp_unary_reply *r = TakeHeld()) {
    all.push_back(r);
  }
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  resp.text = const_cast<char *>("ok");
  for (size_t i = all.size(); i-- > 1;) {
    ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__reply(all[i], &resp));
  }
  ASSERT_EQ(0, cp_unary_reply_fail(all[0], CP_STATUS_NOT_FOUND, "no %s",
                                   "such thing"));
  std::unique_lock<std::mutex> lock(result.mu);
  ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return result.done == kCalls; }));
  int ok = 0, not_found = 0;
  for (cp_status_code c : result.codes) {
    ok += c == CP_STATUS_OK;
    not_found += c == CP_STATUS_NOT_FOUND;
  }
  EXPECT_EQ(kCalls - 1, ok);
  EXPECT_EQ(1, not_found);
}

TEST_F(DeferredReplyTest, FailureCarriesItsMessageAndTrailers) {
  cp_trailers *trailers = nullptr;
  ASSERT_EQ(0, cp_trailers_create(&trailers));
  opts_.trailers = trailers;
  AsyncResult result;
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_TRUE(cp_test::WaitFor("the handler deferred",
                               [&] { return HeldCount() == 1; }));
  cp_unary_reply *reply = TakeHeld();
  ASSERT_EQ(0, cp_call_add_trailer(cp_unary_reply_call(reply), "retry-after-ms",
                                   "250"));
  ASSERT_EQ(
      0, cp_unary_reply_fail(reply, CP_STATUS_RESOURCE_EXHAUSTED, "slow down"));
  {
    std::unique_lock<std::mutex> lock(result.mu);
    ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                   [&] { return result.done == 1; }));
    EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, result.codes[0]);
  }
  size_t len = 0;
  const char *v = cp_trailers_get(trailers, "retry-after-ms", &len);
  ASSERT_NE(nullptr, v);
  EXPECT_EQ("250", std::string(v, len));
  cp_trailers_destroy(trailers);
}

TEST_F(DeferredReplyTest, DeadlineReachesTheHolderAndLateAnswersAreRefused) {
  // Long enough for the handler to run first on a loaded machine; the test
  // waits for it to pass.
  opts_.timeout_ms = 3000;
  AsyncResult result;
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_TRUE(cp_test::WaitFor("the handler deferred",
                               [&] { return HeldCount() == 1; }));
  ASSERT_TRUE(cp_test::WaitFor("the holder heard of the deadline",
                               [&] { return held_.cancels.load() == 1; }));
  cp_unary_reply *reply = TakeHeld();
  ASSERT_NE(nullptr, reply);
  EXPECT_TRUE(cp_unary_reply_is_cancelled(reply));
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  EXPECT_EQ(CP_ECLOSED,
            cp_cplugintest__v1__echo_service__echo__reply(reply, &resp));
  std::unique_lock<std::mutex> lock(result.mu);
  ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return result.done == 1; }));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, result.codes[0]);
}

TEST_F(DeferredReplyTest, ClientCancellationReachesTheHolder) {
  AsyncResult result;
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_TRUE(cp_test::WaitFor("the handler deferred",
                               [&] { return HeldCount() == 1; }));
  cp_client_close(client_);  // cancels the call in flight
  ASSERT_TRUE(cp_test::WaitFor("the holder heard of the cancellation",
                               [&] { return held_.cancels.load() == 1; }));
  cp_unary_reply *reply = TakeHeld();
  EXPECT_TRUE(cp_unary_reply_is_cancelled(reply));
  EXPECT_EQ(CP_ECLOSED, cp_unary_reply_fail(reply, CP_STATUS_ABORTED, "late"));
  std::unique_lock<std::mutex> lock(result.mu);
  ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return result.done == 1; }));
  EXPECT_EQ(CP_STATUS_CANCELLED, result.codes[0]);
}

TEST_F(DeferredReplyTest, ShutdownCancelsHeldCallsAndTheyAreReleasedAfter) {
  AsyncResult result;
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_EQ(0, Start("hold", &result));
  ASSERT_TRUE(
      cp_test::WaitFor("both deferred", [&] { return HeldCount() == 2; }));
  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  EXPECT_EQ(2, held_.cancels.load());
  cp_unary_reply *a = TakeHeld();
  cp_unary_reply *b = TakeHeld();
  EXPECT_TRUE(cp_unary_reply_is_cancelled(a));
  EXPECT_EQ(CP_ECLOSED, cp_unary_reply_fail(a, CP_STATUS_ABORTED, nullptr));
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  EXPECT_EQ(CP_ECLOSED,
            cp_cplugintest__v1__echo_service__echo__reply(b, &resp));
  std::unique_lock<std::mutex> lock(result.mu);
  ASSERT_TRUE(result.cv.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return result.done == 2; }));
  for (cp_status_code c : result.codes) {
    EXPECT_NE(CP_STATUS_OK, c);
  }
}

TEST_F(DeferredReplyTest, ASecondAnswerWhileTheCallIsHeldIsRefused) {
  cp_status st;
  std::string text;
  ASSERT_EQ(0, Call("inline", &st, &text));
  EXPECT_EQ("inline", text);
  EXPECT_TRUE(cp_test::WaitFor("the handler returned", [&] {
    return held_.inline_second_rc.load() != 1;
  }));
  EXPECT_EQ(CP_ESTATE, held_.inline_second_rc.load());
}

TEST_F(DeferredReplyTest, DeferringTwiceGivesNoSecondReply) {
  cp_status st;
  std::string text;
  ASSERT_EQ(0, Call("twice", &st, &text));
  EXPECT_EQ("twice", text);
  EXPECT_TRUE(cp_test::WaitFor("the handler returned", [&] {
    return held_.twice_second_null.load() != -1;
  }));
  EXPECT_EQ(1, held_.twice_second_null.load());
}

TEST_F(DeferredReplyTest, MisusedAnswersBecomeClearStatuses) {
  cp_status st;
  EXPECT_NE(0, Call("wrongtype", &st));
  EXPECT_EQ(CP_STATUS_INTERNAL, st.code);
  // Stored by the handler after its answer went out.
  EXPECT_TRUE(cp_test::WaitFor("the handler returned",
                               [&] { return held_.wrongtype_rc.load() != 1; }));
  EXPECT_EQ(CP_EINVAL, held_.wrongtype_rc.load());

  EXPECT_NE(0, Call("big", &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  // Stored by the handler after its answer went out.
  EXPECT_TRUE(cp_test::WaitFor("the handler returned",
                               [&] { return held_.big_rc.load() != 1; }));
  EXPECT_EQ(CP_ETOOBIG, held_.big_rc.load());

  EXPECT_NE(0, Call("ok-fail", &st));
  EXPECT_EQ(CP_STATUS_INTERNAL, st.code);
  // Stored by the handler after its answer went out.
  EXPECT_TRUE(cp_test::WaitFor("the handler returned",
                               [&] { return held_.okfail_rc.load() != 1; }));
  EXPECT_EQ(0, held_.okfail_rc.load());

  // Not a handler's call: nothing to defer.
  EXPECT_EQ(nullptr, cp_call_defer(nullptr));
  EXPECT_EQ(CP_EINVAL, cp_unary_reply_send(nullptr, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_unary_reply_fail(nullptr, CP_STATUS_ABORTED, ""));
  EXPECT_FALSE(cp_unary_reply_is_cancelled(nullptr));
}

}  // namespace
