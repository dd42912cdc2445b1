// The rate policy on a running host-like server: handshake service, token
// store, auth interceptor, then the rate-limit interceptor, and EchoService
// with per-method limits set by the tests. Time is a manual clock, so
// nothing refills unless a test moves it. The retry-after-ms trailer is read
// on the wire by Python grpcio (/usr/bin/python3), since cp_client does not
// surface trailers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "plugin/v1/handshake.cplugin.h"
}

namespace {

constexpr int64_t kMs = 1000000;
constexpr const char *kEcho = "/cplugintest.v1.EchoService/Echo";
constexpr const char *kCount = "/cplugintest.v1.EchoService/Count";
constexpr const char *kApiKey = "0123456789abcdef-api-key";

cp_rate_limit Limit(uint32_t rate, uint32_t burst) {
  cp_rate_limit l;
  l.rate_per_sec = rate;
  l.burst = burst;
  return l;
}

// Unary calls from Python grpcio with raw (empty) request bytes: prints one
// line per call, "<status code> <retry-after-ms or ->".
constexpr const char *kProbe = R"PY(
import sys
import grpc
target, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
md = [tuple(a.split("=", 1)) for a in sys.argv[4:]]
channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
call = channel.unary_unary(path)
for _ in range(n):
    try:
        _, c = call.with_call(b"", metadata=md, timeout=20)
        code, trailers = 0, c.trailing_metadata()
    except grpc.RpcError as e:
        code, trailers = e.code().value[0], e.trailing_metadata()
    print(code, dict(trailers or ()).get("retry-after-ms", "-"))
)PY";

struct ProbeResult {
  int code;
  std::string retry_after_ms;
};

class RatePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 1000LL * 1000 * kMs);
    stats_ = echo_stats_create();
    cp_token_store_options to;
    cp_token_store_options_init(&to);
    to.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
    ASSERT_EQ(0, cp_auth_create(&auth_));
    cp_rate_policy_options_init(&popts_);
    popts_.limiter.clock = &clock_.clock;
    popts_.limiter.sweep_interval_ms = 0;
    popts_.on_deny = OnDeny;
    popts_.on_deny_user = this;
  }

  void TearDown() override {
    for (cp_plugin_client *pc : clients_) {
      cp_plugin_client_destroy(pc);
    }
    cp_client_destroy(raw_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_rate_policy_destroy(policy_);
    cp_handshake_service_destroy(hs_);
    cp_auth_destroy(auth_);
    cp_token_store_destroy(tokens_);
    echo_stats_destroy(stats_);
  }

  // Creates the policy (if the test did not) and starts the server: auth
  // installed first, then the rate policy, unless policy_installed_first_.
  void Start() {
    if (policy_ == nullptr) {
      ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
    }
    cp_plugin_info echo;
    cp_plugin_info_from_desc(&echo, &cp_cplugintest__v1__echo_service__plugin);
    cp_handshake_service_options ho;
    cp_handshake_service_options_init(&ho);
    ho.tokens = tokens_;
    ho.plugins = &echo;
    ho.plugin_count = 1;
    ASSERT_EQ(0, cp_handshake_service_create(&hs_, &ho));
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, cp_handshake_service_register(hs_, server_));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth_, tokens_));
    ASSERT_EQ(0, cp_auth_open_host_methods(auth_));
    if (policy_installed_first_) {
      ASSERT_EQ(0, cp_rate_policy_register(policy_, server_));
    }
    ASSERT_EQ(0, cp_auth_register(auth_, server_));
    if (!policy_installed_first_) {
      ASSERT_EQ(0, cp_rate_policy_register(policy_, server_));
    }
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    target_ = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&raw_, target_.c_str(), nullptr));
  }

  static void OnDeny(const cp_call *call, cp_rate_result r, void *user) {
    auto *self = static_cast<RatePolicyTest *>(user);
    std::lock_guard<std::mutex> lock(self->deny_mu_);
    const cp_method_desc *m = cp_call_method(call);
    std::string path = cp_call_path(call);
    // Registered methods come with their descriptor (for the metrics).
    EXPECT_TRUE(m != nullptr || path == "/no.Such/Method") << path;
    self->denied_[path + (r == CP_RATE_DENY_FULL ? "!" : "")]++;
  }

  int Denied(const std::string &what) {
    std::lock_guard<std::mutex> lock(deny_mu_);
    return denied_[what];
  }

  // A plugin client that performed the handshake and got an identity.
  cp_plugin_client *Connect(const char *self_id) {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    o.endpoint = target_.c_str();
    o.self_id = self_id;
    const char *want[] = {"echo"};
    o.requested_plugins = want;
    o.requested_plugin_count = 1;
    cp_plugin_client *pc = nullptr;
    EXPECT_EQ(0, cp_plugin_client_create(&pc, &o));
    cp_status st;
    EXPECT_EQ(0, cp_plugin_client_connect(pc, &st)) << st.message;
    clients_.push_back(pc);
    return pc;
  }

  cp_client *Dispense(cp_plugin_client *pc) {
    cp_client *c = nullptr;
    EXPECT_EQ(0, cp_plugin_client_dispense(
                     pc, &cp_cplugintest__v1__echo_service__plugin, &c));
    return c;
  }

  static std::vector<cp_metadata> Credentials(cp_plugin_client *pc,
                                              std::string *bearer) {
    *bearer = std::string("Bearer ") + cp_plugin_client_runtime_token(pc);
    return {{CP_MD_RUNTIME_ID, cp_plugin_client_runtime_id(pc)},
            {CP_MD_AUTHORIZATION, bearer->c_str()}};
  }

  cp_status Echo(cp_client *c, const cp_metadata *md = nullptr, size_t n = 0) {
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md;
    o.metadata_count = n;
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  // Echo `n` times; returns how many succeeded, and checks that every
  // failure is the rate-limit rejection.
  // Echo limited to a burst of 5 at 1/s; two plugins each spend a burst
  // of their own (7 calls, 5 admitted). Their clients go to *a and *b.
  void SpendTwoBursts(cp_client **a, cp_client **b) {
    ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
    ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 5)));
    Start();
    *a = Dispense(Connect("plugin-a"));
    *b = Dispense(Connect("plugin-b"));
    EXPECT_EQ(5, EchoOk(*a, 7));
    EXPECT_EQ(5, EchoOk(*b, 7));
  }

  int EchoOk(cp_client *c, int n, const cp_metadata *md = nullptr,
             size_t md_n = 0) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
      cp_status st = Echo(c, md, md_n);
      if (st.code == CP_STATUS_OK) {
        ok++;
      } else {
        EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code) << st.message;
        EXPECT_STREQ("rate limit exceeded", st.message);
      }
    }
    return ok;
  }

  cp_status_code Count(cp_client *c) {
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = 2;
    cp_client_stream *s = nullptr;
    cp_status st;
    if (cp_cplugintest__v1__echo_service__count__start(c, &req, nullptr, &s,
                                                       &st) != 0) {
      return st.code;
    }
    Cplugintest__V1__CountResponse *msg = nullptr;
    while (cp_cplugintest__v1__echo_service__count__next(s, &msg, &st) == 0) {
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
    }
    cp_client_stream_destroy(s);
    return st.code;
  }

  cp_status_code Handshake(const cp_metadata *md = nullptr, size_t n = 0) {
    Connectplugin__V1__HandshakeRequest r =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
    r.core_protocol_version = 1;
    r.app_protocol_version = 1;
    r.magic_cookie_key = const_cast<char *>(CP_MAGIC_COOKIE_KEY);
    r.magic_cookie_value = const_cast<char *>(CP_MAGIC_COOKIE_VALUE);
    cp_call_options o;
    cp_call_options_init(&o);
    o.metadata = md;
    o.metadata_count = n;
    Connectplugin__V1__HandshakeResponse *resp = nullptr;
    cp_status st;
    cp_connectplugin__v1__handshake_service__handshake__call(raw_, &r, &resp,
                                                             &o, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    if (st.code == CP_STATUS_RESOURCE_EXHAUSTED) {
      EXPECT_STREQ("rate limit exceeded", st.message);
    }
    return st.code;
  }

  // `n` calls to `path` from Python grpcio with metadata `md`.
  std::vector<ProbeResult> Probe(const char *path, int n,
                                 const std::vector<cp_metadata> &md = {}) {
    const char *dir = getenv("TEST_TMPDIR");  // Bazel's scratch space
    std::string tmpl = std::string(dir != nullptr ? dir : "/tmp") +
                       "/cplugin-rate-probe-XXXXXX";
    std::vector<char> script(tmpl.begin(), tmpl.end());
    script.push_back('\0');
    int fd = mkstemp(script.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(static_cast<ssize_t>(strlen(kProbe)),
              write(fd, kProbe, strlen(kProbe)));
    close(fd);
    std::string cmd = std::string("/usr/bin/python3 ") + script.data() + " '" +
                      target_ + "' '" + path + "' " + std::to_string(n);
    for (const cp_metadata &m : md) {
      cmd += std::string(" '") + m.key + "=" + m.value + "'";
    }
    std::vector<ProbeResult> out;
    FILE *p = popen(cmd.c_str(), "r");
    EXPECT_NE(nullptr, p);
    char line[256];
    while (p != nullptr && fgets(line, sizeof line, p) != nullptr) {
      char retry[64] = {0};
      ProbeResult r{-1, ""};
      if (sscanf(line, "%d %63s", &r.code, retry) == 2) {
        r.retry_after_ms = retry;
        out.push_back(r);
      }
    }
    if (p != nullptr) {
      EXPECT_EQ(0, pclose(p)) << "python3 grpcio probe failed";
    }
    unlink(script.data());
    EXPECT_EQ(static_cast<size_t>(n), out.size());
    return out;
  }

  void Advance(int64_t ns) { cp_manual_clock_advance(&clock_, ns); }

  cp_manual_clock clock_;
  echo_stats *stats_ = nullptr;
  cp_token_store *tokens_ = nullptr;
  cp_auth *auth_ = nullptr;
  cp_rate_policy_options popts_;
  cp_rate_policy *policy_ = nullptr;
  bool policy_installed_first_ = false;
  cp_handshake_service *hs_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *raw_ = nullptr;
  std::string target_;
  std::vector<cp_plugin_client *> clients_;
  std::mutex deny_mu_;
  std::map<std::string, int> denied_;
};

constexpr int kResourceExhausted = 8;

TEST_F(RatePolicyTest, BurstIsCutAfterFiveAndEachRejectionCarriesRetryAfter) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 5)));
  Start();
  cp_plugin_client *a = Connect("plugin-a");
  cp_client *c = Dispense(a);
  EXPECT_EQ(5, EchoOk(c, 8));
  EXPECT_EQ(5, echo_stats_get(stats_, ECHO_CALLS));  // the handler ran 5 times
  EXPECT_EQ(3, Denied(kEcho));
  EXPECT_EQ(3u, cp_rate_policy_denials(policy_, kEcho));

  // On the wire: RESOURCE_EXHAUSTED with retry-after-ms, the wait for the
  // next token (1 s at 1/s: the clock has not moved).
  std::string bearer;
  std::vector<cp_metadata> md = Credentials(a, &bearer);
  std::vector<ProbeResult> r = Probe(kEcho, 3, md);
  for (const ProbeResult &x : r) {
    EXPECT_EQ(kResourceExhausted, x.code);
    EXPECT_EQ("1000", x.retry_after_ms);
  }
  Advance(400 * kMs);
  r = Probe(kEcho, 1, md);
  EXPECT_EQ(kResourceExhausted, r[0].code);
  EXPECT_EQ("600", r[0].retry_after_ms);
  // One token later: one call passes (no trailer), the next is cut again.
  Advance(600 * kMs);
  r = Probe(kEcho, 2, md);
  EXPECT_EQ(0, r[0].code);
  EXPECT_EQ("-", r[0].retry_after_ms);
  EXPECT_EQ(kResourceExhausted, r[1].code);
  EXPECT_EQ("1000", r[1].retry_after_ms);
  EXPECT_EQ(6, echo_stats_get(stats_, ECHO_CALLS));
}

TEST_F(RatePolicyTest, RetryAfterRoundsUpToWholeMilliseconds) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(3, 1)));
  Start();
  cp_plugin_client *a = Connect("plugin-a");
  std::string bearer;
  std::vector<cp_metadata> md = Credentials(a, &bearer);
  // 1/3 s = 333333334 ns -> 334 ms; 1 ns short of a token -> 1 ms.
  std::vector<ProbeResult> r = Probe(kEcho, 2, md);
  EXPECT_EQ(0, r[0].code);
  EXPECT_EQ("334", r[1].retry_after_ms);
  Advance(333333333);
  r = Probe(kEcho, 1, md);
  EXPECT_EQ("1", r[0].retry_after_ms);
}

TEST_F(RatePolicyTest, TwoRuntimeIdsAreLimitedIndependently) {
  cp_client *a = nullptr;
  cp_client *b = nullptr;
  ASSERT_NO_FATAL_FAILURE(SpendTwoBursts(&a, &b));
  EXPECT_EQ(0, EchoOk(a, 1));
  // Per method: Count has its own (default) budget.
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  Advance(1000 * kMs);
  EXPECT_EQ(1, EchoOk(a, 2));
  EXPECT_EQ(1, EchoOk(b, 2));
}

// The phases, not the order of installation, put authentication first: a
// policy installed before auth still keys each call on its identity (were
// it to run first it would see none and key both plugins on their shared
// address).
TEST_F(RatePolicyTest, PolicyInstalledBeforeAuthStillKeysOnTheIdentity) {
  policy_installed_first_ = true;
  cp_client *a = nullptr;
  cp_client *b = nullptr;
  ASSERT_NO_FATAL_FAILURE(SpendTwoBursts(&a, &b));
  // An unauthenticated call is refused by auth, not counted by the policy.
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_).code);
  EXPECT_EQ(4, Denied(kEcho));
}

TEST_F(RatePolicyTest, SpoofedRuntimeIdHeaderCannotBorrowOrDrainABucket) {
  // An API-key caller tried before runtime tokens, so a call can carry a
  // valid identity and, besides, another plugin's x-plugin-runtime-id.
  ASSERT_EQ(0, cp_auth_add_api_key(auth_, kApiKey, "robot"));
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 5)));
  Start();
  cp_plugin_client *a = Connect("plugin-a");
  const char *a_id = cp_plugin_client_runtime_id(a);

  // Draining: calls naming A without A's token never reach A's bucket.
  cp_metadata spoof[] = {{CP_MD_RUNTIME_ID, a_id}};
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, Echo(raw_, spoof, 1).code);
  }
  cp_metadata robot_as_a[] = {{CP_MD_API_KEY, kApiKey},
                              {CP_MD_RUNTIME_ID, a_id}};
  EXPECT_EQ(5, EchoOk(raw_, 8, robot_as_a, 2));  // robot's own budget
  cp_client *ca = Dispense(a);
  EXPECT_EQ(5, EchoOk(ca, 8));  // A's budget is whole

  // Borrowing: A is exhausted; robot naming B keeps being robot.
  cp_plugin_client *b = Connect("plugin-b");
  cp_metadata robot_as_b[] = {
      {CP_MD_API_KEY, kApiKey},
      {CP_MD_RUNTIME_ID, cp_plugin_client_runtime_id(b)}};
  EXPECT_EQ(0, EchoOk(raw_, 3, robot_as_b, 2));
  EXPECT_EQ(5, EchoOk(Dispense(b), 8));

  // Unauthenticated Handshake calls are keyed by address: naming any
  // runtime ID, or none, draws from the same per-IP budget (20, of which
  // the two Connect calls used 2).
  cp_metadata as_b[] = {{CP_MD_RUNTIME_ID, cp_plugin_client_runtime_id(b)}};
  int ok = 0;
  for (int i = 0; i < 30; i++) {
    const cp_metadata *md = i % 3 == 0 ? spoof : i % 3 == 1 ? as_b : nullptr;
    ok += Handshake(md, md != nullptr ? 1 : 0) == CP_STATUS_OK;
  }
  EXPECT_EQ(18, ok);
}

TEST_F(RatePolicyTest, UnauthenticatedHandshakesAreLimitedPerIp) {
  Start();  // host defaults: Handshake 10/s, burst 20, per IP
  for (int i = 0; i < 20; i++) {
    ASSERT_EQ(CP_STATUS_OK, Handshake()) << i;
  }
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake());
  EXPECT_EQ(1, Denied(CP_RATE_HANDSHAKE_PATH));
  // Another client on the same address (Python grpcio) shares the budget.
  std::vector<ProbeResult> r = Probe(CP_RATE_HANDSHAKE_PATH, 2);
  for (const ProbeResult &x : r) {
    EXPECT_EQ(kResourceExhausted, x.code);
    EXPECT_EQ("100", x.retry_after_ms);  // 10/s: 100 ms per token
  }
  Advance(100 * kMs);
  EXPECT_EQ(CP_STATUS_OK, Handshake());
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake());
  cp_handshake_stats hst;
  cp_handshake_service_get_stats(hs_, &hst);
  EXPECT_EQ(21u, hst.ok);
  // The plugin client reports the refusal.
  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = target_.c_str();
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  clients_.push_back(pc);
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_plugin_client_connect(pc, &st));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code);
  EXPECT_STREQ("rate limit exceeded", st.message);
}

TEST_F(RatePolicyTest, StreamingCallsAreLimitedToo) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kCount, Limit(1, 2)));
  Start();
  cp_client *a = Dispense(Connect("plugin-a"));
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Count(a));
  EXPECT_EQ(2, echo_stats_get(stats_, COUNT_CALLS));
}

TEST_F(RatePolicyTest, RulesChangeWhileServing) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 2)));
  Start();
  cp_client *a = Dispense(Connect("plugin-a"));
  EXPECT_EQ(2, EchoOk(a, 3));
  // A larger burst applies from the next call; the 2 used are carried over.
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 5)));
  EXPECT_EQ(3, EchoOk(a, 5));
  // Exempt: never limited.
  ASSERT_EQ(0, cp_rate_policy_exempt(policy_, kEcho));
  EXPECT_EQ(10, EchoOk(a, 10));
  // A service prefix: Echo and Count share one budget.
  ASSERT_EQ(0, cp_rate_policy_clear(policy_, kEcho));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, "/cplugintest.v1.EchoService/",
                                  Limit(1, 3)));
  EXPECT_EQ(2, EchoOk(a, 2));
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Count(a));
  EXPECT_EQ(0, EchoOk(a, 1));
  // An exact rule wins over the prefix. Echo's rule keeps its bucket, which
  // remembers the 5 calls made under it: 5 s refill it (and the prefix's).
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 1)));
  EXPECT_EQ(0, EchoOk(a, 1));
  Advance(5000 * kMs);
  EXPECT_EQ(1, EchoOk(a, 2));
  EXPECT_EQ(CP_STATUS_OK, Count(a));  // Echo no longer draws from the prefix
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Count(a));
  // The default: methods without their own rule share it.
  ASSERT_EQ(0, cp_rate_policy_clear(policy_, "/cplugintest.v1.EchoService/"));
  ASSERT_EQ(0, cp_rate_policy_clear(policy_, kEcho));
  cp_rate_policy_set_default(policy_, Limit(1, 2));
  cp_client *b = Dispense(Connect("plugin-b"));
  EXPECT_EQ(1, EchoOk(b, 1));
  EXPECT_EQ(CP_STATUS_OK, Count(b));
  EXPECT_EQ(0, EchoOk(b, 1));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Count(b));
  cp_rate_policy_exempt_default(policy_);
  EXPECT_EQ(5, EchoOk(b, 5));
  // The whole policy off, and on again.
  cp_rate_policy_set_default(policy_, Limit(1, 2));
  EXPECT_EQ(0, EchoOk(b, 1));
  cp_rate_policy_set_enabled(policy_, false);
  EXPECT_EQ(5, EchoOk(b, 5));
  cp_rate_policy_set_enabled(policy_, true);
  EXPECT_EQ(0, EchoOk(b, 1));
  EXPECT_GT(cp_rate_limiter_count(cp_rate_policy_limiter(policy_)), 0u);
}

TEST_F(RatePolicyTest, UnknownMethodsFallUnderTheDefault) {
  Start();
  cp_rate_policy_set_default(policy_, Limit(1, 2));
  cp_plugin_client *a = Connect("plugin-a");
  std::string bearer;
  std::vector<cp_metadata> md = Credentials(a, &bearer);
  std::vector<ProbeResult> r = Probe("/no.Such/Method", 3, md);
  EXPECT_EQ(12, r[0].code);  // UNIMPLEMENTED, after the limiter let it pass
  EXPECT_EQ(12, r[1].code);
  EXPECT_EQ(kResourceExhausted, r[2].code);
  EXPECT_EQ(1u, cp_rate_policy_denials(policy_, nullptr));
}

struct Denials {
  std::map<std::string, uint64_t> by_rule;
};

TEST_F(RatePolicyTest, DenialCountersAndGauge) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 1)));
  cp_rate_policy_set_default(policy_, Limit(1, 1));
  Start();
  cp_client *a = Dispense(Connect("plugin-a"));
  EXPECT_EQ(1, EchoOk(a, 4));
  EXPECT_EQ(CP_STATUS_OK, Count(a));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Count(a));
  Denials d;
  cp_rate_policy_foreach_denials(
      policy_,
      [](const char *rule, uint64_t n, void *user) {
        static_cast<Denials *>(user)->by_rule[rule] = n;
      },
      &d);
  EXPECT_EQ(3u, d.by_rule[kEcho]);
  EXPECT_EQ(1u, d.by_rule["*"]);
  EXPECT_EQ(0u, d.by_rule.count(CP_RATE_HANDSHAKE_PATH));
  EXPECT_EQ(3, Denied(kEcho));
  EXPECT_EQ(1, Denied(kCount));  // the callback sees the method itself
  EXPECT_EQ(0u, cp_rate_policy_denials(policy_, "/not/a/rule"));
  // Buckets: the handshake (per IP), Echo and the default for plugin-a.
  EXPECT_EQ(3u, cp_rate_limiter_count(cp_rate_policy_limiter(policy_)));
}

TEST_F(RatePolicyTest, FullLimiterRejectsNewCallersWithTheIdlePeriod) {
  popts_.limiter.max_buckets = 2;
  popts_.limiter.idle_evict_ms = 90000;
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kCount, Limit(1, 5)));
  Start();
  cp_plugin_client *a = Connect("plugin-a");  // bucket 1: handshake per IP
  cp_client *ca = Dispense(a);
  EXPECT_EQ(CP_STATUS_OK, Echo(ca).code);  // bucket 2: plugin-a, default
  std::string bearer;
  std::vector<cp_metadata> md = Credentials(a, &bearer);
  std::vector<ProbeResult> r = Probe(kCount, 1, md);  // would be a third
  EXPECT_EQ(kResourceExhausted, r[0].code);
  EXPECT_EQ("90000", r[0].retry_after_ms);
  EXPECT_EQ(1, Denied(std::string(kCount) + "!"));
  EXPECT_EQ(CP_STATUS_OK, Echo(ca).code);  // known callers keep working
}

TEST_F(RatePolicyTest, HostDefaultsAreExactlyTheTable) {
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &popts_));
  struct Row {
    const char *path;
    uint32_t rate, burst;
  } rows[] = {
      {CP_RATE_HANDSHAKE_PATH, 10, 20},
      {"/connectplugin.v1.ServiceRegistry/RegisterService", 1, 64},
      {"/connectplugin.v1.ServiceRegistry/UnregisterService", 1, 64},
      {"/connectplugin.v1.ServiceRegistry/DiscoverService", 100, 200},
      {"/connectplugin.v1.ServiceRegistry/WatchService", 1, 16},
      {"/connectplugin.v1.CapabilityBroker/RequestCapability", 10, 20},
      {"/connectplugin.v1.PluginLifecycle/ReportHealth", 1000, 2000},
      {"/kv.v1.KVService/Get", 1000, 2000},
  };
  for (const Row &row : rows) {
    cp_rate_limit l = Limit(0, 0);
    EXPECT_EQ(0, cp_rate_policy_lookup(policy_, row.path, &l)) << row.path;
    EXPECT_EQ(row.rate, l.rate_per_sec) << row.path;
    EXPECT_EQ(row.burst, l.burst) << row.path;
  }
  // Customised, then reset to exactly the table.
  ASSERT_EQ(0,
            cp_rate_policy_set(policy_, CP_RATE_HANDSHAKE_PATH, Limit(1, 1)));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, kEcho, Limit(1, 1)));
  ASSERT_EQ(0, cp_rate_policy_exempt(policy_, CP_RATE_WATCH_PATH));
  cp_rate_policy_exempt_default(policy_);
  cp_rate_policy_set_enabled(policy_, false);
  cp_rate_limit l = Limit(0, 0);
  EXPECT_EQ(CP_ENOTFOUND,
            cp_rate_policy_lookup(policy_, CP_RATE_HANDSHAKE_PATH, &l));
  ASSERT_EQ(0, cp_rate_policy_host_defaults(policy_));
  for (const Row &row : rows) {
    EXPECT_EQ(0, cp_rate_policy_lookup(policy_, row.path, &l)) << row.path;
    EXPECT_EQ(row.rate, l.rate_per_sec) << row.path;
    EXPECT_EQ(row.burst, l.burst) << row.path;
  }
  EXPECT_EQ(0, cp_rate_policy_lookup(policy_, kEcho, &l));
  EXPECT_EQ(1000u, l.rate_per_sec);  // the custom Echo rule is gone

  // Without host defaults nothing is limited.
  cp_rate_policy *bare = nullptr;
  popts_.host_defaults = false;
  ASSERT_EQ(0, cp_rate_policy_create(&bare, &popts_));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_rate_policy_lookup(bare, CP_RATE_HANDSHAKE_PATH, &l));
  EXPECT_EQ(CP_ENOTFOUND, cp_rate_policy_lookup(bare, kEcho, &l));
  cp_rate_policy_destroy(bare);
}

cp_auth_result LongIdentity(cp_call *call, void *user) {
  cp_str v;
  if (!cp_call_metadata(call, "x-long", &v)) {
    return CP_AUTH_ABSENT;
  }
  std::string id(600, 'x');
  cp_call_set_identity(call, "long", id.c_str());
  return CP_AUTH_OK;
}

// A key can hold at most CP_RATE_KEY_MAX bytes; an identity too long for it
// is refused, never let through unlimited (or merged by truncation).
TEST_F(RatePolicyTest, OversizedIdentityIsRefusedNotUnlimited) {
  ASSERT_EQ(0, cp_auth_add_validator(auth_, "long", LongIdentity, nullptr));
  Start();
  cp_metadata md[] = {{"x-long", "1"}};
  cp_status st = Echo(raw_, md, 1);
  EXPECT_EQ(CP_STATUS_INTERNAL, st.code);
  EXPECT_STREQ("caller identity too long for rate limiting", st.message);
  EXPECT_EQ(0, echo_stats_get(stats_, ECHO_CALLS));
}

// The effective table an operator sees (Admin/ListRateLimits): rules in the
// order first set, cleared ones left out, then the default; exempt rules and
// an exempt default say so.
TEST(RatePolicy, ForeachRuleListsTheEffectiveTable) {
  cp_rate_policy_options o;
  cp_rate_policy_options_init(&o);
  o.host_defaults = false;
  o.limiter.sweep_interval_ms = 0;
  cp_rate_policy *p = nullptr;
  ASSERT_EQ(0, cp_rate_policy_create(&p, &o));
  ASSERT_EQ(0, cp_rate_policy_set(p, "/a.S/M", Limit(5, 10)));
  ASSERT_EQ(0, cp_rate_policy_set(p, "/b.S/", Limit(7, 14)));
  ASSERT_EQ(0, cp_rate_policy_exempt(p, "/c.S/Free"));
  ASSERT_EQ(0, cp_rate_policy_set(p, "/d.S/Gone", Limit(1, 1)));
  ASSERT_EQ(0, cp_rate_policy_clear(p, "/d.S/Gone"));
  cp_rate_policy_set_default(p, Limit(100, 200));
  struct Row {
    std::string path;
    bool prefix, exempt;
    uint32_t rate, burst;
  };
  std::vector<Row> rows;
  auto collect = [](const cp_rate_rule_info *r, void *user) {
    static_cast<std::vector<Row> *>(user)->push_back(
        {r->path, r->prefix, r->exempt, r->limit.rate_per_sec, r->limit.burst});
  };
  cp_rate_policy_foreach_rule(p, collect, &rows);
  ASSERT_EQ(4u, rows.size());
  EXPECT_EQ("/a.S/M", rows[0].path);
  EXPECT_FALSE(rows[0].prefix);
  EXPECT_EQ(5u, rows[0].rate);
  EXPECT_EQ(10u, rows[0].burst);
  EXPECT_EQ("/b.S/", rows[1].path);
  EXPECT_TRUE(rows[1].prefix);
  EXPECT_EQ("/c.S/Free", rows[2].path);
  EXPECT_TRUE(rows[2].exempt);
  EXPECT_EQ("*", rows[3].path);
  EXPECT_FALSE(rows[3].exempt);
  EXPECT_EQ(200u, rows[3].burst);
  cp_rate_policy_exempt_default(p);
  rows.clear();
  cp_rate_policy_foreach_rule(p, collect, &rows);
  EXPECT_TRUE(rows.back().exempt);
  EXPECT_TRUE(cp_rate_policy_enabled(p));
  cp_rate_policy_set_enabled(p, false);
  EXPECT_FALSE(cp_rate_policy_enabled(p));
  EXPECT_FALSE(cp_rate_policy_enabled(nullptr));
  cp_rate_policy_foreach_rule(nullptr, collect, &rows);
  cp_rate_policy_foreach_rule(p, nullptr, nullptr);
  cp_rate_policy_destroy(p);
}

TEST(RatePolicy, BadArguments) {
  cp_rate_policy *p = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_create(nullptr, nullptr));
  cp_rate_policy_options o;
  cp_rate_policy_options_init(&o);
  o.ipv6_prefix_bits = 129;
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_create(&p, &o));
  cp_rate_policy_options_init(&o);
  o.limiter.max_buckets = 0;
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_create(&p, &o));
  EXPECT_EQ(nullptr, p);
  cp_rate_policy_options_init(&o);
  o.limiter.sweep_interval_ms = 0;
  ASSERT_EQ(0, cp_rate_policy_create(&p, &o));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_set(p, nullptr, Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_set(p, "", Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_set(p, "no-slash", Limit(1, 1)));
  std::string huge = "/" + std::string(600, 'x');
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_set(p, huge.c_str(), Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_exempt(p, "x"));
  EXPECT_EQ(CP_ENOTFOUND, cp_rate_policy_clear(p, "/not/set"));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_set(nullptr, "/a/b", Limit(1, 1)));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_register(p, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_register(nullptr, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_host_defaults(nullptr));
  cp_rate_limit l;
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_lookup(p, nullptr, &l));
  EXPECT_EQ(CP_EINVAL, cp_rate_policy_lookup(nullptr, "/a/b", &l));
  EXPECT_EQ(0u, cp_rate_policy_denials(nullptr, nullptr));
  EXPECT_EQ(nullptr, cp_rate_policy_limiter(nullptr));
  cp_rate_policy_set_default(nullptr, Limit(1, 1));
  cp_rate_policy_exempt_default(nullptr);
  cp_rate_policy_set_enabled(nullptr, true);
  cp_rate_policy_foreach_denials(nullptr, nullptr, nullptr);
  cp_rate_policy_foreach_denials(p, nullptr, nullptr);
  // The rule table is bounded: 6 host rules + 250 more, then CP_ELIMIT;
  // replacing an existing rule still works.
  for (int i = 0; i < CP_RATE_POLICY_MAX_RULES - 6; i++) {
    std::string path = "/svc.S/M" + std::to_string(i);
    ASSERT_EQ(0, cp_rate_policy_set(p, path.c_str(), Limit(1, 1))) << i;
  }
  EXPECT_EQ(CP_ELIMIT, cp_rate_policy_set(p, "/svc.S/one-more", Limit(1, 1)));
  EXPECT_EQ(0, cp_rate_policy_set(p, "/svc.S/M0", Limit(2, 2)));
  EXPECT_EQ(0, cp_rate_policy_clear(p, "/svc.S/M0"));
  EXPECT_EQ(0, cp_rate_policy_set(p, "/svc.S/M0", Limit(3, 3)));
  EXPECT_EQ(0, cp_rate_policy_lookup(p, "/svc.S/M0", &l));
  EXPECT_EQ(3u, l.burst);
  EXPECT_EQ(0, cp_rate_policy_host_defaults(p));
  cp_rate_policy_destroy(p);
  cp_rate_policy_destroy(nullptr);
}

}  // namespace
