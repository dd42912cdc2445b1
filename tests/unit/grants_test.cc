// The capability grant table (broker/grants.h): formats, every refusal of
// a verify, expiry, both caps, revocation per runtime, sweeping, and
// concurrent use keeping the counts consistent.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "broker/grants.h"
#include "cplugin/errors.h"
}

namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1000 * kSecond;  // any monotonic time

class GrantsTest : public ::testing::Test {
 protected:
  void Make(size_t total, size_t per_runtime, int64_t ttl_ms = 3600000) {
    cpi_grant_table_destroy(t_);
    t_ = nullptr;
    grant_limits lim = {ttl_ms, total, per_runtime};
    ASSERT_EQ(0, cpi_grant_table_create(&t_, &lim));
  }
  void SetUp() override { Make(64, 8); }
  void TearDown() override { cpi_grant_table_destroy(t_); }

  grant_info Issue(const char *runtime, const char *type = "logger",
                   int64_t now = kT0) {
    grant_info g;
    EXPECT_EQ(0, cpi_grant_issue(t_, now, runtime, type, "1.2.0", &g));
    return g;
  }

  // The refusal of a verify, or 0 when it passed.
  int Verify(const grant_info &g, const std::string &token, const char *runtime,
             const char *type, int64_t now = kT0) {
    grant_refusal why = GRANT_REFUSED_UNKNOWN;
    return cpi_grant_verify(t_, now, g.id, token.data(), token.size(), runtime,
                            type, nullptr, &why)
               ? 0
               : static_cast<int>(why);
  }

  grant_table *t_ = nullptr;
};

bool Base64UrlPadded(const std::string &s) {
  for (char c : s) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '=') {
      return false;
    }
  }
  return s.size() % 4 == 0;
}

TEST_F(GrantsTest, IssuedGrantsHaveUpstreamsFormatsAndAreUnique) {
  grant_info a = Issue("kv-0123456789abcdef");
  grant_info b = Issue("kv-0123456789abcdef");
  EXPECT_EQ(24u, strlen(a.id));
  EXPECT_EQ("==", std::string(a.id).substr(22));
  EXPECT_TRUE(Base64UrlPadded(a.id)) << a.id;
  EXPECT_EQ(44u, strlen(a.token));
  EXPECT_EQ('=', a.token[43]);
  EXPECT_TRUE(Base64UrlPadded(a.token)) << a.token;
  EXPECT_STRNE(a.id, b.id);
  EXPECT_STRNE(a.token, b.token);
  EXPECT_STREQ("kv-0123456789abcdef", a.runtime_id);
  EXPECT_STREQ("logger", a.type);
  EXPECT_STREQ("1.2.0", a.version);
  EXPECT_EQ(kT0 + 3600 * kSecond, a.expires_ns);
  EXPECT_EQ(2u, cpi_grant_table_stats(t_).live);
  EXPECT_EQ(2u, cpi_grant_table_stats(t_).issued);
}

TEST_F(GrantsTest, VerifyChecksTokenRuntimeTypeAndExpiry) {
  grant_info g = Issue("kv-1");
  std::string token = g.token;
  grant_info seen;
  ASSERT_TRUE(cpi_grant_verify(t_, kT0, g.id, token.data(), token.size(),
                               "kv-1", "logger", &seen, nullptr));
  EXPECT_STREQ(g.id, seen.id);
  EXPECT_STREQ("", seen.token);  // never handed out again
  EXPECT_STREQ("1.2.0", seen.version);

  std::string wrong = token;
  wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(GRANT_REFUSED_TOKEN, Verify(g, wrong, "kv-1", "logger"));
  EXPECT_EQ(GRANT_REFUSED_TOKEN,
            Verify(g, token.substr(0, 43), "kv-1", "logger"));
  EXPECT_EQ(GRANT_REFUSED_TOKEN, Verify(g, "", "kv-1", "logger"));
  EXPECT_EQ(GRANT_REFUSED_RUNTIME, Verify(g, token, "kv-2", "logger"));
  EXPECT_EQ(GRANT_REFUSED_TYPE, Verify(g, token, "kv-1", "secrets"));
  grant_info other = g;
  snprintf(other.id, sizeof other.id, "%s", "AAAAAAAAAAAAAAAAAAAAAA==");
  EXPECT_EQ(GRANT_REFUSED_UNKNOWN, Verify(other, token, "kv-1", "logger"));
  snprintf(other.id, sizeof other.id, "%s", "short");
  EXPECT_EQ(GRANT_REFUSED_UNKNOWN, Verify(other, token, "kv-1", "logger"));
  EXPECT_FALSE(cpi_grant_verify(t_, kT0, nullptr, token.data(), token.size(),
                                "kv-1", "logger", nullptr, nullptr));
  EXPECT_FALSE(cpi_grant_verify(t_, kT0, g.id, nullptr, 0, "kv-1", "logger",
                                nullptr, nullptr));
  // None of the refusals touched the grant.
  EXPECT_EQ(0, Verify(g, token, "kv-1", "logger"));

  // Expired: refused once as such and removed.
  int64_t end = g.expires_ns;
  EXPECT_EQ(0, Verify(g, token, "kv-1", "logger", end - 1));
  EXPECT_EQ(GRANT_REFUSED_EXPIRED, Verify(g, token, "kv-1", "logger", end));
  EXPECT_EQ(GRANT_REFUSED_UNKNOWN, Verify(g, token, "kv-1", "logger", end));
  grant_stats s = cpi_grant_table_stats(t_);
  EXPECT_EQ(0u, s.live);
  EXPECT_EQ(1u, s.expired);
}

TEST_F(GrantsTest, CapsPerRuntimeAndInTotalSweepExpiredGrantsFirst) {
  Make(3, 2, 1000);
  Issue("a-1");
  Issue("a-1");
  grant_info g;
  EXPECT_EQ(CP_ELIMIT, cpi_grant_issue(t_, kT0, "a-1", "logger", "1", &g));
  Issue("b-1");
  EXPECT_EQ(CP_EAGAIN, cpi_grant_issue(t_, kT0, "c-1", "logger", "1", &g));
  EXPECT_EQ(2u, cpi_grant_table_stats(t_).refused_limit);
  EXPECT_EQ(3u, cpi_grant_table_stats(t_).live);
  // Once they expired, the next issue sweeps them and fits.
  int64_t later = kT0 + kSecond;
  EXPECT_EQ(0, cpi_grant_issue(t_, later, "c-1", "logger", "1", &g));
  EXPECT_EQ(0, cpi_grant_issue(t_, later, "a-1", "logger", "1", &g));
  grant_stats s = cpi_grant_table_stats(t_);
  EXPECT_EQ(2u, s.live);
  EXPECT_EQ(3u, s.expired);
}

TEST_F(GrantsTest, RevokingARuntimeRemovesOnlyItsGrants) {
  grant_info a1 = Issue("a-1");
  grant_info a2 = Issue("a-1", "secrets");
  grant_info b = Issue("b-1");
  EXPECT_EQ(2u, cpi_grant_revoke_runtime(t_, "a-1"));
  EXPECT_EQ(0u, cpi_grant_revoke_runtime(t_, "a-1"));
  EXPECT_EQ(0u, cpi_grant_revoke_runtime(t_, "nobody"));
  EXPECT_EQ(GRANT_REFUSED_UNKNOWN, Verify(a1, a1.token, "a-1", "logger"));
  EXPECT_EQ(GRANT_REFUSED_UNKNOWN, Verify(a2, a2.token, "a-1", "secrets"));
  EXPECT_EQ(0, Verify(b, b.token, "b-1", "logger"));
  grant_stats s = cpi_grant_table_stats(t_);
  EXPECT_EQ(1u, s.live);
  EXPECT_EQ(2u, s.revoked);
  // The runtime may be granted again (a new identity would be a new ID).
  Issue("a-1");
}

TEST_F(GrantsTest, SweepRemovesExactlyTheExpired) {
  Issue("a-1", "logger", kT0);
  Issue("a-1", "logger", kT0 + 10 * kSecond);
  EXPECT_EQ(0u, cpi_grant_sweep(t_, kT0 + 3600 * kSecond - 1));
  EXPECT_EQ(1u, cpi_grant_sweep(t_, kT0 + 3600 * kSecond));
  EXPECT_EQ(1u, cpi_grant_table_stats(t_).live);
  EXPECT_EQ(1u, cpi_grant_sweep(t_, kT0 + 3610 * kSecond));
  EXPECT_EQ(0u, cpi_grant_table_stats(t_).live);
}

TEST_F(GrantsTest, BadArgumentsAreRefused) {
  grant_table *t = nullptr;
  grant_limits bad[] = {
      {0, 10, 1}, {1000, 0, 1}, {1000, 10, 0}, {1000, 10, 11}};
  for (const grant_limits &l : bad) {
    EXPECT_EQ(CP_EINVAL, cpi_grant_table_create(&t, &l));
    EXPECT_EQ(nullptr, t);
  }
  grant_info g;
  EXPECT_EQ(CP_EINVAL, cpi_grant_issue(t_, kT0, "", "logger", "1", &g));
  EXPECT_EQ(CP_EINVAL, cpi_grant_issue(t_, kT0, "a-1", "", "1", &g));
  EXPECT_EQ(CP_EINVAL, cpi_grant_issue(t_, kT0, "a-1", nullptr, "1", &g));
  EXPECT_EQ(CP_EINVAL, cpi_grant_issue(t_, kT0, "a-1",
                                       std::string(129, 't').c_str(), "1", &g));
  EXPECT_EQ(CP_EINVAL, cpi_grant_issue(t_, kT0, std::string(200, 'r').c_str(),
                                       "t", "1", &g));
  EXPECT_EQ(0u, cpi_grant_table_stats(t_).live);
}

// Issues, verifies, revokes and sweeps from several threads: every grant
// is accounted for once.
TEST_F(GrantsTest, ConcurrentUseKeepsTheCountsConsistent) {
  Make(4096, 64);
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; w++) {
    threads.emplace_back([&, w] {
      std::string runtime = "w-" + std::to_string(w);
      for (int i = 0; i < 500; i++) {
        grant_info g;
        int64_t now = kT0 + i * kSecond;
        if (cpi_grant_issue(t_, now, runtime.c_str(), "logger", "1", &g) == 0 &&
            cpi_grant_verify(t_, now, g.id, g.token, strlen(g.token),
                             runtime.c_str(), "logger", nullptr, nullptr)) {
          verified++;
        }
        if (i % 50 == 49) {
          cpi_grant_revoke_runtime(t_, runtime.c_str());
        }
        if (i % 70 == 0) {
          cpi_grant_sweep(t_, now);
        }
      }
    });
  }
  for (auto &t : threads) {
    t.join();
  }
  grant_stats s = cpi_grant_table_stats(t_);
  EXPECT_EQ(2000, verified.load());
  EXPECT_EQ(2000u, s.issued);
  EXPECT_EQ(s.issued, s.live + s.revoked + s.expired);
}

}  // namespace
