// SemVer 2.0 precedence (core/semver.h) and the registry's validation
// rules added to core/validate.h.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "core/validate.h"
#include "core/semver.h"
}

namespace {

int Cmp(const char *a, const char *b) {
  int c = cpi_semver_compare(a, b);
  return (c > 0) - (c < 0);
}

// Every pair of an ascending list compares in order, both ways.
void ExpectAscending(const std::vector<const char *> &list) {
  for (size_t i = 0; i < list.size(); i++) {
    EXPECT_TRUE(cpi_semver_valid(list[i])) << list[i];
    EXPECT_EQ(0, Cmp(list[i], list[i])) << list[i];
    for (size_t j = i + 1; j < list.size(); j++) {
      EXPECT_EQ(-1, Cmp(list[i], list[j])) << list[i] << " < " << list[j];
      EXPECT_EQ(1, Cmp(list[j], list[i])) << list[j] << " > " << list[i];
    }
  }
}

TEST(SemverTest, SpecExampleOrder) {
  // semver.org, item 11: the full examples.
  ExpectAscending({"1.0.0", "2.0.0", "2.1.0", "2.1.1"});
  ExpectAscending({"1.0.0-alpha", "1.0.0"});
  ExpectAscending({"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                   "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
                   "1.0.0"});
}

TEST(SemverTest, NumbersCompareByValueNotAsText) {
  ExpectAscending({"9.0.0", "10.0.0"});
  ExpectAscending({"1.9.0", "1.10.0"});
  ExpectAscending({"1.0.9", "1.0.10"});
  ExpectAscending({"1.0.0-2", "1.0.0-10"});
  ExpectAscending(
      {"1.0.0", "18446744073709551616.0.0", "99999999999999999999999999.0.0"});
  // Leading zeros (upstream's pattern allows them) compare by value.
  EXPECT_EQ(0, Cmp("01.002.0003", "1.2.3"));
  EXPECT_EQ(0, Cmp("1.0.0-rc.01", "1.0.0-rc.1"));
}

TEST(SemverTest, PrereleaseIdentifierRules) {
  // Numeric identifiers rank below alphanumeric ones.
  ExpectAscending({"1.0.0-1", "1.0.0-a"});
  ExpectAscending({"1.0.0-alpha.9", "1.0.0-alpha.a"});
  // ASCII order, case-sensitive: upper case before lower case.
  ExpectAscending({"1.0.0-Beta", "1.0.0-alpha"});
  // Hyphens are identifier characters.
  ExpectAscending({"1.0.0-x-y", "1.0.0-x-z"});
  // A longer set ranks higher when the shared prefix is equal.
  ExpectAscending({"1.0.0-a.b", "1.0.0-a.b.c", "1.0.0-a.b.c.0"});
}

TEST(SemverTest, BuildMetadataIsIgnored) {
  EXPECT_EQ(0, Cmp("1.0.0+build.1", "1.0.0+build.2"));
  EXPECT_EQ(0, Cmp("1.0.0-rc.1+x", "1.0.0-rc.1"));
  EXPECT_EQ(-1, Cmp("1.0.0-rc.1+zzz", "1.0.0+aaa"));
}

TEST(SemverTest, InvalidVersions) {
  for (const char *bad :
       {"", "1", "1.0", "1.0.0.0", "v1.0.0", "1.0.0-", "1.0.0-.", "1.0.0-a..b",
        "1.0.0+", "1.0.0-a_b", " 1.0.0", "1.0.0 ", "1..0", "-1.0.0", "a.b.c"}) {
    EXPECT_FALSE(cpi_semver_valid(bad)) << '"' << bad << '"';
  }
  EXPECT_FALSE(cpi_semver_valid(nullptr));
  // Invalid ones sort below every valid one; the order stays total.
  EXPECT_EQ(-1, Cmp("garbage", "0.0.0"));
  EXPECT_EQ(1, Cmp("0.0.0-0", "garbage"));
  EXPECT_EQ(0, Cmp("garbage", "nonsense"));
}

TEST(ValidateTest, ServiceTypes) {
  for (const char *ok :
       {"cache", "Cache-Service", "my_service", "service-v2", "api.v1", "a"}) {
    EXPECT_EQ(nullptr, cpi_check_service_type(ok)) << ok;
  }
  std::string max(128, 'a');
  EXPECT_EQ(nullptr, cpi_check_service_type(max.c_str()));
  std::string over(129, 'a');
  EXPECT_STREQ("too long", cpi_check_service_type(over.c_str()));
  EXPECT_STREQ("cannot be empty", cpi_check_service_type(""));
  EXPECT_STREQ("cannot be empty", cpi_check_service_type(nullptr));
  for (const char *bad : {"1service", "@", "ser vice", "service/admin",
                          "back\\slash", "../secrets"}) {
    EXPECT_STREQ("contains invalid characters", cpi_check_service_type(bad))
        << bad;
  }
  EXPECT_STREQ("contains path traversal characters",
               cpi_check_service_type("a..b"));
}

TEST(ValidateTest, EndpointPaths) {
  for (const char *ok :
       {"/", "/api", "/cache.v1.Cache/", "/logger.v1.Logger/Get"}) {
    EXPECT_EQ(nullptr, cpi_check_endpoint_path(ok)) << ok;
  }
  EXPECT_STREQ("cannot be empty", cpi_check_endpoint_path(""));
  EXPECT_STREQ("must start with /", cpi_check_endpoint_path("api"));
  std::string max = "/" + std::string(255, 'p');
  EXPECT_EQ(nullptr, cpi_check_endpoint_path(max.c_str()));
  std::string over = "/" + std::string(256, 'p');
  EXPECT_STREQ("too long", cpi_check_endpoint_path(over.c_str()));
}

TEST(ValidateTest, HealthReports) {
  char buf[128];
  EXPECT_EQ(nullptr,
            cpi_check_health_report(1, "", nullptr, 0, buf, sizeof buf));
  EXPECT_EQ(nullptr,
            cpi_check_health_report(3, nullptr, nullptr, 0, buf, sizeof buf));
  for (int bad : {0, 4, -1, 77}) {
    EXPECT_NE(nullptr,
              cpi_check_health_report(bad, "", nullptr, 0, buf, sizeof buf));
    EXPECT_STREQ("state: must be HEALTHY, DEGRADED or UNHEALTHY", buf);
  }
  std::string reason(1025, 'r');
  EXPECT_NE(nullptr, cpi_check_health_report(2, reason.c_str(), nullptr, 0, buf,
                                             sizeof buf));
  std::vector<const char *> deps(65, "dep");
  EXPECT_NE(nullptr,
            cpi_check_health_report(2, "", deps.data(), 65, buf, sizeof buf));
  EXPECT_EQ(nullptr,
            cpi_check_health_report(2, "", deps.data(), 64, buf, sizeof buf));
  std::string dep(129, 'd');
  const char *long_dep[] = {"ok", dep.c_str()};
  EXPECT_NE(nullptr,
            cpi_check_health_report(2, "", long_dep, 2, buf, sizeof buf));
  EXPECT_STREQ("unavailable_dependencies[1]: too long (max 128 bytes)", buf);
}

}  // namespace
