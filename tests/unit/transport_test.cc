// The transport in one process: an EchoService server on 127.0.0.1:0 and a
// client, covering interceptors, post-call hooks, client interceptors,
// deadlines, cancellation, message limits, stream queues and shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "process.h"
}
#include "wait.h"

namespace {

using Clock = std::chrono::steady_clock;

struct EchoResult {
  int rc = 0;
  cp_status status{};
  std::string text, identity, peer, metadata_value;
  bool has_deadline = false;
  int64_t deadline_left_ms = 0;
  size_t payload_len = 0;
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { stats_ = echo_stats_create(); }

  int Stat(echo_stat which) { return echo_stats_get(stats_, which); }

  // Waits until the handlers' counter `which` is at least `want`, for what
  // the server does after the client saw the reply or the end of a stream.
  ::testing::AssertionResult StatReaches(echo_stat which, int want,
                                         const std::string &what) {
    return cp_test::WaitFor(
        what, [&] { return Stat(which) >= want; },
        [&] { return std::to_string(Stat(which)); });
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    echo_stats_destroy(stats_);
  }

  // Creates the server; call Start() after adding interceptors.
  void Create(const cp_server_options *opts = nullptr) {
    ASSERT_EQ(0, cp_server_create(&server_, opts));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
    ASSERT_GT(port_, 0);
  }

  void Start(const cp_client_options *copts = nullptr) {
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port_);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), copts));
  }

  // A second client with a TCP connection of its own to the server (gRPC
  // would otherwise share client_'s). Destroy it with cp_client_destroy.
  cp_client *DedicatedClient() {
    std::string target = "127.0.0.1:" + std::to_string(port_);
    cp_client_options copts;
    cp_client_options_init(&copts);
    copts.dedicated_connection = true;
    cp_client *c = nullptr;
    EXPECT_EQ(0, cp_client_create(&c, target.c_str(), &copts));
    return c;
  }

  EchoResult Echo(const Cplugintest__V1__EchoRequest &req,
                  const cp_call_options *opts = nullptr,
                  cp_client *client = nullptr) {
    EchoResult r;
    Cplugintest__V1__EchoResponse *resp = nullptr;
    r.rc = cp_cplugintest__v1__echo_service__echo__call(
        client != nullptr ? client : client_, &req, &resp, opts, &r.status);
    if (resp != nullptr) {
      r.text = resp->text;
      r.identity = resp->identity;
      r.peer = resp->peer;
      r.metadata_value = resp->metadata_value;
      r.has_deadline = resp->has_deadline;
      r.deadline_left_ms = resp->deadline_left_ms;
      r.payload_len = resp->payload.len;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return r;
  }

  EchoResult Echo(const char *text) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    return Echo(req);
  }

  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  int port_ = 0;
};

TEST_F(TransportTest, UnaryRoundTrip) {
  Create();
  Start();
  EchoResult r = Echo("hello");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ(CP_STATUS_OK, r.status.code);
  EXPECT_EQ("hello", r.text);
  EXPECT_EQ("", r.identity);
  EXPECT_EQ(0u, r.peer.find("ipv4:127.0.0.1:")) << r.peer;
  EXPECT_FALSE(r.has_deadline);
  EXPECT_EQ(1, Stat(ECHO_CALLS));
}

TEST_F(TransportTest, HandlerStatusAndMessageReachTheClient) {
  Create();
  Start();
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("boom");
  req.fail_code = CP_STATUS_FAILED_PRECONDITION;
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, r.status.code);
  EXPECT_STREQ("failed as asked: boom", r.status.message);
}

TEST_F(TransportTest, UnknownStatusFromHandlerBecomesInternal) {
  Create();
  Start();
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.fail_code = 99;
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_STATUS_INTERNAL, r.status.code);
}

TEST_F(TransportTest, DeadlineIsVisibleToTheHandlerAndEnforced) {
  Create();
  Start();
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 5000;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  EchoResult r = Echo(req, &opts);
  ASSERT_EQ(0, r.rc);
  EXPECT_TRUE(r.has_deadline);
  EXPECT_GT(r.deadline_left_ms, 3000);
  // gRPC rounds the timeout it sends up to its unit, so allow a little over.
  EXPECT_LE(r.deadline_left_ms, 5100);

  opts.timeout_ms = 100;
  req.delay_ms = 600;
  r = Echo(req, &opts);
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, r.status.code);
}

TEST_F(TransportTest, ClientMetadataReachesTheHandler) {
  Create();
  Start();
  cp_metadata md[] = {{"x-test-key", "value-1"}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.metadata_key = const_cast<char *>("x-test-key");
  EchoResult r = Echo(req, &opts);
  ASSERT_EQ(0, r.rc);
  EXPECT_EQ("value-1", r.metadata_value);
}

// What one post hook saw.
struct PostRecord {
  std::string identity;  // set by RequireAllowHeader on allowed calls only
  int code;
  int64_t duration_ns;
};

struct InterceptorState {
  std::atomic<int> calls{0};
  std::string seen_path;
  std::string seen_peer;
  std::mutex mu;
  std::vector<PostRecord> posts;  // under mu

  std::vector<PostRecord> Posts() {
    std::lock_guard<std::mutex> lock(mu);
    return posts;
  }
};

std::string Describe(const std::vector<PostRecord> &posts) {
  std::string out = std::to_string(posts.size()) + " post hook(s):";
  for (const PostRecord &p : posts) {
    out += " {identity=\"" + p.identity + "\" code=" + std::to_string(p.code) +
           " duration_ns=" + std::to_string(p.duration_ns) + "}";
  }
  return out;
}

cp_status_code RequireAllowHeader(cp_call *call, void *user) {
  auto *st = static_cast<InterceptorState *>(user);
  st->calls++;
  st->seen_path = cp_call_path(call);
  st->seen_peer = cp_call_peer(call);
  cp_str v;
  if (!cp_call_metadata(call, "x-allow", &v) ||
      std::string(v.ptr, v.len) != "yes") {
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED, "not allowed");
  }
  cp_call_set_identity(call, "test", "caller-7");
  return CP_STATUS_OK;
}

void RecordPost(const cp_call *call, cp_status_code code, int64_t duration_ns,
                void *user) {
  auto *st = static_cast<InterceptorState *>(user);
  const char *identity = cp_call_identity(call, nullptr);
  std::lock_guard<std::mutex> lock(st->mu);
  st->posts.push_back({identity != nullptr ? identity : "", code, duration_ns});
}

TEST_F(TransportTest, InterceptorRejectsUnaryAndStreamingBeforeTheHandler) {
  InterceptorState st;
  Create();
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RequireAllowHeader, &st));
  ASSERT_EQ(0, cp_server_add_post_hook(server_, RecordPost, &st));
  Start();

  EchoResult r = Echo("no header");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, r.status.code);
  EXPECT_STREQ("not allowed", r.status.message);
  EXPECT_EQ(0, Stat(ECHO_CALLS));
  EXPECT_EQ("/cplugintest.v1.EchoService/Echo", st.seen_path);

  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 3;
  cp_client_stream *s = nullptr;
  cp_status status;
  int rc = cp_cplugintest__v1__echo_service__count__start(client_, &creq,
                                                          nullptr, &s, &status);
  ASSERT_EQ(0, rc) << status.message;
  Cplugintest__V1__CountResponse *msg = nullptr;
  rc = cp_cplugintest__v1__echo_service__count__next(s, &msg, &status);
  EXPECT_EQ(CP_ERPC, rc);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, status.code);
  cp_client_stream_destroy(s);
  EXPECT_EQ(0, Stat(COUNT_CALLS));

  // With the header, the identity recorded by the interceptor reaches the
  // handler.
  cp_metadata md[] = {{"x-allow", "yes"}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("ok");
  r = Echo(req, &opts);
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("caller-7", r.identity);
  EXPECT_EQ(1, Stat(ECHO_CALLS));

  // Post hooks ran for all three calls, the last one OK. They run after the
  // status was sent, on the server's queue threads, so they are waited for;
  // and hooks of different calls may run in any order, so the last call's
  // record is the one with the identity only the allowed call had.
  ASSERT_TRUE(cp_test::WaitFor(
      "the post hooks of all three calls",
      [&] { return st.Posts().size() >= 3; },
      [&] { return Describe(st.Posts()); }));
  std::vector<PostRecord> posts = st.Posts();
  EXPECT_EQ(3u, posts.size()) << Describe(posts);
  auto last = std::find_if(posts.begin(), posts.end(), [](const PostRecord &p) {
    return p.identity == "caller-7";
  });
  ASSERT_NE(posts.end(), last) << Describe(posts);
  EXPECT_EQ(CP_STATUS_OK, last->code);
  EXPECT_GT(last->duration_ns, 0);
}

// One interceptor's record of the chain: its name, appended when it runs;
// the one named `reject` (if any) refuses the call.
struct PhaseStep {
  std::mutex *mu;
  std::vector<std::string> *ran;
  std::string name;
  bool reject;
};

cp_status_code RecordPhaseStep(cp_call *call, void *user) {
  auto *step = static_cast<PhaseStep *>(user);
  {
    std::lock_guard<std::mutex> lock(*step->mu);
    step->ran->push_back(step->name);
  }
  if (step->reject) {
    return cp_call_error(call, CP_STATUS_PERMISSION_DENIED, "%s",
                         step->name.c_str());
  }
  return CP_STATUS_OK;
}

TEST_F(TransportTest, InterceptorsRunByPhaseThenInTheOrderAdded) {
  std::mutex mu;
  std::vector<std::string> ran;
  // Added in the wrong order on purpose: application, policy, then
  // authentication, with a second of two phases later still.
  struct {
    cp_intercept_phase phase;
    PhaseStep step;
  } chain[] = {
      {CP_PHASE_APPLICATION, {&mu, &ran, "app-1", false}},
      {CP_PHASE_POLICY, {&mu, &ran, "policy-1", false}},
      {CP_PHASE_AUTHENTICATION, {&mu, &ran, "auth-1", false}},
      {CP_PHASE_APPLICATION, {&mu, &ran, "app-2", false}},
      {CP_PHASE_AUTHENTICATION, {&mu, &ran, "auth-2", false}},
  };
  Create();
  for (auto &link : chain) {
    ASSERT_EQ(0, cp_server_add_interceptor(server_, link.phase, RecordPhaseStep,
                                           &link.step));
  }
  Start();
  EchoResult r = Echo("phases");
  ASSERT_EQ(0, r.rc) << r.status.message;
  std::vector<std::string> want = {"auth-1", "auth-2", "policy-1", "app-1",
                                   "app-2"};
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(want, ran);
    ran.clear();
  }

  // A refusal in the policy phase ends the chain there: no application
  // interceptor and no handler runs.
  chain[1].step.reject = true;
  r = Echo("refused");
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, r.status.code);
  EXPECT_STREQ("policy-1", r.status.message);
  want = {"auth-1", "auth-2", "policy-1"};
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(want, ran);
  EXPECT_EQ(1, Stat(ECHO_CALLS));
}

TEST_F(TransportTest, AnInterceptorNeedsAKnownPhase) {
  Create();
  auto phase = static_cast<cp_intercept_phase>(CP_PHASE_APPLICATION + 1);
  EXPECT_EQ(CP_EINVAL, cp_server_add_interceptor(server_, phase,
                                                 RecordPhaseStep, nullptr));
  phase = static_cast<cp_intercept_phase>(-1);
  EXPECT_EQ(CP_EINVAL, cp_server_add_interceptor(server_, phase,
                                                 RecordPhaseStep, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_server_add_interceptor(server_, CP_PHASE_POLICY,
                                                 nullptr, nullptr));
}

TEST_F(TransportTest, UnknownMethodIsUnimplementedAfterInterceptors) {
  InterceptorState st;
  Create();
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RequireAllowHeader, &st));
  Start();
  cp_method_desc unknown = cp_cplugintest__v1__echo_service__echo__method;
  unknown.path = "/cplugintest.v1.EchoService/Missing";
  cp_metadata md[] = {{"x-allow", "yes"}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  ProtobufCMessage *resp = nullptr;
  cp_status status;
  EXPECT_EQ(CP_ERPC, cp_client_unary(client_, &unknown, &req.base, &resp, &opts,
                                     &status));
  EXPECT_EQ(CP_STATUS_UNIMPLEMENTED, status.code);
  EXPECT_EQ("/cplugintest.v1.EchoService/Missing", st.seen_path);
  // Without the header the interceptor answers first.
  EXPECT_EQ(CP_ERPC, cp_client_unary(client_, &unknown, &req.base, &resp,
                                     nullptr, &status));
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, status.code);
}

TEST_F(TransportTest, OversizedRequestIsRejectedByTheServer) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.max_message_bytes = 64 * 1024;
  Create(&sopts);
  cp_client_options copts;
  cp_client_options_init(&copts);
  copts.max_message_bytes = 1024 * 1024;
  Start(&copts);
  std::string big(100 * 1024, 'b');
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.payload.data = reinterpret_cast<uint8_t *>(big.data());
  req.payload.len = big.size();
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, r.status.code);
  EXPECT_EQ(0, Stat(ECHO_CALLS));
  // The server keeps serving.
  EXPECT_EQ(0, Echo("after").rc);
}

TEST_F(TransportTest, PerMethodRequestCapIsCheckedBeforeTheHandler) {
  Create();
  EXPECT_EQ(CP_ENOTFOUND, cp_server_limit_requests(server_, "/nope.v1.X/", 10));
  EXPECT_EQ(CP_EINVAL, cp_server_limit_requests(server_, "no-slash", 10));
  EXPECT_EQ(CP_EINVAL, cp_server_limit_requests(
                           server_, "/cplugintest.v1.EchoService/", 0));
  ASSERT_EQ(0, cp_server_limit_requests(
                   server_, "/cplugintest.v1.EchoService/Echo", 1024));
  Start();
  std::string big(2048, 'b');
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.payload.data = reinterpret_cast<uint8_t *>(big.data());
  req.payload.len = big.size();
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, r.status.code);
  EXPECT_NE(nullptr, strstr(r.status.message,
                            "over the 1024-byte limit of "
                            "/cplugintest.v1.EchoService/"
                            "Echo"))
      << r.status.message;
  EXPECT_EQ(0, Stat(ECHO_CALLS));
  req.payload.len = 900;  // under the cap with the other fields
  EXPECT_EQ(0, Echo(req).rc);
  // Another method of the same service keeps the server's limit.
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 1;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  EXPECT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);
  cp_client_stream_destroy(s);
  EXPECT_EQ(CP_ESTATE, cp_server_limit_requests(
                           server_, "/cplugintest.v1.EchoService/", 10));
}

TEST_F(TransportTest, StreamsPerConnectionAreCapped) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.max_concurrent_streams = 2;
  Create(&sopts);
  Start();
  auto open_stream = [&](int64_t timeout_ms, cp_client_stream **s,
                         cp_status *status) {
    Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    creq.count = 0;
    creq.keep_open = true;
    cp_call_options o;
    cp_call_options_init(&o);
    o.timeout_ms = timeout_ms;
    return cp_cplugintest__v1__echo_service__count__start(client_, &creq, &o, s,
                                                          status);
  };
  cp_client_stream *a = nullptr;
  cp_client_stream *b = nullptr;
  cp_status status;
  ASSERT_EQ(0, open_stream(60000, &a, &status));
  ASSERT_EQ(0, open_stream(60000, &b, &status));
  ASSERT_TRUE(cp_test::WaitFor(
      "both streams to reach the handler",
      [&] { return Stat(COUNT_CALLS) == 2; },
      [&] { return std::to_string(Stat(COUNT_CALLS)); }));
  // The third waits for a free stream on this connection until its deadline.
  cp_client_stream *c = nullptr;
  EXPECT_EQ(CP_ERPC, open_stream(1000, &c, &status));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, status.code);
  EXPECT_EQ(2, Stat(COUNT_CALLS));
  // Another connection is not affected.
  cp_client *other = DedicatedClient();
  ASSERT_NE(nullptr, other);
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("other");
  EXPECT_EQ(0, Echo(req, nullptr, other).rc);
  cp_client_destroy(other);
  for (cp_client_stream *s : {a, b}) {
    cp_client_stream_cancel(s);
    cp_client_stream_destroy(s);
  }
  cp_client_stream_destroy(c);  // NULL after the failed start
}

TEST_F(TransportTest, OversizedRequestMetadataFailsTheCall) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.max_metadata_bytes = 4096;
  Create(&sopts);
  Start();
  std::string big(6000, 'm');
  cp_metadata md[] = {{"x-big", big.c_str()}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("big headers");
  EchoResult r = Echo(req, &opts);
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_NE(CP_STATUS_OK, r.status.code);
  EXPECT_EQ(0, Stat(ECHO_CALLS));
  // The server keeps serving; the refused header block may have cost that
  // client its connection (gRPC closes it on a header block over the limit),
  // so ask on a connection of its own.
  cp_client *fresh = DedicatedClient();
  ASSERT_NE(nullptr, fresh);
  req.text = const_cast<char *>("small");
  EchoResult small = Echo(req, nullptr, fresh);
  EXPECT_EQ(0, small.rc) << small.status.message;
  cp_client_destroy(fresh);
}

// The default (16 KiB) admits a header block gRPC's own default (8 KiB)
// would refuse.
TEST_F(TransportTest, DefaultMetadataCapAdmitsTenKiB) {
  Create();
  Start();
  std::string big(10 * 1024, 'm');
  cp_metadata md[] = {{"x-big", big.c_str()}};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.metadata = md;
  opts.metadata_count = 1;
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("ten KiB of headers");
  EchoResult r = Echo(req, &opts);
  EXPECT_EQ(0, r.rc) << r.status.message;
}

TEST(ServerOptions, ConnectionLimitsAreValidated) {
  cp_server *s = nullptr;
  cp_server_options o;
  auto refused = [&](void (*set)(cp_server_options *)) {
    cp_server_options_init(&o);
    set(&o);
    return cp_server_create(&s, &o) == CP_EINVAL;
  };
  EXPECT_TRUE(
      refused([](cp_server_options *p) { p->max_concurrent_streams = 0; }));
  EXPECT_TRUE(refused([](cp_server_options *p) { p->max_metadata_bytes = 0; }));
  EXPECT_TRUE(
      refused([](cp_server_options *p) { p->min_ping_interval_ms = 0; }));
  EXPECT_TRUE(refused([](cp_server_options *p) { p->max_ping_strikes = 0; }));
  EXPECT_TRUE(
      refused([](cp_server_options *p) { p->max_connection_idle_ms = -1; }));
  EXPECT_TRUE(
      refused([](cp_server_options *p) { p->max_connection_age_ms = -5; }));
  EXPECT_TRUE(refused([](cp_server_options *p) { p->busy_poll_us = 10001; }));
  EXPECT_EQ(nullptr, s);
  cp_server_options_init(&o);
  o.max_connection_idle_ms = 0;  // off
  o.max_connection_age_ms = 60000;
  o.max_connection_age_grace_ms = 1000;
  o.busy_poll_us = 10000;
  ASSERT_EQ(0, cp_server_create(&s, &o));
  cp_server_destroy(s);
}

TEST_F(TransportTest, OversizedResponseIsAnError) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.max_message_bytes = 64 * 1024;
  Create(&sopts);
  Start();
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.response_bytes = 128 * 1024;
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, r.status.code);
}

TEST_F(TransportTest, ClientRefusesToSendOverItsOwnLimit) {
  Create();
  cp_client_options copts;
  cp_client_options_init(&copts);
  copts.max_message_bytes = 1024;
  Start(&copts);
  std::string big(4096, 'b');
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.payload.data = reinterpret_cast<uint8_t *>(big.data());
  req.payload.len = big.size();
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_ETOOBIG, r.rc);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, r.status.code);
}

// --- client interceptors ----------------------------------------------------

struct ClientState {
  int attempts = 0;
  int retries_allowed = 0;
};

int AddHeader(cp_invocation *inv, void *user) {
  cp_invocation_add_metadata(inv, "x-allow", "yes");
  return cp_invocation_proceed(inv);
}

int RetryUnavailable(cp_invocation *inv, void *user) {
  auto *st = static_cast<ClientState *>(user);
  int rc = 0;
  for (int i = 0; i <= st->retries_allowed; i++) {
    st->attempts++;
    rc = cp_invocation_proceed(inv);
    if (cp_invocation_status(inv)->code != CP_STATUS_UNAVAILABLE) {
      break;
    }
  }
  return rc;
}

int ShortCircuit(cp_invocation *inv, void *user) {
  auto *st = static_cast<ClientState *>(user);
  st->attempts++;
  return cp_invocation_fail(inv, CP_STATUS_UNAVAILABLE, "circuit open");
}

TEST_F(TransportTest, ClientInterceptorAddsMetadataForUnaryAndStreams) {
  InterceptorState st;
  Create();
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RequireAllowHeader, &st));
  Start();
  ASSERT_EQ(0, cp_client_add_interceptor(client_, AddHeader, nullptr));
  EchoResult r = Echo("with header");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("caller-7", r.identity);

  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 2;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(0,
              cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
    EXPECT_EQ(i, msg->index);
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
  }
  EXPECT_EQ(CP_EEND,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  EXPECT_EQ(CP_STATUS_OK, status.code);
  cp_client_stream_destroy(s);
  // Adding interceptors after the first call is refused.
  EXPECT_EQ(CP_ESTATE, cp_client_add_interceptor(client_, AddHeader, nullptr));
}

TEST_F(TransportTest, ClientInterceptorRetriesTheWholeCall) {
  Create();
  Start();
  // The server fails every attempt with UNAVAILABLE: the interceptor makes
  // one call plus two retries, each reaching the handler.
  ClientState cs;
  cs.retries_allowed = 2;
  ASSERT_EQ(0, cp_client_add_interceptor(client_, RetryUnavailable, &cs));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.fail_code = CP_STATUS_UNAVAILABLE;
  EchoResult r = Echo(req);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code);
  EXPECT_EQ(3, cs.attempts);
  EXPECT_EQ(3, Stat(ECHO_CALLS));
  req.fail_code = 0;
  r = Echo(req);
  EXPECT_EQ(0, r.rc);
  EXPECT_EQ(4, cs.attempts);
}

TEST_F(TransportTest, ClientInterceptorShortCircuits) {
  Create();
  Start();
  ClientState cs;
  ASSERT_EQ(0, cp_client_add_interceptor(client_, ShortCircuit, &cs));
  EchoResult r = Echo("never sent");
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code);
  EXPECT_STREQ("circuit open", r.status.message);
  EXPECT_EQ(0, Stat(ECHO_CALLS));
}

// --- streams -----------------------------------------------------------------

TEST_F(TransportTest, StreamDeliversEveryMessageInOrder) {
  Create();
  Start();
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 200;
  creq.payload_bytes = 100;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  int n = 0;
  int rc;
  while ((rc = cp_cplugintest__v1__echo_service__count__next(s, &msg,
                                                             &status)) == 0) {
    EXPECT_EQ(n, msg->index);
    EXPECT_EQ(100u, msg->payload.len);
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    n++;
  }
  EXPECT_EQ(CP_EEND, rc);
  EXPECT_EQ(CP_STATUS_OK, status.code);
  EXPECT_EQ(200, n);
  // After the end, next keeps reporting the end.
  EXPECT_EQ(CP_EEND,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  cp_client_stream_destroy(s);
}

TEST_F(TransportTest, SlowReaderFillsTheBoundedQueueAndNothingIsLost) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.stream_queue_messages = 4;
  Create(&sopts);
  Start();
  // 100 messages of 64 KiB exceed HTTP/2 flow control while the client is
  // not reading, so the queue fills and sends report CP_EAGAIN.
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 100;
  creq.payload_bytes = 64 * 1024;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  // Read only once the handler has tried all 100 sends (each one counted as
  // queued or refused), so the queue filled while nobody read.
  EXPECT_TRUE(cp_test::WaitFor(
      "the handler to try all 100 sends",
      [&] { return Stat(MESSAGES_QUEUED) + Stat(SEND_EAGAIN) >= 100; },
      [&] {
        return "queued " + std::to_string(Stat(MESSAGES_QUEUED)) +
               ", refused " + std::to_string(Stat(SEND_EAGAIN));
      }));
  Cplugintest__V1__CountResponse *msg = nullptr;
  int n = 0;
  while (cp_cplugintest__v1__echo_service__count__next(s, &msg, &status) == 0) {
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    n++;
  }
  EXPECT_EQ(CP_STATUS_OK, status.code);
  EXPECT_GT(Stat(SEND_EAGAIN), 0);
  // Every message that was accepted arrived; the rest were refused, not lost.
  EXPECT_EQ(Stat(MESSAGES_QUEUED), n);
  EXPECT_EQ(100, Stat(MESSAGES_QUEUED) + Stat(SEND_EAGAIN));
  cp_client_stream_destroy(s);
}

// What slow readers make the server hold (cplugin_memory_bytes{structure=
// "stream_queues"}): 16 MiB offered to a client that does not read cannot
// all pass HTTP/2 flow control, so the rest waits in the stream's queue and
// is counted; once read, nothing is.
TEST_F(TransportTest, QueuedBytesFollowASlowReader) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.stream_queue_messages = 1000;
  sopts.stream_queue_bytes = size_t{64} << 20;
  Create(&sopts);
  Start();
  EXPECT_EQ(0u, cp_server_queued_bytes(server_));
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 256;
  creq.payload_bytes = 64 * 1024;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  EXPECT_TRUE(cp_test::WaitFor(
      "the handler to queue all 256 messages",
      [&] { return Stat(MESSAGES_QUEUED) >= 256; },
      [&] { return "queued " + std::to_string(Stat(MESSAGES_QUEUED)); }));
  const size_t held = cp_server_queued_bytes(server_);
  EXPECT_GE(held, size_t{1} << 20) << held;
  EXPECT_LE(held, size_t{256} * (64 * 1024 + 16)) << held;
  Cplugintest__V1__CountResponse *msg = nullptr;
  int n = 0;
  while (cp_cplugintest__v1__echo_service__count__next(s, &msg, &status) == 0) {
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    n++;
  }
  EXPECT_EQ(CP_STATUS_OK, status.code);
  EXPECT_EQ(256, n);
  EXPECT_EQ(0u, cp_server_queued_bytes(server_));  // no drift
  EXPECT_EQ(0u, cp_server_queued_bytes(nullptr));
  cp_client_stream_destroy(s);
}

TEST_F(TransportTest, ClientCancellationReachesTheStreamOwner) {
  Create();
  Start();
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 1;
  creq.keep_open = true;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);

  // The other thread cancels once this one is about to block in next. The
  // cancel usually lands while next waits; landing just before it ends the
  // call the same way, so the outcome does not depend on the timing.
  std::atomic<bool> reading{false};
  std::thread canceller([&] {
    EXPECT_TRUE(cp_test::WaitFor("the reader to reach next",
                                 [&] { return reading.load(); }));
    cp_client_stream_cancel(s);
  });
  reading = true;
  // Blocks until the cancel from the other thread.
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  EXPECT_EQ(CP_STATUS_CANCELLED, status.code);
  canceller.join();
  cp_client_stream_destroy(s);
  // The server learns of the cancel on its own: its done callback runs
  // after the client saw the end.
  EXPECT_TRUE(StatReaches(STREAMS_DONE, 1, "the stream's done callback"));
  EXPECT_EQ(1, Stat(STREAMS_DONE));
}

TEST_F(TransportTest, StreamDeadlineEndsAnOpenStream) {
  Create();
  Start();
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 0;
  creq.keep_open = true;
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 150;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, &opts, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, status.code);
  cp_client_stream_destroy(s);
  // The server's deadline fires on its own, after or before the client's.
  EXPECT_TRUE(StatReaches(STREAMS_DONE, 1, "the stream's done callback"));
  EXPECT_EQ(1, Stat(STREAMS_DONE));
}

TEST_F(TransportTest, ShutdownEndsOpenStreamsAfterTheGracePeriod) {
  Create();
  Start();
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 1;
  creq.keep_open = true;
  cp_client_stream *s = nullptr;
  cp_status status;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &s, &status));
  Cplugintest__V1__CountResponse *msg = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  protobuf_c_message_free_unpacked(&msg->base, nullptr);

  auto start = Clock::now();
  ASSERT_EQ(0, cp_server_shutdown(server_, 200));
  auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_EQ(1, Stat(STREAMS_DONE));
  EXPECT_EQ(CP_ERPC,
            cp_cplugintest__v1__echo_service__count__next(s, &msg, &status));
  EXPECT_NE(CP_STATUS_OK, status.code);
  cp_client_stream_destroy(s);
  // Shutdown is idempotent.
  EXPECT_EQ(0, cp_server_shutdown(server_, 0));
}

TEST_F(TransportTest, GracefulShutdownLetsInFlightUnaryCallsFinish) {
  Create();
  Start();
  EchoResult slow;
  std::thread caller([&] {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("slow");
    req.delay_ms = 300;
    slow = Echo(req);
  });
  // Shut down only once the slow call is in its handler. (EXPECT, not
  // ASSERT, until the caller thread is joined.)
  EXPECT_TRUE(StatReaches(ECHO_CALLS, 1, "the slow call to reach its handler"));
  EXPECT_EQ(0, cp_server_shutdown(server_, 5000));
  caller.join();
  EXPECT_EQ(0, slow.rc) << cp_status_code_name(slow.status.code) << " "
                        << slow.status.message;
  EXPECT_EQ("slow", slow.text);
  // New calls fail once the server is gone.
  EchoResult after = Echo("after");
  EXPECT_EQ(CP_ERPC, after.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, after.status.code);
}

TEST_F(TransportTest, ManyThreadsShareOneClient) {
  cp_server_options sopts;
  cp_server_options_init(&sopts);
  sopts.threads = 2;
  Create(&sopts);
  Start();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; i++) {
        std::string text = "t" + std::to_string(t) + "-" + std::to_string(i);
        EchoResult r = Echo(text.c_str());
        if (r.rc != 0 || r.text != text) {
          failures++;
        }
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(0, failures.load());
  EXPECT_EQ(400, Stat(ECHO_CALLS));
}

// --- bad arguments and states
// --------------------------------------------------

TEST(TransportApi, BadArgumentsAreRejected) {
  cp_server *s = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_server_create(nullptr, nullptr));
  cp_server_options o;
  cp_server_options_init(&o);
  o.max_message_bytes = 0;
  EXPECT_EQ(CP_EINVAL, cp_server_create(&s, &o));
  cp_server_options_init(&o);
  o.threads = 100000;
  EXPECT_EQ(CP_EINVAL, cp_server_create(&s, &o));
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  EXPECT_EQ(CP_ESTATE, cp_server_start(s));  // no listener
  EXPECT_EQ(CP_EINVAL, cp_server_listen(s, "", nullptr));
  EXPECT_EQ(CP_EBIND, cp_server_listen(s, "256.1.1.1:0", nullptr));
  EXPECT_EQ(CP_EINVAL, cp_server_add_method(s, nullptr, nullptr, nullptr));
  cp_method_desc bad = cp_cplugintest__v1__echo_service__echo__method;
  bad.unary_invoke = nullptr;
  EXPECT_EQ(CP_EINVAL,
            cp_server_add_method(s, &bad, (cp_generic_fn)abort, nullptr));
  echo_stats *stats = echo_stats_create();
  ASSERT_EQ(0, echo_service_register(s, stats));
  EXPECT_EQ(CP_EEXIST, echo_service_register(s, stats));
  EXPECT_EQ(CP_ESTATE, cp_server_shutdown(s, 0));
  EXPECT_EQ(CP_ESTATE, cp_server_wait(s));
  cp_server_destroy(s);
  cp_server_destroy(nullptr);
  echo_stats_destroy(stats);

  cp_client *c = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_client_create(&c, "", nullptr));
  EXPECT_EQ(CP_EINVAL, cp_client_create(&c, nullptr, nullptr));
  ASSERT_EQ(0, cp_client_create(&c, "127.0.0.1:1", nullptr));
  cp_status st;
  Cplugintest__V1__CountRequest wrong = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  ProtobufCMessage *resp = nullptr;
  EXPECT_EQ(CP_EINVAL,
            cp_client_unary(c, &cp_cplugintest__v1__echo_service__echo__method,
                            &wrong.base, &resp, nullptr, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  EXPECT_EQ(CP_EINVAL,
            cp_client_unary(c, &cp_cplugintest__v1__echo_service__echo__method,
                            &req.base, nullptr, nullptr, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  EXPECT_EQ(CP_EINVAL, cp_client_stream_start(
                           c, &cp_cplugintest__v1__echo_service__count__method,
                           &creq.base, nullptr, nullptr, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 2000;
  // Nothing listens on port 1.
  EXPECT_EQ(CP_ERPC,
            cp_client_unary(c, &cp_cplugintest__v1__echo_service__echo__method,
                            &req.base, &resp, &opts, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  cp_client_close(c);
  cp_client_close(c);  // idempotent
  EXPECT_EQ(CP_ECLOSED,
            cp_client_unary(c, &cp_cplugintest__v1__echo_service__echo__method,
                            &req.base, &resp, &opts, &st));
  cp_client_destroy(c);
  cp_client_destroy(nullptr);
}

// A batch of methods is registered whole or not at all: after each failed
// batch its first method can still be added on its own.
TEST(TransportApi, AddMethodsIsAllOrNothing) {
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  auto handler = reinterpret_cast<cp_generic_fn>(abort);
  const cp_method_desc &echo = cp_cplugintest__v1__echo_service__echo__method;
  const cp_method_desc &count = cp_cplugintest__v1__echo_service__count__method;
  cp_method_desc bad = echo;
  bad.unary_invoke = nullptr;
  cp_method_entry bad_last[] = {{&echo, handler, nullptr},
                                {&bad, handler, nullptr}};
  EXPECT_EQ(CP_EINVAL, cp_server_add_methods(s, bad_last, 2));
  cp_method_entry twice[] = {{&echo, handler, nullptr},
                             {&count, handler, nullptr},
                             {&echo, handler, nullptr}};
  EXPECT_EQ(CP_EEXIST, cp_server_add_methods(s, twice, 3));
  cp_method_entry no_handler[] = {{&echo, handler, nullptr},
                                  {&count, nullptr, nullptr}};
  EXPECT_EQ(CP_EINVAL, cp_server_add_methods(s, no_handler, 2));
  EXPECT_EQ(CP_EINVAL, cp_server_add_methods(s, nullptr, 1));
  EXPECT_EQ(CP_EINVAL, cp_server_add_methods(nullptr, twice, 1));
  EXPECT_EQ(0, cp_server_add_methods(s, nullptr, 0));

  // Nothing of the failed batches is there: echo and count go in now, and
  // a batch overlapping them fails as a whole.
  EXPECT_EQ(0, cp_server_add_methods(s, twice, 2));
  cp_method_entry overlap[] = {{&count, handler, nullptr}};
  EXPECT_EQ(CP_EEXIST, cp_server_add_methods(s, overlap, 1));
  EXPECT_EQ(CP_EEXIST, cp_server_add_method(s, &echo, handler, nullptr));
  cp_server_destroy(s);
}

TEST(TransportApi, UnixSocketListener) {
  char unique[128];
  ASSERT_EQ(0, test_socket_path("transport.sock", unique, sizeof unique));
  std::string path = unique;
  std::string addr = "unix:" + path;
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  echo_stats *stats = echo_stats_create();
  ASSERT_EQ(0, echo_service_register(s, stats));
  int port = -1;
  ASSERT_EQ(0, cp_server_listen(s, addr.c_str(), &port));
  EXPECT_EQ(0, port);
  ASSERT_EQ(0, cp_server_start(s));
  EXPECT_EQ(CP_ESTATE, cp_server_start(s));
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_client_create(&c, addr.c_str(), nullptr));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("over unix");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp,
                                                            nullptr, &st));
  EXPECT_STREQ("over unix", resp->text);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  cp_client_destroy(c);
  cp_server_shutdown(s, 100);
  cp_server_destroy(s);
  echo_stats_destroy(stats);
  test_socket_path_remove(path.c_str());
}

}  // namespace
