// Request slots lost to failed allocations come back: a method whose every
// requested call was lost is served again, with as many calls requested
// ahead as before (item 8 of issue 10).
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}
#include "transport/server_testing.h"
#include "wait.h"

namespace {

constexpr int kFailAll = 1 << 30;

class RequestSlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_ = echo_stats_create();
    cp_server_options o;
    cp_server_options_init(&o);
    // One queue: Count has exactly its REQUESTS_PER_METHOD (2) slots.
    o.threads = 1;
    ASSERT_EQ(0, cp_server_create(&server_, &o));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  void TearDown() override {
    cpi_server_testing_fail_call_allocs(0);
    for (cp_client_stream *s : streams_) {
      cp_client_stream_cancel(s);
      cp_client_stream_destroy(s);
    }
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    echo_stats_destroy(stats_);
  }

  // Opens a Count stream that the handler keeps open (it holds its slot's
  // call until the test ends). Returns once the server answered the headers.
  int Open() {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.keep_open = true;
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = test_wait_ms();
    cp_client_stream *s = nullptr;
    cp_status status;
    int rc = cp_cplugintest__v1__echo_service__count__start(client_, &req, &o,
                                                            &s, &status);
    if (s != nullptr) {
      streams_.push_back(s);
    }
    return rc;
  }

  ::testing::AssertionResult CountCallsReach(int want) {
    return cp_test::WaitFor(
        std::to_string(want) + " Count calls to reach the handler",
        [&] { return echo_stats_get(stats_, COUNT_CALLS) >= want; },
        [&] { return std::to_string(echo_stats_get(stats_, COUNT_CALLS)); });
  }

  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::vector<cp_client_stream *> streams_;
};

TEST_F(RequestSlotsTest, LostSlotsAreRequestedAgain) {
  // Every allocation fails while two calls arrive: each arrival's request
  // for the next call is lost, so Count has no slot left.
  cpi_server_testing_fail_call_allocs(kFailAll);
  ASSERT_EQ(0, Open());
  ASSERT_EQ(0, Open());
  ASSERT_TRUE(CountCallsReach(2));
  EXPECT_EQ(2u, cpi_server_testing_lost_slots(server_));

  // Memory is back. Any event on the queue (here an Echo call) requests the
  // lost slots again, and Count is served again.
  cpi_server_testing_fail_call_allocs(0);
  Cplugintest__V1__EchoRequest ereq = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  ereq.text = const_cast<char *>("wake");
  Cplugintest__V1__EchoResponse *eresp = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(
                   client_, &ereq, &eresp, nullptr, &status));
  protobuf_c_message_free_unpacked(&eresp->base, nullptr);
  ASSERT_EQ(0, Open());
  ASSERT_EQ(0, Open());
  ASSERT_TRUE(CountCallsReach(4));
  EXPECT_EQ(0u, cpi_server_testing_lost_slots(server_));

  // As many slots as before: with every allocation failing again, two calls
  // still arrive at once on the two slots requested ahead.
  cpi_server_testing_fail_call_allocs(kFailAll);
  ASSERT_EQ(0, Open());
  ASSERT_EQ(0, Open());
  ASSERT_TRUE(CountCallsReach(6));
}

}  // namespace
