// A client of cp_client_options.non_polling beside a running server: its
// blocking calls and streams sleep until gRPC reports their completion
// from another thread, and the server's threads move its bytes. Every kind
// of wait still ends as it does for a polling client: answers, stream
// messages, errors with their trailers, deadlines, cancellation, and a
// client destroyed with a stream open.
#include <gtest/gtest.h>

#include <string>
#include <thread>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "flaky_service.h"
}

namespace {

class ClientNonPollingTest : public ::testing::Test {
 protected:
  // The flaky service (chosen failures) or the transport tests' echo
  // service (streams held open).
  void Start(bool flaky) {
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    if (flaky) {
      flaky_ = flaky_service_create();
      ASSERT_EQ(0, flaky_service_register(server_, flaky_));
    } else {
      stats_ = echo_stats_create();
      ASSERT_EQ(0, echo_service_register(server_, stats_));
    }
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    cp_client_options o;
    cp_client_options_init(&o);
    EXPECT_FALSE(o.non_polling);
    o.non_polling = true;
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), &o));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    if (flaky_ != nullptr) {
      flaky_service_destroy(flaky_);
    }
    if (stats_ != nullptr) {
      echo_stats_destroy(stats_);
    }
  }

  int Echo(const char *text, cp_status *st, std::string *out,
           cp_call_options *o = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    Cplugintest__V1__EchoResponse *resp = nullptr;
    int rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                          o, st);
    if (resp != nullptr) {
      *out = resp->text;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  cp_client_stream *Count(int n, bool hold, cp_call_options *o = nullptr) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = n;
    req.keep_open = hold;
    cp_client_stream *s = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_cplugintest__v1__echo_service__count__start(client_, &req,
                                                                o, &s, &st));
    return s;
  }

  flaky_service *flaky_ = nullptr;
  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
};

TEST_F(ClientNonPollingTest, UnaryCallsAndErrorsWithTrailers) {
  Start(true);
  cp_status st;
  std::string out;
  for (int i = 0; i < 200; i++) {
    ASSERT_EQ(0, Echo("hi", &st, &out)) << i;
    ASSERT_EQ("hi", out);
  }
  cp_trailers *t = nullptr;
  ASSERT_EQ(0, cp_trailers_create(&t));
  cp_call_options o;
  cp_call_options_init(&o);
  o.trailers = t;
  flaky_service_fail_next(flaky_, 1, CP_STATUS_RESOURCE_EXHAUSTED, 42);
  EXPECT_EQ(CP_ERPC, Echo("no", &st, &out, &o));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  size_t len = 0;
  const char *v = cp_trailers_get(t, "retry-after-ms", &len);
  EXPECT_EQ("42", std::string(v != nullptr ? v : "", len));
  cp_trailers_destroy(t);
}

TEST_F(ClientNonPollingTest, StreamsFromSeveralThreads) {
  Start(true);
  auto read_all = [this](int n, int *got, int *rc) {
    cp_client_stream *s = Count(n, false);
    Cplugintest__V1__CountResponse *msg = nullptr;
    cp_status st;
    while ((*rc = cp_cplugintest__v1__echo_service__count__next(s, &msg,
                                                                &st)) == 0) {
      (*got)++;
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    cp_client_stream_destroy(s);
  };
  int got[4] = {0, 0, 0, 0};
  int rc[4] = {0, 0, 0, 0};
  std::thread threads[4];
  for (int i = 0; i < 4; i++) {
    threads[i] = std::thread(read_all, 200, &got[i], &rc[i]);
  }
  for (auto &th : threads) {
    th.join();
  }
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(200, got[i]) << i;
    EXPECT_EQ(CP_EEND, rc[i]) << i;
  }
}

TEST_F(ClientNonPollingTest, DeadlinesAndCancellationEndWaits) {
  Start(false);
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 200;
  cp_client_stream *s = Count(1, true, &o);
  Cplugintest__V1__CountResponse *msg = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, st.code);
  cp_client_stream_destroy(s);

  s = Count(1, true);
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  std::thread canceller([s] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cp_client_stream_cancel(s);
  });
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
  canceller.join();
  cp_client_stream_destroy(s);
}

TEST_F(ClientNonPollingTest, DestroyedWithAStreamOpen) {
  Start(false);
  cp_client_stream *s = Count(1, true);
  Cplugintest__V1__CountResponse *msg = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  cp_client_close(client_);  // cancels the stream
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &st));
  cp_client_stream_destroy(s);
}

}  // namespace
