// Rate limits shared by replicas through a real Redis (cplugin/
// ratelimit_redis.h): two servers, each with its own rate policy linked to
// one redis-server on loopback, called alternately from the same address,
// so both see the same caller. Then Redis killed and restarted under
// both outage policies, refused credentials, and a flushed script.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "process.h"
#include "redis_server.h"
}
#include "wait.h"

namespace {

cp_rate_limit Limit(uint32_t rate, uint32_t burst) {
  cp_rate_limit l;
  l.rate_per_sec = rate;
  l.burst = burst;
  return l;
}

// One replica: an EchoService server whose every method gets `limit` per
// caller, shared through Redis when `redis` is not NULL.
struct Replica {
  cp_rate_policy *policy = nullptr;
  cp_server *server = nullptr;
  cp_client *client = nullptr;
  echo_stats *stats = echo_stats_create();

  ~Replica() {
    cp_client_destroy(client);
    if (server != nullptr) {
      cp_server_shutdown(server, 1000);
      cp_server_destroy(server);
    }
    cp_rate_policy_destroy(policy);
    echo_stats_destroy(stats);
  }

  void Start(const cp_rate_redis_options *redis, cp_rate_limit limit) {
    cp_rate_policy_options o;
    cp_rate_policy_options_init(&o);
    o.host_defaults = false;
    o.redis = redis;
    ASSERT_EQ(0, cp_rate_policy_create(&policy, &o));
    cp_rate_policy_set_default(policy, limit);
    ASSERT_EQ(0, cp_server_create(&server, nullptr));
    ASSERT_EQ(0, echo_service_register(server, stats));
    ASSERT_EQ(0, cp_rate_policy_register(policy, server));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client, target.c_str(), nullptr));
  }

  cp_status Echo() {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    cp_cplugintest__v1__echo_service__echo__call(client, &req, &resp, nullptr,
                                                 &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return st;
  }

  cp_rate_redis_stats Stats() {
    cp_rate_redis_stats s{};
    EXPECT_EQ(0, cp_rate_policy_redis_stats(policy, &s));
    return s;
  }
};

// Log lines, captured for the outage messages.
std::mutex log_mu;
std::vector<std::string> *log_lines = nullptr;

void CaptureLog(const char *line, size_t len, void *) {
  std::lock_guard<std::mutex> lock(log_mu);
  if (log_lines != nullptr) {
    log_lines->emplace_back(line, len);
  }
}

class SharedLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, test_redis_start(&redis_, 0, nullptr))
        << "redis-server did not start (is it installed? "
           "tools/install-deps.sh)";
    address_ = "127.0.0.1:" + std::to_string(redis_.port);
    cp_rate_redis_options_init(&ro_);
    ro_.address = address_.c_str();
    ro_.reconnect_max_ms = 200;
    std::lock_guard<std::mutex> lock(log_mu);
    log_lines = &lines_;
    cp_log_set_sink(CaptureLog, nullptr);
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    cp_log_set_sink(nullptr, nullptr);
    {
      std::lock_guard<std::mutex> lock(log_mu);
      log_lines = nullptr;
    }
    test_redis_stop(&redis_, SIGTERM);
  }

  void StartReplicas(cp_rate_limit limit) {
    a_ = std::make_unique<Replica>();
    b_ = std::make_unique<Replica>();
    a_->Start(&ro_, limit);
    b_->Start(&ro_, limit);
  }

  bool Logged(const std::string &what) {
    std::lock_guard<std::mutex> lock(log_mu);
    for (const auto &l : lines_) {
      if (l.find(what) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  // Calls both replicas in turn until `cond` holds; returns the status
  // codes seen, by code.
  template <typename Cond>
  std::map<int, int> CallUntil(Cond cond) {
    std::map<int, int> codes;
    bool held = cp_test::WaitFor("condition", [&] {
      codes[a_->Echo().code]++;
      codes[b_->Echo().code]++;
      return cond();
    });
    EXPECT_TRUE(held);
    return codes;
  }

  test_redis redis_ = {-1, 0};
  std::string address_;
  cp_rate_redis_options ro_;
  std::unique_ptr<Replica> a_, b_;
  std::vector<std::string> lines_;
};

// A caller alternating between two replicas as fast as it can gets the
// limit once: rate x time + burst, within 10 % (what replicas hold between
// leases), not twice that.
TEST_F(SharedLimitsTest, TwoReplicasAdmitOneGlobalLimit) {
  const cp_rate_limit limit = Limit(200, 20);
  StartReplicas(limit);
  int admitted = 0, refused = 0;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < end) {
    for (Replica *r : {a_.get(), b_.get()}) {
      cp_status st = r->Echo();
      if (st.code == CP_STATUS_OK) {
        admitted++;
      } else {
        ASSERT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, st.code) << st.message;
        refused++;
      }
    }
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  double expected = limit.rate_per_sec * secs + limit.burst;
  std::printf("admitted %d of %.0f expected (%+.1f %%), %d refused, %.2f s\n",
              admitted, expected, 100.0 * (admitted - expected) / expected,
              refused, secs);
  ASSERT_GE(admitted + refused, 1.5 * expected)
      << "too few calls to press the limit (a slow machine?)";
  EXPECT_GE(admitted, expected * 0.9) << secs << " s";
  EXPECT_LE(admitted, expected * 1.1) << secs << " s";
  // Both replicas admitted a share: they really share one bucket.
  EXPECT_GT(echo_stats_get(a_->stats, ECHO_CALLS), admitted / 4);
  EXPECT_GT(echo_stats_get(b_->stats, ECHO_CALLS), admitted / 4);
  cp_rate_redis_stats s = a_->Stats();
  EXPECT_TRUE(s.up);
  EXPECT_EQ(0u, s.failures);
  EXPECT_EQ(0u, s.outage_calls);
  EXPECT_GT(s.leases, 0u);
  EXPECT_EQ(1u, s.buckets);
}

// Redis gone with the default policy: each replica falls back to its own
// limit, says so once in the log, and rejoins when Redis is back.
TEST_F(SharedLimitsTest, OutageFallsBackToLocalLimitsAndRecovers) {
  ro_.lease_ms = 1;
  StartReplicas(Limit(50, 10));
  ASSERT_EQ(CP_STATUS_OK, a_->Echo().code);
  int port = redis_.port;
  test_redis_stop(&redis_, SIGKILL);
  auto codes = CallUntil([&] {
    return !a_->Stats().up && !b_->Stats().up && a_->Stats().outage_calls > 0;
  });
  EXPECT_EQ(0, codes[CP_STATUS_UNAVAILABLE]);
  EXPECT_GT(codes[CP_STATUS_OK], 0);
  EXPECT_TRUE(Logged("rate limit store unreachable"));
  EXPECT_TRUE(Logged("outage_policy=local"));
  // The replica's own limit (50/s) still applies during the outage: calls
  // back to back soon pass it.
  bool refused = false;
  for (int i = 0; i < 5000 && !refused; i++) {
    refused = a_->Echo().code == CP_STATUS_RESOURCE_EXHAUSTED;
  }
  EXPECT_TRUE(refused);

  ASSERT_EQ(0, test_redis_start(&redis_, port, nullptr));
  uint64_t leases = a_->Stats().leases;
  CallUntil([&] {
    return a_->Stats().up && b_->Stats().up && a_->Stats().leases > leases;
  });
  EXPECT_TRUE(Logged("rate limit store reachable"));
}

// Redis gone with the deny policy: once the leased tokens are spent, calls
// are refused with UNAVAILABLE and a retry hint, then admitted again when
// Redis is back.
TEST_F(SharedLimitsTest, OutageDenyRefusesWithUnavailableAndRecovers) {
  ro_.lease_ms = 1;
  ro_.outage = CP_RATE_OUTAGE_DENY;
  StartReplicas(Limit(1000, 100));
  ASSERT_EQ(CP_STATUS_OK, a_->Echo().code);
  int port = redis_.port;
  test_redis_stop(&redis_, SIGKILL);
  cp_status last{};
  CallUntil([&] {
    last = a_->Echo();
    return last.code == CP_STATUS_UNAVAILABLE;
  });
  EXPECT_STREQ("rate limit store unreachable", last.message);
  EXPECT_TRUE(Logged("outage_policy=deny"));
  EXPECT_GT(a_->Stats().outage_calls, 0u);

  ASSERT_EQ(0, test_redis_start(&redis_, port, nullptr));
  CallUntil([&] { return a_->Echo().code == CP_STATUS_OK; });
  EXPECT_TRUE(a_->Stats().up);
}

// No Redis at the address, or credentials Redis refuses: the policy is
// created all the same, reports the outage, and applies its policy.
TEST_F(SharedLimitsTest, UnreachableOrRefusedRedisIsAnOutageNotAnError) {
  std::string nowhere =
      "127.0.0.1:" + std::to_string(test_free_loopback_port());
  ro_.address = nowhere.c_str();
  ro_.outage = CP_RATE_OUTAGE_DENY;
  a_ = std::make_unique<Replica>();
  a_->Start(&ro_, Limit(1000, 100));
  EXPECT_FALSE(a_->Stats().up);
  cp_status st = a_->Echo();
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;

  test_redis secured = {-1, 0};
  const char *args[] = {"--requirepass", "right-password", nullptr};
  ASSERT_EQ(0, test_redis_start(&secured, 0, args));
  std::string at = "127.0.0.1:" + std::to_string(secured.port);
  ro_.address = at.c_str();
  ro_.password = "wrong-password";
  b_ = std::make_unique<Replica>();
  b_->Start(&ro_, Limit(1000, 100));
  EXPECT_FALSE(b_->Stats().up);
  EXPECT_TRUE(Logged("AUTH refused"));
  b_.reset();
  ro_.password = "right-password";
  b_ = std::make_unique<Replica>();
  b_->Start(&ro_, Limit(1000, 100));
  EXPECT_TRUE(b_->Stats().up);
  EXPECT_EQ(CP_STATUS_OK, b_->Echo().code);
  b_.reset();
  test_redis_stop(&secured, SIGTERM);
}

// Redis forgets scripts on restart or SCRIPT FLUSH: the next lease loads
// it again, and no call notices.
TEST_F(SharedLimitsTest, AFlushedScriptIsLoadedAgain) {
  ro_.lease_ms = 1;
  StartReplicas(Limit(1000, 100));
  ASSERT_EQ(CP_STATUS_OK, a_->Echo().code);
  redisContext *c = redisConnect("127.0.0.1", redis_.port);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
  redisFree(c);
  uint64_t leases = a_->Stats().leases;
  auto codes = CallUntil([&] { return a_->Stats().leases > leases + 2; });
  EXPECT_EQ(0, codes[CP_STATUS_UNAVAILABLE]);
  EXPECT_EQ(0u, a_->Stats().failures);
  EXPECT_TRUE(a_->Stats().up);
}

// A Redis that stops answering (SIGSTOP) is an outage after timeout_ms:
// calls are never held for it, and it is back once Redis answers again.
TEST_F(SharedLimitsTest, ASilentRedisIsAnOutageAndHoldsNoCall) {
  ro_.lease_ms = 1;
  ro_.timeout_ms = 100;
  ro_.outage = CP_RATE_OUTAGE_DENY;
  StartReplicas(Limit(1000, 100));
  ASSERT_EQ(CP_STATUS_OK, a_->Echo().code);
  ASSERT_EQ(0, kill(redis_.pid, SIGSTOP));
  std::map<int, int> codes;
  bool refused = cp_test::WaitFor("the outage policy", [&] {
    cp_status st = a_->Echo();
    codes[st.code]++;
    return st.code == CP_STATUS_UNAVAILABLE;
  });
  kill(redis_.pid, SIGCONT);
  EXPECT_TRUE(refused);
  // Calls got answers of the limiter, never a deadline (the client's
  // default is none: a held call would hang the wait above instead).
  for (const auto &c : codes) {
    EXPECT_TRUE(c.first == CP_STATUS_OK ||
                c.first == CP_STATUS_RESOURCE_EXHAUSTED ||
                c.first == CP_STATUS_UNAVAILABLE)
        << c.first;
  }
  EXPECT_TRUE(Logged("rate limit store unreachable"));
  CallUntil([&] { return a_->Stats().up && a_->Echo().code == CP_STATUS_OK; });
}

// A bucket's key holding something else (another program's hash) is
// replaced with a bucket, counted and logged; calls go on.
TEST_F(SharedLimitsTest, AForeignValueAtABucketKeyIsReplaced) {
  redisContext *c = redisConnect("127.0.0.1", redis_.port);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  // The default rule's bucket of callers from 127.0.0.1 (peer key "p...").
  std::string key = std::string("cplugin:rl:*") + '\0' + "p127.0.0.1";
  freeReplyObject(
      redisCommand(c, "HSET %b field value", key.data(), key.size()));
  redisFree(c);
  ro_.lease_ms = 1;
  StartReplicas(Limit(1000, 100));
  auto codes = CallUntil([&] { return a_->Stats().leases > 2; });
  EXPECT_EQ(0, codes[CP_STATUS_UNAVAILABLE]);
  EXPECT_GT(codes[CP_STATUS_OK], 0);
  EXPECT_GE(a_->Stats().failures + b_->Stats().failures, 1u);
  EXPECT_TRUE(Logged("held something else"));
}

TEST(SharedLimitsOptions, BadOptionsAreRefused) {
  cp_rate_redis_options ro;
  cp_rate_policy_options o;
  cp_rate_policy_options_init(&o);
  o.redis = &ro;
  cp_rate_policy *p = nullptr;
  std::string long_prefix(CP_RATE_REDIS_PREFIX_MAX + 1, 'x');
  struct Case {
    const char *what;
    void (*set)(cp_rate_redis_options *, const std::string &);
  };
  const Case cases[] = {
      {"no address", [](cp_rate_redis_options *r,
                        const std::string &) { r->address = nullptr; }},
      {"no port", [](cp_rate_redis_options *r,
                     const std::string &) { r->address = "127.0.0.1"; }},
      {"port 0", [](cp_rate_redis_options *r,
                    const std::string &) { r->address = "127.0.0.1:0"; }},
      {"empty unix path", [](cp_rate_redis_options *r,
                             const std::string &) { r->address = "unix:"; }},
      {"long prefix", [](cp_rate_redis_options *r,
                         const std::string &s) { r->key_prefix = s.c_str(); }},
      {"lease 0",
       [](cp_rate_redis_options *r, const std::string &) { r->lease_ms = 0; }},
      {"timeout 0", [](cp_rate_redis_options *r,
                       const std::string &) { r->timeout_ms = 0; }},
      {"outage 7",
       [](cp_rate_redis_options *r, const std::string &) {
         r->outage = static_cast<cp_rate_outage>(7);
       }},
  };
  for (const Case &c : cases) {
    cp_rate_redis_options_init(&ro);
    ro.address = "127.0.0.1:6379";
    c.set(&ro, long_prefix);
    EXPECT_EQ(CP_EINVAL, cp_rate_policy_create(&p, &o)) << c.what;
    EXPECT_EQ(nullptr, p);
  }
  // A policy without Redis has no Redis state to report.
  o.redis = nullptr;
  ASSERT_EQ(0, cp_rate_policy_create(&p, &o));
  cp_rate_redis_stats s;
  EXPECT_EQ(CP_ENOTFOUND, cp_rate_policy_redis_stats(p, &s));
  cp_rate_policy_destroy(p);
}

}  // namespace
