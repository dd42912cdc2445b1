// runtime/src/ratelimit/redis_gcra.lua against a real Redis (Debian's
// redis-server, on loopback): the script host replicas will share rate-limit
// buckets through (issue 16). Several connections stand for several
// replicas leasing tokens from one bucket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "wait.h"

#ifndef CPLUGIN_REDIS_GCRA_LUA
#define CPLUGIN_REDIS_GCRA_LUA "runtime/src/ratelimit/redis_gcra.lua"
#endif

namespace {

constexpr int64_t kHourUs = INT64_C(3600) * 1000 * 1000;

struct Lease {
  long long granted = -1;
  long long retry_after_us = -1;
  std::string error;
};

class RedisGcraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(
        test_program_path("CPLUGIN_REDIS_GCRA_LUA", CPLUGIN_REDIS_GCRA_LUA));
    ASSERT_TRUE(in.good()) << "cannot read the script";
    std::stringstream text;
    text << in.rdbuf();
    script_ = text.str();
    for (int attempt = 0; attempt < 3 && port_ < 0; attempt++) {
      StartRedis();
    }
    ASSERT_GT(port_, 0) << "redis-server did not start (is it installed? "
                           "tools/install-deps.sh)";
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

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
  }

  // Starts redis-server on a free loopback port, without persistence; on
  // failure leaves port_ < 0 and no process behind.
  void StartRedis() {
    int port = test_free_loopback_port();
    std::string port_arg = std::to_string(port);
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0) {
        dup2(null, 1);
      }
      execlp("redis-server", "redis-server", "--port", port_arg.c_str(),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             (char *)nullptr);
      _exit(127);
    }
    ASSERT_GT(pid_, 0);
    bool up = cp_test::WaitFor("redis answers PING", [&] {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return true;  // exited: the port was taken, or no redis-server
      }
      redisContext *c = redisConnect("127.0.0.1", port);
      bool ok = false;
      if (c != nullptr && c->err == 0) {
        redisReply *r = static_cast<redisReply *>(redisCommand(c, "PING"));
        ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
      }
      redisFree(c);
      return ok;
    });
    if (up && pid_ > 0) {
      port_ = port;
    } else if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

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
             const std::string &wanted) {
    Lease out;
    redisReply *r = static_cast<redisReply *>(
        redisCommand(c, "EVALSHA %s 1 %s %s %s %s", sha_.c_str(), key.c_str(),
                     interval_us.c_str(), burst.c_str(), wanted.c_str()));
    if (r == nullptr) {
      out.error = "no reply";
    } else if (r->type == REDIS_REPLY_ERROR) {
      out.error.assign(r->str, r->len);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_INTEGER &&
               r->element[1]->type == REDIS_REPLY_INTEGER) {
      out.granted = r->element[0]->integer;
      out.retry_after_us = r->element[1]->integer;
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
  pid_t pid_ = -1;
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
           {"0", "10", "1"},        // no interval
           {interval, "0", "1"},    // no burst
           {interval, "10", "0"},   // nothing wanted
           {interval, "10", "11"},  // more than a full bucket
           {interval, "ten", "1"},  // not a number
           {"1.5", "10", "1"},      // not whole
       }) {
    Lease l = Take(c, "rl:bad", args[0], args[1], args[2]);
    EXPECT_NE(std::string::npos, l.error.find("gcra: bad arguments"))
        << args[0] << " " << args[1] << " " << args[2] << ": " << l.error;
  }
  EXPECT_EQ(-2, Pttl(c, "rl:bad"));  // no such key: nothing was written
  EXPECT_EQ(10, Take(c, "rl:bad", interval, "10", "10").granted);
  redisFree(c);
}

}  // namespace
