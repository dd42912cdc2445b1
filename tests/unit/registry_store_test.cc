// The registry's host-side API without a server: validation, idempotency,
// caps, health, resolve with every strategy (distributions), allow-lists
// are covered over RPC in registry_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
}

namespace {

struct Svc {
  std::string type = "logger";
  std::string version = "1.0.0";
  std::string path = "/logger.v1.Logger/";
  std::vector<std::pair<std::string, std::string>> md;
};

class RegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { cp_registry_options_init(&opts_); }
  void TearDown() override { cp_registry_destroy(reg_); }

  void Create() { ASSERT_EQ(0, cp_registry_create(&reg_, &opts_)); }

  int Add(const std::string &owner, const Svc &s, std::string *id = nullptr) {
    std::vector<cp_metadata> md;
    for (auto &kv : s.md) {
      md.push_back({kv.first.c_str(), kv.second.c_str()});
    }
    cp_registry_service svc = {s.type.c_str(), s.version.c_str(),
                               s.path.c_str(), md.data(), md.size()};
    char out[CP_REGISTRY_ID_LEN + 1] = {0};
    int rc = cp_registry_register_as_host(reg_, owner.c_str(), &svc, out);
    if (id != nullptr) {
      *id = out;
    }
    return rc;
  }

  std::string Resolve(const char *type, const char *provider = nullptr,
                      int *rc_out = nullptr) {
    auto ep = std::make_unique<cp_registry_endpoint>();
    int rc = cp_registry_resolve(reg_, type, provider, ep.get());
    if (rc_out != nullptr) {
      *rc_out = rc;
    }
    return rc == 0 ? std::string(ep->provider_id) : std::string();
  }

  cp_registry_options opts_;
  cp_registry *reg_ = nullptr;
};

TEST_F(RegistryStoreTest, RegisterResolveUnregister) {
  Create();
  Svc s;
  s.md = {{"base_url", "http://127.0.0.1:5001"}, {"zone", "a"}};
  std::string id;
  ASSERT_EQ(0, Add("logger-a-0123456789abcdef", s, &id));
  ASSERT_EQ(20u, id.size());
  EXPECT_EQ("reg-", id.substr(0, 4));
  EXPECT_EQ(std::string::npos, id.find_first_not_of("0123456789abcdef", 4));

  auto ep = std::make_unique<cp_registry_endpoint>();
  ASSERT_EQ(0, cp_registry_resolve(reg_, "logger", nullptr, ep.get()));
  EXPECT_STREQ("logger-a-0123456789abcdef", ep->provider_id);
  EXPECT_EQ(id, ep->registration_id);
  EXPECT_STREQ("1.0.0", ep->version);
  EXPECT_STREQ("/logger.v1.Logger/", ep->endpoint_path);
  EXPECT_TRUE(ep->has_base_url);
  EXPECT_STREQ("http://127.0.0.1:5001", ep->base_url);
  EXPECT_EQ(CP_PLUGIN_HEALTH_UNKNOWN, ep->health);

  ASSERT_EQ(0, cp_registry_resolve(reg_, "logger", "logger-a-0123456789abcdef",
                                   ep.get()));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_registry_resolve(reg_, "logger", "nobody", ep.get()));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_registry_resolve(reg_, "cache", nullptr, ep.get()));
  EXPECT_EQ(CP_EINVAL, cp_registry_resolve(reg_, nullptr, nullptr, ep.get()));

  EXPECT_EQ(0, cp_registry_unregister_as_host(reg_, id.c_str()));
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_unregister_as_host(reg_, id.c_str()));
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_unregister_as_host(reg_, "reg-zz"));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_registry_resolve(reg_, "logger", nullptr, ep.get()));
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(0u, st.registrations);
  EXPECT_EQ(0u, st.runtimes);
  EXPECT_EQ(0u, st.service_types);
}

TEST_F(RegistryStoreTest, NoBaseUrlAndDuplicateMapKeysKeepTheLastValue) {
  Create();
  Svc s;
  s.md = {{"base_url", "http://first"}, {"base_url", "http://second"}};
  ASSERT_EQ(0, Add("a", s));
  auto ep = std::make_unique<cp_registry_endpoint>();
  ASSERT_EQ(0, cp_registry_resolve(reg_, "logger", nullptr, ep.get()));
  EXPECT_STREQ("http://second", ep->base_url);
  Svc t;
  t.type = "cache";
  ASSERT_EQ(0, Add("a", t));
  ASSERT_EQ(0, cp_registry_resolve(reg_, "cache", nullptr, ep.get()));
  EXPECT_FALSE(ep->has_base_url);
  EXPECT_STREQ("", ep->base_url);
}

TEST_F(RegistryStoreTest, ValidationRejectsEachField) {
  Create();
  auto bad = [&](Svc s) { return Add("a", s); };
  Svc s;
  s.type = "";
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.type = "../secrets";
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.type = "a..b";
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.type = std::string(129, 'a');
  EXPECT_EQ(CP_EINVAL, bad(s));
  s = Svc();
  for (const char *v : {"", "1.0", "v1.0.0", "1.0.0-", "1.0.0-a..b"}) {
    s.version = v;
    EXPECT_EQ(CP_EINVAL, bad(s)) << v;
  }
  s.version = std::string(61, '1') + ".0.0";  // 65 bytes
  EXPECT_EQ(CP_EINVAL, bad(s));
  s = Svc();
  s.path = "";
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.path = "no-slash";
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.path = "/" + std::string(256, 'p');
  EXPECT_EQ(CP_EINVAL, bad(s));
  s = Svc();
  s.md = {{"", "v"}};
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.md = {{"key@invalid", "v"}};
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.md = {{std::string(257, 'k'), "v"}};
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.md = {{"k", std::string(4097, 'v')}};
  EXPECT_EQ(CP_EINVAL, bad(s));
  for (const char *w : {"0", "-1", "x", "1.5", "", "1000001", " 2"}) {
    s.md = {{"weight", w}};
    EXPECT_EQ(CP_EINVAL, bad(s)) << w;
  }
  s.md.clear();
  for (int i = 0; i < 101; i++) {
    s.md.push_back({"k" + std::to_string(i), "v"});
  }
  EXPECT_EQ(CP_EINVAL, bad(s));
  s.md.pop_back();
  EXPECT_EQ(0, bad(s));  // exactly 100 entries
  EXPECT_EQ(CP_EINVAL, Add("", Svc()));
  EXPECT_EQ(CP_EINVAL, Add(std::string(257, 'o'), Svc()));
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(1u, st.registrations);
}

TEST_F(RegistryStoreTest, SameRuntimeTypeAndPathIsIdempotent) {
  Create();
  std::string a, b, c;
  ASSERT_EQ(0, Add("rt", Svc(), &a));
  Svc again;
  again.version = "2.0.0";  // ignored: the first registration stands
  ASSERT_EQ(0, Add("rt", again, &b));
  EXPECT_EQ(a, b);
  Svc other_path;
  other_path.path = "/logger.v2.Logger/";
  ASSERT_EQ(0, Add("rt", other_path, &c));
  EXPECT_NE(a, c);
  auto ep = std::make_unique<cp_registry_endpoint>();
  ASSERT_EQ(0, cp_registry_resolve(reg_, "logger", nullptr, ep.get()));
  EXPECT_STREQ("1.0.0", ep->version);
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(2u, st.registrations);
}

TEST_F(RegistryStoreTest, CapsPerRuntimeBytesAndTotal) {
  opts_.max_registrations_per_runtime = 3;
  opts_.max_registrations = 5;
  opts_.max_bytes_per_runtime = 8192;
  Create();
  for (int i = 0; i < 3; i++) {
    Svc s;
    s.type = "t" + std::to_string(i);
    ASSERT_EQ(0, Add("a", s));
  }
  Svc fourth;
  fourth.type = "t3";
  EXPECT_EQ(CP_ELIMIT, Add("a", fourth));
  // An idempotent repeat is not a new registration.
  Svc first;
  first.type = "t0";
  EXPECT_EQ(0, Add("a", first));
  Svc big;
  big.md = {{"blob", std::string(4096, 'x')},
            {"blob2", std::string(4096, 'y')}};
  EXPECT_EQ(CP_ELIMIT, Add("b", big));  // over 8 KiB for one runtime
  EXPECT_EQ(0, Add("b", Svc()));
  EXPECT_EQ(0, Add("c", Svc()));
  EXPECT_EQ(CP_ELIMIT, Add("d", Svc()));  // 5 in total
  EXPECT_EQ(0, cp_registry_remove_runtime(reg_, "a"));
  EXPECT_EQ(0, Add("d", Svc()));
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_remove_runtime(reg_, "a"));
}

TEST_F(RegistryStoreTest, HealthDecidesRouting) {
  Create();
  ASSERT_EQ(0, Add("a", Svc()));
  ASSERT_EQ(0, Add("b", Svc()));
  int rc = 0;
  EXPECT_EQ("a", Resolve("logger"));
  ASSERT_EQ(0, cp_registry_report_health(reg_, "a", CP_PLUGIN_HEALTH_DEGRADED,
                                         "slow", nullptr, 0));
  EXPECT_EQ("a", Resolve("logger"));  // DEGRADED still routes
  ASSERT_EQ(0, cp_registry_report_health(reg_, "a", CP_PLUGIN_HEALTH_UNHEALTHY,
                                         "down", nullptr, 0));
  EXPECT_EQ("b", Resolve("logger"));
  EXPECT_EQ("", Resolve("logger", "a", &rc));
  EXPECT_EQ(CP_EDENIED, rc);
  ASSERT_EQ(0, cp_registry_report_health(reg_, "b", CP_PLUGIN_HEALTH_UNHEALTHY,
                                         "down", nullptr, 0));
  EXPECT_EQ("", Resolve("logger", nullptr, &rc));
  EXPECT_EQ(CP_EDENIED, rc);
  ASSERT_EQ(0, cp_registry_report_health(reg_, "a", CP_PLUGIN_HEALTH_HEALTHY,
                                         "", nullptr, 0));
  EXPECT_EQ("a", Resolve("logger"));

  const char *deps[] = {"db", "cache"};
  ASSERT_EQ(0, cp_registry_report_health(reg_, "b", CP_PLUGIN_HEALTH_DEGRADED,
                                         "deps missing", deps, 2));
  auto rep = std::make_unique<cp_plugin_health_report>();
  ASSERT_EQ(0, cp_registry_get_health(reg_, "b", rep.get()));
  EXPECT_EQ(CP_PLUGIN_HEALTH_DEGRADED, rep->state);
  EXPECT_STREQ("deps missing", rep->reason);
  ASSERT_EQ(2u, rep->dependency_count);
  EXPECT_STREQ("cache", rep->dependencies[1]);
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, "zz", rep.get()));

  EXPECT_EQ(CP_EINVAL,
            cp_registry_report_health(reg_, "a", CP_PLUGIN_HEALTH_UNKNOWN, "",
                                      nullptr, 0));
  EXPECT_EQ(CP_EINVAL, cp_registry_report_health(reg_, "a", (cp_plugin_health)9,
                                                 "", nullptr, 0));
  // Health of a runtime without registrations is kept; removal drops it.
  ASSERT_EQ(0, cp_registry_report_health(
                   reg_, "lonely", CP_PLUGIN_HEALTH_HEALTHY, "", nullptr, 0));
  EXPECT_EQ(0, cp_registry_get_health(reg_, "lonely", rep.get()));
  EXPECT_EQ(0, cp_registry_remove_runtime(reg_, "lonely"));
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, "lonely", rep.get()));
}

// The host drains a runtime it is about to stop: no longer routed, whatever
// the runtime itself reports, while its registrations stay.
TEST_F(RegistryStoreTest, DrainedRuntimeIsNotRoutedWhateverItReports) {
  Create();
  ASSERT_EQ(0, Add("a", Svc()));
  ASSERT_EQ(0, Add("b", Svc()));
  EXPECT_EQ("a", Resolve("logger"));
  ASSERT_EQ(0, cp_registry_drain_runtime(reg_, "a"));
  EXPECT_EQ("b", Resolve("logger"));
  ASSERT_EQ(0, cp_registry_report_health(reg_, "a", CP_PLUGIN_HEALTH_HEALTHY,
                                         "", nullptr, 0));
  EXPECT_EQ("b", Resolve("logger"));
  int rc = 0;
  EXPECT_EQ("", Resolve("logger", "a", &rc));
  EXPECT_EQ(CP_EDENIED, rc);
  ASSERT_EQ(0, cp_registry_drain_runtime(reg_, "b"));
  EXPECT_EQ("", Resolve("logger", nullptr, &rc));
  EXPECT_EQ(CP_EDENIED, rc);
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(2u, st.registrations);
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_drain_runtime(reg_, "zz"));
  EXPECT_EQ(CP_EINVAL, cp_registry_drain_runtime(reg_, nullptr));
}

TEST_F(RegistryStoreTest, FirstIsStableRoundRobinIsExact) {
  Create();
  for (const char *id : {"p0", "p1", "p2"}) {
    ASSERT_EQ(0, Add(id, Svc()));
  }
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ("p0", Resolve("logger"));
  }
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_ROUND_ROBIN));
  std::vector<std::string> seen;
  for (int i = 0; i < 9; i++) {
    seen.push_back(Resolve("logger"));
  }
  // Exactly in turn, registration order.
  EXPECT_EQ((std::vector<std::string>{"p0", "p1", "p2", "p0", "p1", "p2", "p0",
                                      "p1", "p2"}),
            seen);
  // An unhealthy provider drops out of the rotation.
  ASSERT_EQ(0, cp_registry_report_health(reg_, "p1", CP_PLUGIN_HEALTH_UNHEALTHY,
                                         "", nullptr, 0));
  std::map<std::string, int> n;
  for (int i = 0; i < 10; i++) {
    n[Resolve("logger")]++;
  }
  EXPECT_EQ(5, n["p0"]);
  EXPECT_EQ(5, n["p2"]);
  EXPECT_EQ(0, n.count("p1"));
  EXPECT_EQ(CP_EINVAL,
            cp_registry_set_strategy(reg_, "logger", (cp_select_strategy)7));
  EXPECT_EQ(CP_EINVAL,
            cp_registry_set_strategy(reg_, "../x", CP_SELECT_RANDOM));
}

TEST_F(RegistryStoreTest, RandomIsRoughlyUniformWithAFixedSeed) {
  opts_.random_seed = 42;
  Create();
  // The strategy is kept for a type that has no providers yet.
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_RANDOM));
  const int providers = 4;
  for (int i = 0; i < providers; i++) {
    ASSERT_EQ(0, Add("p" + std::to_string(i), Svc()));
  }
  const int draws = 40000;
  std::map<std::string, int> n;
  std::vector<std::string> first;
  for (int i = 0; i < draws; i++) {
    std::string p = Resolve("logger");
    n[p]++;
    if (i < 16) {
      first.push_back(p);
    }
  }
  ASSERT_EQ(static_cast<size_t>(providers), n.size());
  // Chi-square with 3 degrees of freedom: 16.27 is the 0.1% critical value.
  double expected = static_cast<double>(draws) / providers;
  double chi2 = 0;
  for (auto &kv : n) {
    chi2 += (kv.second - expected) * (kv.second - expected) / expected;
  }
  EXPECT_LT(chi2, 16.27);

  // The same seed gives the same sequence.
  cp_registry *again = nullptr;
  ASSERT_EQ(0, cp_registry_create(&again, &opts_));
  std::swap(again, reg_);
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_RANDOM));
  for (int i = 0; i < providers; i++) {
    ASSERT_EQ(0, Add("p" + std::to_string(i), Svc()));
  }
  for (int i = 0; i < 16; i++) {
    EXPECT_EQ(first[static_cast<size_t>(i)], Resolve("logger")) << i;
  }
  cp_registry_destroy(again);
}

uint64_t CountingRandom(void *ctx) {
  auto *state = static_cast<uint64_t *>(ctx);
  *state += 1;
  return *state * 0x9E3779B97F4A7C15ULL;
}

TEST_F(RegistryStoreTest, AnInjectedRandomSourceIsUsed) {
  uint64_t state = 0;
  opts_.random = CountingRandom;
  opts_.random_user = &state;
  Create();
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_RANDOM));
  ASSERT_EQ(0, Add("p0", Svc()));
  ASSERT_EQ(0, Add("p1", Svc()));
  for (int i = 0; i < 10; i++) {
    Resolve("logger");
  }
  EXPECT_EQ(10u, state);
}

TEST_F(RegistryStoreTest, WeightedIsProportional) {
  opts_.random_seed = 7;
  Create();
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_WEIGHTED));
  const int weights[] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) {
    Svc s;
    s.md = {{"weight", std::to_string(weights[i])}};
    ASSERT_EQ(0, Add("p" + std::to_string(i), s));
  }
  Svc unweighted;  // default weight 1
  unweighted.path = "/other/";
  ASSERT_EQ(0, Add("p4", unweighted));
  const int draws = 110000;
  std::map<std::string, int> n;
  for (int i = 0; i < draws; i++) {
    n[Resolve("logger")]++;
  }
  const double total = 1 + 2 + 3 + 4 + 1;
  const double share[] = {1 / total, 2 / total, 3 / total, 4 / total,
                          1 / total};
  for (int i = 0; i < 5; i++) {
    double got = n["p" + std::to_string(i)] / static_cast<double>(draws);
    EXPECT_NEAR(share[i], got, 0.01) << "p" << i;
  }
  // An unhealthy provider's weight leaves the total.
  ASSERT_EQ(0, cp_registry_report_health(reg_, "p3", CP_PLUGIN_HEALTH_UNHEALTHY,
                                         "", nullptr, 0));
  n.clear();
  for (int i = 0; i < draws; i++) {
    n[Resolve("logger")]++;
  }
  EXPECT_EQ(0, n.count("p3"));
  EXPECT_NEAR(3.0 / 7.0, n["p2"] / static_cast<double>(draws), 0.01);
}

// Cumulative weights are kept only while a type is weighted: switching to
// weighted after providers registered computes them, switching away drops
// them, and providers added while weighted (past the arrays' first
// capacity) are weighed too.
TEST_F(RegistryStoreTest, WeightedAfterTheFactAndBack) {
  opts_.random_seed = 11;
  Create();
  Svc light;
  light.md = {{"weight", "1"}};
  Svc heavy;
  heavy.md = {{"weight", "1000000"}};
  ASSERT_EQ(0, Add("p0", light));
  ASSERT_EQ(0, Add("p1", heavy));
  auto draws_of = [&](const std::string &who) {
    int n = 0;
    for (int i = 0; i < 1000; i++) {
      n += Resolve("logger") == who;
    }
    return n;
  };
  EXPECT_EQ(1000, draws_of("p0"));  // "first"
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_WEIGHTED));
  EXPECT_GE(draws_of("p1"), 995);
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_ROUND_ROBIN));
  EXPECT_EQ(500, draws_of("p1"));
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_WEIGHTED));
  for (int i = 2; i < 9; i++) {
    ASSERT_EQ(0, Add("p" + std::to_string(i), light));
  }
  ASSERT_EQ(0, Add("p9", heavy));
  int heavy_draws = 0;
  for (int i = 0; i < 1000; i++) {
    std::string who = Resolve("logger");
    heavy_draws += who == "p1" || who == "p9";
  }
  EXPECT_GE(heavy_draws, 995);
  // A type that has no providers yet may be made weighted too.
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "empty", CP_SELECT_WEIGHTED));
  Svc e;
  e.type = "empty";
  ASSERT_EQ(0, Add("q0", e));
  EXPECT_EQ("q0", Resolve("empty"));
}

TEST_F(RegistryStoreTest, ResolveByProviderTakesItsFirstRegistrationOfTheType) {
  Create();
  Svc a;
  a.path = "/a/";
  Svc b;
  b.path = "/b/";
  Svc other;
  other.type = "cache";
  other.path = "/c/";
  ASSERT_EQ(0, Add("multi", other));
  ASSERT_EQ(0, Add("multi", a));
  ASSERT_EQ(0, Add("multi", b));
  auto ep = std::make_unique<cp_registry_endpoint>();
  ASSERT_EQ(0, cp_registry_resolve(reg_, "logger", "multi", ep.get()));
  EXPECT_STREQ("/a/", ep->endpoint_path);
  ASSERT_EQ(0, cp_registry_resolve(reg_, "cache", "multi", ep.get()));
  EXPECT_STREQ("/c/", ep->endpoint_path);
}

TEST_F(RegistryStoreTest, RevokedAndExpiredTokensRemoveTheRuntime) {
  cp_manual_clock clock;
  cp_manual_clock_init(&clock, 1000000000);
  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  to.clock = &clock.clock;
  to.ttl_ms = 60000;
  cp_token_store *tokens = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&tokens, &to));
  opts_.tokens = tokens;
  Create();
  char a[CP_RUNTIME_ID_MAX + 1], b[CP_RUNTIME_ID_MAX + 1];
  char tok[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(tokens, "alpha", a, sizeof a, tok));
  ASSERT_EQ(0, Add(a, Svc()));
  ASSERT_EQ(0, cp_registry_report_health(reg_, a, CP_PLUGIN_HEALTH_HEALTHY, "",
                                         nullptr, 0));
  ASSERT_EQ(0, cp_token_store_revoke(tokens, a));
  int rc = 0;
  Resolve("logger", nullptr, &rc);
  EXPECT_EQ(CP_ENOTFOUND, rc);
  auto rep = std::make_unique<cp_plugin_health_report>();
  EXPECT_EQ(CP_ENOTFOUND, cp_registry_get_health(reg_, a, rep.get()));

  cp_manual_clock_advance(&clock, 30000000000LL);
  ASSERT_EQ(0, cp_token_store_issue(tokens, "beta", b, sizeof b, tok));
  ASSERT_EQ(0, Add(b, Svc()));
  EXPECT_EQ(b, Resolve("logger"));
  cp_manual_clock_advance(&clock, 61000000000LL);
  EXPECT_EQ(1u, cp_token_store_sweep(tokens));
  Resolve("logger", nullptr, &rc);
  EXPECT_EQ(CP_ENOTFOUND, rc);

  // A destroyed registry's subscription stays inert.
  cp_registry_destroy(reg_);
  reg_ = nullptr;
  char c[CP_RUNTIME_ID_MAX + 1];
  ASSERT_EQ(0, cp_token_store_issue(tokens, "gamma", c, sizeof c, tok));
  EXPECT_EQ(0, cp_token_store_revoke(tokens, c));
  cp_token_store_destroy(tokens);
}

// A revocation removes all of a runtime's registrations in one commit; the
// others keep their registration order (first and round-robin follow it).
TEST_F(RegistryStoreTest, RemovalsInOneCommitKeepTheOrder) {
  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  cp_token_store *tokens = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&tokens, &to));
  opts_.tokens = tokens;
  Create();
  char a[CP_RUNTIME_ID_MAX + 1];
  char tok[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(tokens, "alpha", a, sizeof a, tok));
  Svc second;
  second.path = "/logger.v2.Logger/";
  ASSERT_EQ(0, Add(a, Svc()));
  ASSERT_EQ(0, Add("p0", Svc()));
  ASSERT_EQ(0, Add(a, second));
  ASSERT_EQ(0, Add("p1", Svc()));
  ASSERT_EQ(0, Add("p2", Svc()));
  EXPECT_EQ(a, Resolve("logger"));
  ASSERT_EQ(0, cp_token_store_revoke(tokens, a));
  EXPECT_EQ("p0", Resolve("logger"));
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_ROUND_ROBIN));
  std::vector<std::string> seen;
  for (int i = 0; i < 6; i++) {
    seen.push_back(Resolve("logger"));
  }
  EXPECT_EQ((std::vector<std::string>{"p0", "p1", "p2", "p0", "p1", "p2"}),
            seen);
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(3u, st.registrations);
  cp_registry_destroy(reg_);
  reg_ = nullptr;
  cp_token_store_destroy(tokens);
}

TEST_F(RegistryStoreTest, ManyProvidersStayConsistent) {
  Create();
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_ROUND_ROBIN));
  std::vector<std::string> ids;
  for (int i = 0; i < 300; i++) {
    std::string id;
    ASSERT_EQ(0, Add("p" + std::to_string(i), Svc(), &id));
    ids.push_back(id);
  }
  for (int i = 0; i < 300; i += 2) {
    ASSERT_EQ(0, cp_registry_unregister_as_host(
                     reg_, ids[static_cast<size_t>(i)].c_str()));
  }
  for (int i = 1; i < 300; i += 4) {
    ASSERT_EQ(0, cp_registry_report_health(
                     reg_, ("p" + std::to_string(i)).c_str(),
                     CP_PLUGIN_HEALTH_UNHEALTHY, "", nullptr, 0));
  }
  std::map<std::string, int> n;
  for (int i = 0; i < 75 * 4; i++) {
    n[Resolve("logger")]++;
  }
  EXPECT_EQ(75u, n.size());
  for (auto &kv : n) {
    EXPECT_EQ(4, kv.second) << kv.first;
    int idx = std::stoi(kv.first.substr(1));
    EXPECT_EQ(3, idx % 4) << kv.first;
  }
}

// Readers resolve while a writer registers, unregisters and flips health:
// every answer is a provider that exists, and (under ASan) no read touches
// freed memory.
TEST_F(RegistryStoreTest, ResolveWhileWriting) {
  Create();
  ASSERT_EQ(0, cp_registry_set_strategy(reg_, "logger", CP_SELECT_WEIGHTED));
  ASSERT_EQ(0, Add("p-anchor", Svc()));
  std::atomic<bool> stop{false};
  std::atomic<long> answers{0};
  auto reader = [&] {
    auto ep = std::make_unique<cp_registry_endpoint>();
    while (!stop.load()) {
      int rc = cp_registry_resolve(reg_, "logger", nullptr, ep.get());
      if (rc == 0) {
        EXPECT_EQ('p', ep->provider_id[0]) << ep->provider_id;
        EXPECT_STREQ("/logger.v1.Logger/", ep->endpoint_path);
        answers++;
      }
      cp_registry_resolve(reg_, "logger", "p3", ep.get());
    }
  };
  // One round of writes; on failure, what failed.
  int round = 0;
  std::string failed;
  auto write_round = [&] {
    std::vector<std::string> ids;
    for (int i = 0; i < 8 && failed.empty(); i++) {
      Svc s;
      s.md = {{"weight", std::to_string(i + 1)}};
      std::string id;
      if (Add("p" + std::to_string(i), s, &id) != 0) {
        failed = "add p" + std::to_string(i);
      }
      ids.push_back(id);
    }
    if (failed.empty() &&
        cp_registry_report_health(reg_, "p3",
                                  round % 2 != 0 ? CP_PLUGIN_HEALTH_UNHEALTHY
                                                 : CP_PLUGIN_HEALTH_HEALTHY,
                                  "", nullptr, 0) != 0) {
      failed = "report health";
    }
    for (size_t i = 0; i < ids.size() && failed.empty(); i++) {
      if (cp_registry_unregister_as_host(reg_, ids[i].c_str()) != 0) {
        failed = "unregister " + ids[i];
      }
    }
    if (failed.empty() && cp_registry_remove_runtime(reg_, "p3") != 0) {
      failed = "remove p3";
    }
    round++;
    return failed.empty();
  };
  std::thread r1(reader);
  std::thread r2(reader);
  // At least 200 rounds, then on until the readers have answered 100 times:
  // a scheduler such as valgrind's, which runs one thread at a time, may keep
  // them waiting. Between the later rounds the wait's naps, outside the
  // registry's lock, let them in.
  while (round < 200 && write_round()) {
  }
  ::testing::AssertionResult answered = cp_test::WaitFor(
      "the readers to answer 100 times while the writer runs",
      [&] { return answers.load() >= 100 || !write_round(); },
      [&] {
        return std::to_string(answers.load()) + " answers after " +
               std::to_string(round) + " rounds";
      });
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ("", failed) << "in round " << round;
  EXPECT_TRUE(answered);
  EXPECT_GE(answers.load(), 100);
}

}  // namespace
