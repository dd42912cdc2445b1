// The lease table of shared rate limits (runtime/src/ratelimit/lease_table.h)
// without Redis: the tests play the store's thread, answering leases by
// hand, with time passed in.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "ratelimit/lease_table.h"
}

namespace {

constexpr int64_t kMs = 1000000;

class LeaseTableTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(0, cpi_lease_table_create(&t_, 4, 50)); }
  void TearDown() override { cpi_lease_table_destroy(t_); }

  cpi_lease_verdict Take(const std::string &key, cp_rate_limit limit,
                         bool up = true, int64_t *retry = nullptr) {
    int64_t r = -1;
    bool queued = false;
    cpi_lease_verdict v = cpi_lease_take(t_, key.data(), key.size(), limit, up,
                                         now_, &r, &queued);
    queued_ += queued ? 1 : 0;
    if (retry != nullptr) {
      *retry = r;
    }
    return v;
  }

  std::vector<cpi_lease_request> Collect(int64_t *wake = nullptr) {
    std::vector<cpi_lease_request> reqs(8);
    int64_t w = 0;
    size_t n = cpi_lease_collect(t_, reqs.data(), reqs.size(), now_, &w);
    reqs.resize(n);
    if (wake != nullptr) {
      *wake = w;
    }
    return reqs;
  }

  // Takes until refused; returns how many were admitted.
  int Drain(const std::string &key, cp_rate_limit limit) {
    int n = 0;
    while (Take(key, limit) == CPI_LEASE_ALLOW) {
      n++;
    }
    return n;
  }

  cpi_lease_table *t_ = nullptr;
  int64_t now_ = 1000 * kMs;
  int queued_ = 0;
};

TEST(LeaseSize, RateWorthOfLeaseMsAtLeastAFewTokensAtMostTheBurst) {
  EXPECT_EQ(50u, cpi_lease_size({1000, 2000}, 50));  // the host default
  EXPECT_EQ(5u, cpi_lease_size({1, 5}, 50));         // RegisterService
  EXPECT_EQ(8u, cpi_lease_size({10, 20}, 50));       // Handshake
  EXPECT_EQ(3u, cpi_lease_size({100000, 3}, 50));    // capped by the burst
  EXPECT_EQ(1u, cpi_lease_size({3, 1}, 50));
  EXPECT_TRUE(cpi_lease_shareable({1, 1}));
  EXPECT_FALSE(cpi_lease_shareable({0, 5}));  // a one-time budget
  EXPECT_FALSE(cpi_lease_shareable({5, 0}));  // closed
}

// A bucket new to the replica admits one lease on credit at once, and
// that credit is what the first request to the store charges.
TEST_F(LeaseTableTest, NewBucketStartsWithOneLeaseOnCredit) {
  const cp_rate_limit limit = {1000, 2000};
  EXPECT_EQ(CPI_LEASE_ALLOW, Take("alice", limit));
  EXPECT_EQ(1, queued_);  // the credit is owed: queued at once
  auto reqs = Collect();
  ASSERT_EQ(1u, reqs.size());
  EXPECT_EQ(std::string("alice"), std::string(reqs[0].key, reqs[0].key_len));
  EXPECT_EQ(50, reqs[0].debt);
  EXPECT_EQ(50u, reqs[0].wanted);
  EXPECT_EQ(1000, reqs[0].interval_us);
  EXPECT_EQ(2000u, reqs[0].burst);
  // While the lease is on its way, the 49 left of the credit are spent.
  EXPECT_EQ(49, Drain("alice", limit));
  int64_t retry = 0;
  EXPECT_EQ(CPI_LEASE_DENY, Take("alice", limit, true, &retry));
  EXPECT_EQ(1 * kMs, retry);  // a store round trip
  cpi_lease_apply(t_, &reqs[0], true, 50, 0, now_);
  EXPECT_EQ(50, Drain("alice", limit));
}

TEST_F(LeaseTableTest, LowAllowanceQueuesOneLeaseAtATime) {
  const cp_rate_limit limit = {1000, 2000};
  Take("k", limit);
  auto first = Collect();
  ASSERT_EQ(1u, first.size());
  cpi_lease_apply(t_, &first[0], true, 50, 0, now_);
  // 99 tokens: no lease wanted until half a lease (25) is left.
  queued_ = 0;
  for (int i = 0; i < 74; i++) {
    ASSERT_EQ(CPI_LEASE_ALLOW, Take("k", limit));
  }
  EXPECT_EQ(1, queued_);
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(CPI_LEASE_ALLOW, Take("k", limit));
  }
  EXPECT_EQ(1, queued_);  // already queued: not twice
  auto next = Collect();
  ASSERT_EQ(1u, next.size());
  EXPECT_EQ(0, next[0].debt);
  EXPECT_TRUE(Collect().empty());  // in flight: not collected again
}

// The store said empty: calls get its retry, and no lease is asked for
// before then.
TEST_F(LeaseTableTest, AnEmptyStoreBucketWaitsForItsRetry) {
  const cp_rate_limit limit = {10, 8};
  EXPECT_EQ(8, Drain("k", limit));
  auto reqs = Collect();
  ASSERT_EQ(1u, reqs.size());
  cpi_lease_apply(t_, &reqs[0], true, 0, 30000, now_);  // 30 ms
  int64_t retry = 0;
  EXPECT_EQ(CPI_LEASE_DENY, Take("k", limit, true, &retry));
  EXPECT_EQ(30 * kMs, retry);
  int64_t wake = 0;
  EXPECT_TRUE(Collect(&wake).empty());
  EXPECT_EQ(INT64_MAX, wake);  // not even queued
  now_ += 30 * kMs;
  EXPECT_EQ(CPI_LEASE_DENY, Take("k", limit, true, &retry));
  EXPECT_EQ(1 * kMs, retry);
  EXPECT_EQ(1u, Collect().size());
}

// Unreachable store: spent leases still admit; a bucket with none left,
// or a new one, is the outage policy's.
TEST_F(LeaseTableTest, StoreDownSpendsWhatIsLeasedThenReportsTheOutage) {
  const cp_rate_limit limit = {1, 5};
  EXPECT_EQ(CPI_LEASE_STORE_DOWN, Take("new", limit, false));
  EXPECT_EQ(0u, cpi_lease_count(t_));
  EXPECT_EQ(CPI_LEASE_ALLOW, Take("k", limit));
  auto reqs = Collect();
  ASSERT_EQ(1u, reqs.size());
  cpi_lease_apply(t_, &reqs[0], false, 0, 0, now_);  // not reached
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(CPI_LEASE_ALLOW, Take("k", limit, false));
  }
  EXPECT_EQ(CPI_LEASE_STORE_DOWN, Take("k", limit, false));
  // Back up: the credit that was never charged is charged now.
  EXPECT_EQ(CPI_LEASE_DENY, Take("k", limit));
  reqs = Collect();
  ASSERT_EQ(1u, reqs.size());
  EXPECT_EQ(5, reqs[0].debt);
}

TEST_F(LeaseTableTest, FullTableRefusesNewBucketsOnly) {
  const cp_rate_limit limit = {1000, 2000};
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(CPI_LEASE_ALLOW, Take("k" + std::to_string(i), limit));
  }
  EXPECT_EQ(CPI_LEASE_FULL, Take("k4", limit));
  EXPECT_EQ(CPI_LEASE_ALLOW, Take("k0", limit));
  EXPECT_EQ(4u, cpi_lease_count(t_));
}

// Idle buckets are dropped and give back what they hold; buckets with a
// lease in flight are kept until it is answered.
TEST_F(LeaseTableTest, SweepReturnsUnspentTokensOfIdleBuckets) {
  const cp_rate_limit limit = {1000, 2000};
  Take("spent-few", limit);
  Take("in-flight", limit);
  auto reqs = Collect();
  ASSERT_EQ(2u, reqs.size());
  for (auto &r : reqs) {
    if (std::string(r.key, r.key_len) == "spent-few") {
      cpi_lease_apply(t_, &r, true, 50, 0, now_);
    }
  }
  now_ += 10000 * kMs;
  std::vector<cpi_lease_request> back(8);
  size_t n = cpi_lease_sweep(t_, 10000 * kMs, now_, back.data(), back.size());
  ASSERT_EQ(1u, n);
  EXPECT_EQ(std::string("spent-few"),
            std::string(back[0].key, back[0].key_len));
  EXPECT_EQ(-99, back[0].debt);  // 49 of the credit + 50 leased, unspent
  EXPECT_EQ(0u, back[0].wanted);
  EXPECT_EQ(nullptr, back[0].entry);
  EXPECT_EQ(1u, cpi_lease_count(t_));  // "in-flight" is kept
  // Answered and idle: dropped at the next sweep.
  for (auto &r : reqs) {
    if (std::string(r.key, r.key_len) == "in-flight") {
      cpi_lease_apply(t_, &r, true, 50, 0, now_);
    }
  }
  n = cpi_lease_sweep(t_, 10000 * kMs, now_, back.data(), back.size());
  EXPECT_EQ(1u, n);
  EXPECT_EQ(0u, cpi_lease_count(t_));
}

// A burst of more than 2^50 us of tokens (here four billion at 1/s) is cut
// to what the script takes, so leases are granted instead of refused.
TEST_F(LeaseTableTest, AnEndlessBurstIsCutToWhatTheStoreTakes) {
  const cp_rate_limit limit = {1, UINT32_MAX};
  EXPECT_EQ(CPI_LEASE_ALLOW, Take("k", limit));
  auto reqs = Collect();
  ASSERT_EQ(1u, reqs.size());
  EXPECT_EQ(1000000, reqs[0].interval_us);
  EXPECT_LE(reqs[0].interval_us * static_cast<int64_t>(reqs[0].burst),
            INT64_C(1) << 50);
  EXPECT_GT(reqs[0].burst, 1000000000u);  // still over 35 years of tokens
  EXPECT_LE(reqs[0].wanted, reqs[0].burst);
  EXPECT_LE(reqs[0].debt, 4 * static_cast<int64_t>(reqs[0].burst));
}

}  // namespace
