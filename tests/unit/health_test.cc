// Health: connectplugin.health.v1.HealthService and grpc.health.v1.Health
// over one cp_health (Check, Watch, dedupe, latest-wins, shutdown, caps).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "grpc/health/v1/health.cplugin.h"
#include "plugin/v1/health.cplugin.h"
#include "transport/encoded.h"
}

namespace {

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override { cp_health_options_init(&opts_); }

  void TearDown() override {
    for (cp_client_stream *s : streams_) {
      cp_client_stream_destroy(s);
    }
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_health_destroy(h_);
  }

  // Calls carrying x-test-identity are that identity (as if authenticated);
  // the others are anonymous.
  static cp_status_code TestIdentity(cp_call *call, void *) {
    cp_str id;
    if (cp_call_metadata(call, "x-test-identity", &id)) {
      std::string copy(id.ptr, id.len);
      cp_call_set_identity(call, "test", copy.c_str());
    }
    return CP_STATUS_OK;
  }

  void Start(size_t queue = 0) {
    ASSERT_EQ(0, cp_health_create(&h_, &opts_));
    cp_server_options so;
    cp_server_options_init(&so);
    if (queue > 0) {
      so.stream_queue_messages = queue;
    }
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_AUTHENTICATION,
                                           TestIdentity, nullptr));
    ASSERT_EQ(0, cp_health_register(h_, server_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  // Check on either protocol; returns the status code, *out the status.
  cp_status Check(bool grpc, const char *service, int *out) {
    cp_status st;
    *out = -1;
    if (grpc) {
      Grpc__Health__V1__HealthCheckRequest req =
          GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
      req.service = const_cast<char *>(service);
      Grpc__Health__V1__HealthCheckResponse *resp = nullptr;
      cp_grpc__health__v1__health__check__call(client_, &req, &resp, nullptr,
                                               &st);
      if (resp != nullptr) {
        *out = resp->status;
        protobuf_c_message_free_unpacked(&resp->base, nullptr);
      }
    } else {
      Connectplugin__Health__V1__HealthCheckRequest req =
          CONNECTPLUGIN__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
      req.service = const_cast<char *>(service);
      Connectplugin__Health__V1__HealthCheckResponse *resp = nullptr;
      cp_connectplugin__health__v1__health_service__check__call(
          client_, &req, &resp, nullptr, &st);
      if (resp != nullptr) {
        *out = resp->status;
        protobuf_c_message_free_unpacked(&resp->base, nullptr);
      }
    }
    return st;
  }

  cp_client_stream *Watch(bool grpc, const char *service,
                          const char *identity = nullptr) {
    cp_call_options o;
    cp_call_options_init(&o);
    // Outlives every wait of the test, which may read after many changes
    // on a loaded machine.
    o.timeout_ms = 2 * static_cast<int64_t>(test_wait_ms());
    cp_metadata md[] = {{"x-test-identity", identity}};
    if (identity != nullptr) {
      o.metadata = md;
      o.metadata_count = 1;
    }
    cp_client_stream *s = nullptr;
    cp_status st;
    if (grpc) {
      Grpc__Health__V1__HealthCheckRequest req =
          GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
      req.service = const_cast<char *>(service);
      EXPECT_EQ(0, cp_grpc__health__v1__health__watch__start(client_, &req, &o,
                                                             &s, &st));
    } else {
      Connectplugin__Health__V1__HealthCheckRequest req =
          CONNECTPLUGIN__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
      req.service = const_cast<char *>(service);
      EXPECT_EQ(0, cp_connectplugin__health__v1__health_service__watch__start(
                       client_, &req, &o, &s, &st));
    }
    streams_.push_back(s);
    return s;
  }

  // The next status on a watch (-1 when the stream ended; *st then says how).
  static int Next(bool grpc, cp_client_stream *s, cp_status *st = nullptr) {
    cp_status local;
    cp_status *out = st != nullptr ? st : &local;
    if (grpc) {
      Grpc__Health__V1__HealthCheckResponse *msg = nullptr;
      if (cp_grpc__health__v1__health__watch__next(s, &msg, out) != 0) {
        return -1;
      }
      int v = msg->status;
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
      return v;
    }
    Connectplugin__Health__V1__HealthCheckResponse *msg = nullptr;
    if (cp_connectplugin__health__v1__health_service__watch__next(s, &msg,
                                                                  out) != 0) {
      return -1;
    }
    int v = msg->status;
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    return v;
  }

  cp_health_options opts_;
  cp_health *h_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  std::vector<cp_client_stream *> streams_;
};

constexpr int kServing = 1;
constexpr int kNotServing = 2;
constexpr int kUnknown = 3;

TEST_F(HealthTest, CheckOnBothProtocols) {
  Start();
  for (bool grpc : {false, true}) {
    int status = 0;
    cp_status st = Check(grpc, "", &status);
    ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
    EXPECT_EQ(kServing, status);
    st = Check(grpc, "kv", &status);
    EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
    EXPECT_STREQ("unknown service: kv", st.message);
  }
  ASSERT_EQ(0, cp_health_set(h_, "kv", CP_SERVING_STATUS_NOT_SERVING));
  for (bool grpc : {false, true}) {
    int status = 0;
    ASSERT_EQ(CP_STATUS_OK, Check(grpc, "kv", &status).code);
    EXPECT_EQ(kNotServing, status);
  }
  EXPECT_TRUE(cp_health_serving(h_));
  ASSERT_EQ(0, cp_health_set(h_, "", CP_SERVING_STATUS_NOT_SERVING));
  EXPECT_FALSE(cp_health_serving(h_));
  cp_serving_status got;
  ASSERT_EQ(0, cp_health_get(h_, "kv", &got));
  EXPECT_EQ(CP_SERVING_STATUS_NOT_SERVING, got);
  EXPECT_EQ(CP_ENOTFOUND, cp_health_get(h_, "nope", &got));
}

TEST_F(HealthTest, WatchSendsUnknownThenEveryChangeOnce) {
  Start();
  for (bool grpc : {false, true}) {
    std::string name = grpc ? "grpc-svc" : "connect-svc";
    cp_client_stream *s = Watch(grpc, name.c_str());
    EXPECT_EQ(kUnknown, Next(grpc, s));
    ASSERT_EQ(0, cp_health_set(h_, name.c_str(), CP_SERVING_STATUS_SERVING));
    EXPECT_EQ(kServing, Next(grpc, s));
    // The same status again is not repeated.
    ASSERT_EQ(0, cp_health_set(h_, name.c_str(), CP_SERVING_STATUS_SERVING));
    ASSERT_EQ(0,
              cp_health_set(h_, name.c_str(), CP_SERVING_STATUS_NOT_SERVING));
    EXPECT_EQ(kNotServing, Next(grpc, s));
    // Another service's change is not sent here.
    ASSERT_EQ(0, cp_health_set(h_, "other", CP_SERVING_STATUS_NOT_SERVING));
    ASSERT_EQ(0, cp_health_set(h_, name.c_str(), CP_SERVING_STATUS_SERVING));
    EXPECT_EQ(kServing, Next(grpc, s));
  }
  // Both protocols watch the same state.
  cp_client_stream *a = Watch(false, "");
  cp_client_stream *b = Watch(true, "");
  EXPECT_EQ(kServing, Next(false, a));
  EXPECT_EQ(kServing, Next(true, b));
  cp_health_shutdown(h_);
  EXPECT_EQ(kNotServing, Next(false, a));
  EXPECT_EQ(kNotServing, Next(true, b));
  EXPECT_EQ(CP_ESTATE, cp_health_set(h_, "", CP_SERVING_STATUS_SERVING));
  int status = 0;
  ASSERT_EQ(CP_STATUS_OK, Check(true, "grpc-svc", &status).code);
  EXPECT_EQ(kNotServing, status);
  EXPECT_FALSE(cp_health_serving(h_));
}

TEST_F(HealthTest, SlowWatcherGetsTheLatestStatus) {
  Start(1);
  cp_client_stream *s = Watch(true, "flappy");
  EXPECT_EQ(kUnknown, Next(true, s));
  // One change read first: had every flip below been coalesced away, the
  // final SERVICE_UNKNOWN would equal the last status sent, and latest-wins
  // rightly sends nothing (the watcher already knows it).
  ASSERT_EQ(0, cp_health_set(h_, "flappy", CP_SERVING_STATUS_SERVING));
  ASSERT_EQ(kServing, Next(true, s));
  const int flips = 2000;
  for (int i = 0; i < flips; i++) {
    ASSERT_EQ(0, cp_health_set(h_, "flappy",
                               i % 2 == 0 ? CP_SERVING_STATUS_SERVING
                                          : CP_SERVING_STATUS_NOT_SERVING));
  }
  // The last state is the only SERVICE_UNKNOWN after the first event.
  ASSERT_EQ(0, cp_health_remove(h_, "flappy"));
  int reads = 0;
  int v = 0;
  int prev = kServing;
  do {
    v = Next(true, s);
    ASSERT_NE(-1, v) << "after " << reads << " reads, the last one " << prev;
    EXPECT_NE(prev, v);  // an unchanged status is never repeated
    prev = v;
    reads++;
  } while (v != kUnknown);
  EXPECT_LT(reads, flips + 1);  // intermediate statuses were skipped
  // Nothing stale follows: the next message is the next change.
  ASSERT_EQ(0, cp_health_set(h_, "flappy", CP_SERVING_STATUS_NOT_SERVING));
  EXPECT_EQ(kNotServing, Next(true, s));
  int status = 0;
  ASSERT_EQ(CP_STATUS_OK, Check(false, "flappy", &status).code);
  ASSERT_EQ(0, cp_health_remove(h_, "flappy"));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Check(false, "flappy", &status).code);
  EXPECT_EQ(CP_ENOTFOUND, cp_health_remove(h_, "flappy"));
  EXPECT_EQ(CP_EINVAL, cp_health_remove(h_, ""));
}

TEST_F(HealthTest, WatchersOfOneServiceShareOneEncodedStatus) {
  Start();
  std::vector<cp_client_stream *> watchers;
  for (int i = 0; i < 12; i++) {
    watchers.push_back(Watch(true, "shared", "plugin-a"));
  }
  for (cp_client_stream *s : watchers) {
    ASSERT_EQ(kUnknown, Next(true, s));
  }
  uint64_t encodes = cpi_encode_count();
  ASSERT_EQ(0, cp_health_set(h_, "shared", CP_SERVING_STATUS_SERVING));
  for (cp_client_stream *s : watchers) {
    EXPECT_EQ(kServing, Next(true, s));
  }
  EXPECT_EQ(1u, cpi_encode_count() - encodes);
}

TEST_F(HealthTest, AnonymousWatchersArePerAddress) {
  opts_.max_watchers = 10;
  opts_.max_anonymous_watchers_per_address = 2;
  Start();
  EXPECT_EQ(kServing, Next(true, Watch(true, "")));
  EXPECT_EQ(kServing, Next(false, Watch(false, "")));
  // A third from the same address without an identity is refused...
  cp_status st;
  EXPECT_EQ(-1, Next(true, Watch(true, ""), &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("too many anonymous health watchers from this address",
               st.message);
  // ...while callers with an identity only meet the global cap.
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(kServing, Next(true, Watch(true, "", "plugin-a")));
  }
}

TEST_F(HealthTest, LimitsAndBadInput) {
  opts_.max_services = 3;
  opts_.max_watchers = 2;
  Start();
  EXPECT_EQ(0, cp_health_set(h_, "a", CP_SERVING_STATUS_SERVING));
  EXPECT_EQ(0, cp_health_set(h_, "b", CP_SERVING_STATUS_SERVING));
  EXPECT_EQ(CP_ELIMIT, cp_health_set(h_, "c", CP_SERVING_STATUS_SERVING));
  EXPECT_EQ(0, cp_health_set(h_, "a", CP_SERVING_STATUS_NOT_SERVING));
  EXPECT_EQ(CP_EINVAL, cp_health_set(h_, "a", CP_SERVING_STATUS_UNKNOWN));
  EXPECT_EQ(CP_EINVAL,
            cp_health_set(h_, "a", CP_SERVING_STATUS_SERVICE_UNKNOWN));
  std::string long_name(257, 'n');
  EXPECT_EQ(CP_EINVAL,
            cp_health_set(h_, long_name.c_str(), CP_SERVING_STATUS_SERVING));

  cp_client_stream *w1 = Watch(false, "a");
  cp_client_stream *w2 = Watch(true, "b");
  EXPECT_EQ(kNotServing, Next(false, w1));
  EXPECT_EQ(kServing, Next(true, w2));
  cp_status st;
  EXPECT_EQ(-1, Next(false, Watch(false, "a"), &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("too many health watchers", st.message);
  // A watcher that leaves frees its slot, once the server has seen its
  // stream end (on its own thread): until then a new watch is refused.
  cp_client_stream_cancel(w1);
  int got = 0;
  EXPECT_TRUE(cp_test::WaitFor(
      "a new watch to take the cancelled watcher's slot",
      [&] {
        got = Next(true, Watch(true, "a"), &st);
        return got == kNotServing;
      },
      [&] {
        return "first message " + std::to_string(got) + ", status " +
               cp_status_code_name(st.code) + ": " + st.message;
      }));
  EXPECT_EQ(-1, Next(true, Watch(true, long_name.c_str()), &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  int status = 0;
  EXPECT_EQ(CP_STATUS_NOT_FOUND, Check(false, long_name.c_str(), &status).code);
}

TEST(HealthApiTest, CreateAndNullHandling) {
  cp_health_options o;
  cp_health_options_init(&o);
  o.max_watchers = 0;
  cp_health *h = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_health_create(&h, &o));
  ASSERT_EQ(0, cp_health_create(&h, nullptr));
  EXPECT_TRUE(cp_health_serving(h));
  EXPECT_FALSE(cp_health_serving(nullptr));
  EXPECT_EQ(CP_EINVAL, cp_health_set(nullptr, "", CP_SERVING_STATUS_SERVING));
  cp_health_shutdown(h);
  cp_health_shutdown(h);
  EXPECT_FALSE(cp_health_serving(h));
  cp_health_destroy(h);
  cp_health_destroy(nullptr);
}

}  // namespace
