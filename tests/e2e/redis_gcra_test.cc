// The GCRA script (runtime/src/ratelimit/redis_gcra_script.c) against a
// real Redis (Debian's redis-server, on loopback): the script host replicas
// share rate-limit buckets through. Several connections stand for several
// replicas leasing tokens from one bucket.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"

extern "C" {
#include "ratelimit/redis_gcra_script.h"
}

namespace {

constexpr int64_t kHourUs = INT64_C(3600) * 1000 * 1000;

struct Lease {
  long long granted = -1;
  long long retry_after_us = -1;
  long long foreign = -1;
  std::string error;
};

class RedisGcraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = cpi_redis_gcra_script;
    ASSERT_EQ(0, test_redis_start(&redis_, 0, nullptr))
        << "redis-server did not start (is it installed? "
           "tools/install-deps.sh)";
    port_ = redis_.port;
    redisContext *c = Connect();
    ASSERT_NE(nullptr, c);
    redisReply *r = static_cast<redisReply *>(
        redisCommand(c, "SCRIPT LOAD %b", script_.data(), script_.size()));
    ASSERT_NE(nullptr, r);
    ASSERT_EQ(REDIS_REPLY_STRING, r->type) << (r->str ? r->str : "");
    sha_.assign(r->str, r->len);
    freeReplyObject(r);
    redisFree(c);
  }

  void TearDown() override { test_redis_stop(&redis_, SIGTERM); }

  redisContext *Connect() {
    redisContext *c = redisConnect("127.0.0.1", port_);
    if (c != nullptr && c->err != 0) {
      redisFree(c);
      return nullptr;
    }
    return c;
  }

  // One EVALSHA of the script; arguments as text, as a replica sends them.
  Lease Take(redisContext *c, const std::string &key,
             const std::string &interval_us, const std::string &burst,
             const std::string &wanted, const std::string &debt = "0") {
    Lease out;
    redisReply *r = static_cast<redisReply *>(redisCommand(
        c, "EVALSHA %s 1 %s %s %s %s %s", sha_.c_str(), key.c_str(),
        interval_us.c_str(), burst.c_str(), wanted.c_str(), debt.c_str()));
    if (r == nullptr) {
      out.error = "no reply";
    } else if (r->type == REDIS_REPLY_ERROR) {
      out.error.assign(r->str, r->len);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
               r->element[0]->type == REDIS_REPLY_INTEGER &&
               r->element[1]->type == REDIS_REPLY_INTEGER &&
               r->element[2]->type == REDIS_REPLY_INTEGER) {
      out.granted = r->element[0]->integer;
      out.retry_after_us = r->element[1]->integer;
      out.foreign = r->element[2]->integer;
    } else {
      out.error = "unexpected reply type " + std::to_string(r->type);
    }
    freeReplyObject(r);
    return out;
  }

  long long Pttl(redisContext *c, const std::string &key) {
    redisReply *r =
        static_cast<redisReply *>(redisCommand(c, "PTTL %s", key.c_str()));
    long long v =
        r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;
    freeReplyObject(r);
    return v;
  }

  std::string script_;
  std::string sha_;
  test_redis redis_ = {-1, 0};
  int port_ = -1;
};

// One token an hour: nothing refills during the test, so the leases of all
// replicas together must come to the burst exactly.
TEST_F(RedisGcraTest, ReplicasLeasingInBatchesShareOneBurstExactly) {
  std::vector<redisContext *> replicas;
  for (int i = 0; i < 4; i++) {
    replicas.push_back(Connect());
    ASSERT_NE(nullptr, replicas.back());
  }
  const std::string interval = std::to_string(kHourUs);
  long long total = 0;
  std::vector<bool> refused(replicas.size(), false);
  size_t refusals = 0;
  for (size_t i = 0; refusals < replicas.size();
       i = (i + 1) % replicas.size()) {
    if (refused[i]) {
      continue;
    }
    Lease l = Take(replicas[i], "rl:alice:/kv", interval, "100", "7");
    ASSERT_EQ("", l.error);
    ASSERT_LE(l.granted, 7);
    total += l.granted;
    if (l.granted == 0) {
      // The next token is an interval after the last one handed out.
      EXPECT_GT(l.retry_after_us, 0);
      EXPECT_LE(l.retry_after_us, kHourUs);
      refused[i] = true;
      refusals++;
    } else {
      EXPECT_EQ(0, l.retry_after_us);
    }
  }
  EXPECT_EQ(100, total);
  // An empty bucket is kept until it is full again (100 hours), no longer.
  long long ttl = Pttl(replicas[0], "rl:alice:/kv");
  EXPECT_GT(ttl, 99 * kHourUs / 1000);
  EXPECT_LE(ttl, 100 * kHourUs / 1000 + 1);
  // Another key is another bucket.
  EXPECT_EQ(7, Take(replicas[1], "rl:bob:/kv", interval, "100", "7").granted);
  for (redisContext *c : replicas) {
    redisFree(c);
  }
}

// Leases from concurrent connections: Redis runs each script alone, so no
// token is handed out twice.
TEST_F(RedisGcraTest, ConcurrentLeasesNeverExceedTheBurst) {
  const std::string interval = std::to_string(kHourUs);
  std::atomic<long long> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      redisContext *c = Connect();
      if (c == nullptr) {
        errors++;
        return;
      }
      for (;;) {
        Lease l = Take(c, "rl:shared", interval, "1000", "3");
        if (!l.error.empty()) {
          errors++;
          break;
        }
        if (l.granted == 0) {
          break;
        }
        total += l.granted;
      }
      redisFree(c);
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(1000, total.load());
}

TEST_F(RedisGcraTest, BadArgumentsAreRefusedAndChangeNothing) {
  redisContext *c = Connect();
  ASSERT_NE(nullptr, c);
  const std::string interval = std::to_string(kHourUs);
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"0", "10", "1", "0"},                // no interval
           {interval, "0", "1", "0"},            // no burst
           {interval, "10", "-1", "0"},          // less than nothing wanted
           {interval, "10", "11", "0"},          // more than a full bucket
           {interval, "ten", "1", "0"},          // not a number
           {"1.5", "10", "1", "0"},              // not whole
           {interval, "10", "1", "41"},          // more debt than 4 bursts
           {interval, "10", "1", "-41"},         // a larger refund
           {"1000000000", "2000000", "1", "0"},  // past 2^50 us
       }) {
    Lease l = Take(c, "rl:bad", args[0], args[1], args[2], args[3]);
    EXPECT_NE(std::string::npos, l.error.find("gcra: bad arguments"))
        << args[0] << " " << args[1] << " " << args[2] << " " << args[3] << ": "
        << l.error;
  }
  EXPECT_EQ(-2, Pttl(c, "rl:bad"));  // no such key: nothing was written
  // The largest bucket taken: 2^50 us of tokens (the lease table cuts
  // longer bursts to it).
  EXPECT_EQ(8, Take(c, "rl:long", "1000000", "1125899906", "8", "8").granted);
  EXPECT_EQ(10, Take(c, "rl:bad", interval, "10", "10").granted);
  redisFree(c);
}

// Tokens a replica admitted on credit are charged even past empty, and the
// unspent tokens it returns come back, but never past a full bucket.
TEST_F(RedisGcraTest, CreditIsChargedAndReturnsRefill) {
  redisContext *c = Connect();
  ASSERT_NE(nullptr, c);
  const std::string interval = std::to_string(kHourUs);
  // 8 admitted on credit from a bucket of 5: 3 owed beyond empty.
  Lease l = Take(c, "rl:credit", interval, "5", "2", "8");
  ASSERT_EQ("", l.error);
  EXPECT_EQ(0, l.granted);
  EXPECT_GT(l.retry_after_us, 3 * kHourUs);  // the 3 owed, then one more
  EXPECT_LE(l.retry_after_us, 4 * kHourUs);
  // Returning 4 leaves 1 token of room.
  l = Take(c, "rl:credit", interval, "5", "5", "-4");
  EXPECT_EQ(1, l.granted);
  // A return past full gives a full bucket, no more, and wanting nothing
  // takes nothing: the key is gone, as for a bucket never used.
  l = Take(c, "rl:credit", interval, "5", "0", "-20");
  EXPECT_EQ(0, l.granted);
  EXPECT_EQ(0, l.retry_after_us);
  EXPECT_EQ(-2, Pttl(c, "rl:credit"));
  EXPECT_EQ(5, Take(c, "rl:credit", interval, "5", "5").granted);
  redisFree(c);
}

// Something else stored under a bucket's key (another type, or text that is
// no number) is replaced with a full bucket, and the answer says so.
TEST_F(RedisGcraTest, ForeignValuesAreReplacedAndReported) {
  redisContext *c = Connect();
  ASSERT_NE(nullptr, c);
  const std::string interval = std::to_string(kHourUs);
  freeReplyObject(redisCommand(c, "HSET rl:hash field value"));
  freeReplyObject(redisCommand(c, "SET rl:text not-a-number"));
  for (const char *key : {"rl:hash", "rl:text"}) {
    Lease l = Take(c, key, interval, "10", "4");
    EXPECT_EQ("", l.error) << key;
    EXPECT_EQ(4, l.granted) << key;
    EXPECT_EQ(1, l.foreign) << key;
    l = Take(c, key, interval, "10", "4");
    EXPECT_EQ(4, l.granted) << key;
    EXPECT_EQ(0, l.foreign) << key;  // a bucket now
  }
  redisFree(c);
}

}  // namespace
